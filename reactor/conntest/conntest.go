// Package conntest provides an in-memory reactor.Conn and a driver that feeds bytes to a
// handler the way a backend would, so protocols can be tested on bytes alone, with no socket.
package conntest

import (
	"bytes"
	"net"
	"sync"

	"github.com/reactorlab/reactor/reactor"
)

// Conn is an in-memory reactor.Conn. It records what is written to it. All methods are safe
// from any goroutine, so it also stands in for connections written to by AsyncWrite.
type Conn struct {
	Local, Remote net.Addr
	// MaxOutbound, when positive, makes writes that take Output past it fail with
	// reactor.ErrOutboundFull and abort the connection, as a backend would.
	MaxOutbound int

	mu      sync.Mutex
	out     bytes.Buffer
	closed  bool
	aborted bool
	cause   error
	ctx     any
}

// NewConn returns a Conn with the given remote address ("127.0.0.1:40000" when empty).
func NewConn(remote string) *Conn {
	if remote == "" {
		remote = "127.0.0.1:40000"
	}
	r, _ := net.ResolveTCPAddr("tcp", remote)
	l, _ := net.ResolveTCPAddr("tcp", "127.0.0.1:8080")
	return &Conn{Local: l, Remote: r}
}

// Write implements reactor.Conn.
func (c *Conn) Write(p []byte) (int, error) {
	if err := c.AsyncWrite(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// AsyncWrite implements reactor.Conn.
func (c *Conn) AsyncWrite(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return reactor.ErrConnClosed
	}
	if c.MaxOutbound > 0 && c.out.Len()+len(p) > c.MaxOutbound {
		c.closed, c.aborted, c.cause = true, true, reactor.ErrOutboundFull
		return reactor.ErrOutboundFull
	}
	c.out.Write(p)
	return nil
}

// Close implements reactor.Conn.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

// Abort implements reactor.Conn.
func (c *Conn) Abort(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed, c.aborted, c.cause = true, true, cause
	}
}

// LocalAddr implements reactor.Conn.
func (c *Conn) LocalAddr() net.Addr { return c.Local }

// RemoteAddr implements reactor.Conn.
func (c *Conn) RemoteAddr() net.Addr { return c.Remote }

// Context implements reactor.Conn.
func (c *Conn) Context() any { return c.ctx }

// SetContext implements reactor.Conn.
func (c *Conn) SetContext(v any) { c.ctx = v }

// Output returns a copy of everything written so far.
func (c *Conn) Output() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.out.Bytes())
}

// TakeOutput returns everything written so far and forgets it.
func (c *Conn) TakeOutput() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := bytes.Clone(c.out.Bytes())
	c.out.Reset()
	return b
}

// Closed reports whether Close or Abort was called, or a Close action returned.
func (c *Conn) Closed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Aborted reports whether the connection was aborted, and with what cause.
func (c *Conn) Aborted() (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.aborted, c.cause
}

// Driver plays a backend for one connection: it keeps the unconsumed input and presents it
// again with the next bytes, as the contract says.
type Driver struct {
	H    reactor.Handler
	C    *Conn
	Tail []byte // unconsumed input
}

// Open creates a Driver for h on a new Conn and calls OnOpen.
func Open(h reactor.Handler, remote string) *Driver {
	d := &Driver{H: h, C: NewConn(remote)}
	h.OnOpen(d.C)
	return d
}

// Feed delivers p (appended to the unconsumed tail) and returns the handler's action. It panics
// if the handler claims to consume more than it was given, since that breaks the contract.
func (d *Driver) Feed(p []byte) reactor.Action {
	if d.C.Closed() {
		return reactor.Close
	}
	d.Tail = append(d.Tail, p...)
	n, a := d.H.OnData(d.C, d.Tail)
	if n < 0 || n > len(d.Tail) {
		panic("conntest: handler consumed outside its input")
	}
	d.Tail = append(d.Tail[:0], d.Tail[n:]...)
	if a == reactor.Close {
		d.C.Close()
	}
	return a
}

// FeedBytewise delivers p one byte at a time and returns the last action.
func (d *Driver) FeedBytewise(p []byte) reactor.Action {
	a := reactor.None
	for i := range p {
		if a = d.Feed(p[i : i+1]); a == reactor.Close {
			break
		}
	}
	return a
}

// Close ends the connection and calls OnClose with err.
func (d *Driver) Close(err error) {
	d.C.Close()
	d.H.OnClose(d.C, err)
}
