// Package conntest provides an in-memory reactor.Conn and a driver that feeds bytes to a
// handler the way a backend would, so protocols can be tested on bytes alone, with no socket.
//
// The test goroutine plays the connection's owner. What a backend would run on the owner
// between callbacks runs when the test says so, which keeps tests deterministic:
//
//   - Post queues its function; Driver.Feed, Driver.Advance and Driver.Run run the queue (or
//     Conn.RunPosted, for a Conn without a Driver), never inside a handler's callback.
//   - AfterFunc arms a timer on the Conn's fake Clock, which stands still until the test calls
//     Driver.Advance (or Clock.Advance); timers then fire in deadline order.
//   - PauseRead holds the input fed to the Driver until ResumeRead; the Driver presents it,
//     with the unconsumed tail, at its next Feed, Advance or Run.
//   - Buffered counts the output not yet taken by TakeOutput, which plays the kernel.
//   - CloseWrite marks the sending half shut (WriteClosed); Driver.EOF plays the peer's end of
//     stream, calling OnReadEOF for a HalfCloser, and OnClose with io.EOF otherwise.
//   - Dial connects nothing: it records the request (Dials), and the test plays the outcome,
//     e.g. conntest.Open(d.H, d.Addr) for a connection made, or d.H.OnClose for one refused.
package conntest

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// Conn is an in-memory reactor.Conn. It records what is written to it. All methods are safe
// from any goroutine, so it also stands in for connections written to by AsyncWrite; the
// owner-only methods of reactor.Conn are the test goroutine's.
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
	clock   *Clock
	posted  []func(reactor.Conn)
	paused  bool
	armed   int  // AfterFunc calls that armed a timer
	wshut   bool // CloseWrite was called
	readEOF bool // the Driver delivered the peer's end of stream to a HalfCloser
	dials   []Dialed
}

// Dialed is one call of Conn.Dial, as recorded.
type Dialed struct {
	Ctx  context.Context
	Addr string
	H    reactor.Handler
}

// NewConn returns a Conn with the given remote address ("127.0.0.1:40000" when empty) and a
// Clock of its own.
func NewConn(remote string) *Conn {
	if remote == "" {
		remote = "127.0.0.1:40000"
	}
	r, _ := net.ResolveTCPAddr("tcp", remote)
	l, _ := net.ResolveTCPAddr("tcp", "127.0.0.1:8080")
	return &Conn{Local: l, Remote: r, clock: new(Clock)}
}

// Clock returns the clock the Conn's timers run on.
func (c *Conn) Clock() *Clock {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clock == nil { // a Conn made as a literal
		c.clock = new(Clock)
	}
	return c.clock
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
	if c.closed || c.wshut {
		c.mu.Unlock()
		return reactor.ErrConnClosed
	}
	if c.MaxOutbound > 0 && c.out.Len()+len(p) > c.MaxOutbound {
		c.aborted, c.cause = true, reactor.ErrOutboundFull
		c.shut()
		return reactor.ErrOutboundFull
	}
	c.out.Write(p)
	c.mu.Unlock()
	return nil
}

// Close implements reactor.Conn. Functions still posted are dropped and timers stopped.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.shut()
	return nil
}

// Abort implements reactor.Conn.
func (c *Conn) Abort(cause error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.aborted, c.cause = true, cause
	c.shut()
}

// shut marks the connection closed, drops what was posted and stops its timers. It is called
// with c.mu held and releases it, since the clock's lock is not taken under c.mu.
func (c *Conn) shut() {
	c.closed = true
	c.posted = nil
	k := c.clock
	c.mu.Unlock()
	if k != nil {
		k.drop(c)
	}
}

// CloseWrite implements reactor.Conn: later writes fail, and once the Driver has delivered the
// peer's end of stream too, the connection is closed.
func (c *Conn) CloseWrite() error {
	c.mu.Lock()
	if c.closed || c.wshut {
		c.mu.Unlock()
		return nil
	}
	c.wshut = true
	if c.readEOF {
		c.shut()
		return nil
	}
	c.mu.Unlock()
	return nil
}

// WriteClosed reports whether CloseWrite was called.
func (c *Conn) WriteClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wshut
}

// Dial implements reactor.Conn by recording the request; see Dials.
func (c *Conn) Dial(ctx context.Context, addr string, h reactor.Handler) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return reactor.ErrConnClosed
	}
	c.dials = append(c.dials, Dialed{Ctx: ctx, Addr: addr, H: h})
	return nil
}

// Dials returns the Dial calls made so far, oldest first.
func (c *Conn) Dials() []Dialed {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Dialed(nil), c.dials...)
}

// LocalAddr implements reactor.Conn.
func (c *Conn) LocalAddr() net.Addr { return c.Local }

// RemoteAddr implements reactor.Conn.
func (c *Conn) RemoteAddr() net.Addr { return c.Remote }

// Context implements reactor.Conn.
func (c *Conn) Context() any { return c.ctx }

// SetContext implements reactor.Conn.
func (c *Conn) SetContext(v any) { c.ctx = v }

// Post implements reactor.Conn: it queues f for RunPosted (which the Driver calls), so f never
// runs inside the callback that posted it.
func (c *Conn) Post(f func(reactor.Conn)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return reactor.ErrConnClosed
	}
	c.posted = append(c.posted, f)
	return nil
}

// RunPosted runs the functions queued by Post, in order, on the calling goroutine as the
// connection's owner, including those they post in turn, and returns how many ran. It stops
// when the connection closes: what is still queued then is dropped.
func (c *Conn) RunPosted() int {
	n := 0
	for {
		c.mu.Lock()
		if c.closed || len(c.posted) == 0 {
			c.mu.Unlock()
			return n
		}
		f := c.posted[0]
		c.posted = c.posted[1:]
		c.mu.Unlock()
		f(c)
		n++
	}
}

// AfterFunc implements reactor.Conn on the Conn's Clock: f runs when the clock is advanced
// past d from now, unless stop is called first or the connection closes.
func (c *Conn) AfterFunc(d time.Duration, f func(reactor.Conn)) (stop func() bool) {
	k := c.Clock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return func() bool { return false }
	}
	c.armed++
	c.mu.Unlock()
	return k.arm(c, d, f)
}

// Timers reports how many of the connection's timers are still to fire, and how many
// AfterFunc has armed in all: a test of a protocol that must not arm a timer per request
// counts them.
func (c *Conn) Timers() (pending, armed int) {
	k := c.Clock()
	c.mu.Lock()
	armed = c.armed
	c.mu.Unlock()
	return k.pending(c), armed
}

// PauseRead implements reactor.Conn: a Driver holds the input it is fed until ResumeRead.
func (c *Conn) PauseRead() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.paused = true
}

// ResumeRead implements reactor.Conn.
func (c *Conn) ResumeRead() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.paused = false
}

// Paused reports whether reading is paused.
func (c *Conn) Paused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused
}

// Buffered implements reactor.Conn: the bytes written and not yet taken by TakeOutput.
func (c *Conn) Buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Len()
}

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
// again with the next bytes, as the contract says, and runs what the connection's owner has
// pending between callbacks.
type Driver struct {
	H    reactor.Handler
	C    *Conn
	Tail []byte // unconsumed input

	held bool // Tail has bytes the handler has not been shown (fed while reading was paused)
}

// Open creates a Driver for h on a new Conn and calls OnOpen.
func Open(h reactor.Handler, remote string) *Driver {
	d := &Driver{H: h, C: NewConn(remote)}
	h.OnOpen(d.C)
	return d
}

// Feed delivers p (appended to the unconsumed tail) and returns the handler's action: Close if
// the connection is closed, None if reading is paused and p was held. It runs posted functions
// before and after the handler sees the input. It panics if the handler claims to consume more
// than it was given, since that breaks the contract.
func (d *Driver) Feed(p []byte) reactor.Action {
	if d.C.Closed() {
		return reactor.Close
	}
	d.Tail = append(d.Tail, p...)
	d.held = true
	return d.Run()
}

// Run does what the connection's owner has pending: it runs the posted functions and, once
// reading is not paused, presents held input, until neither is left. It returns the last action
// of the handler's OnData (None if it was not called), or Close once the connection is closed.
func (d *Driver) Run() reactor.Action {
	a := reactor.None
	for {
		d.C.RunPosted()
		if d.C.Closed() {
			return reactor.Close
		}
		if !d.held || d.C.Paused() {
			return a
		}
		d.held = false
		var n int
		n, a = d.H.OnData(d.C, d.Tail)
		if n < 0 || n > len(d.Tail) {
			panic("conntest: handler consumed outside its input")
		}
		d.Tail = append(d.Tail[:0], d.Tail[n:]...)
		if a == reactor.Close {
			d.C.Close()
			return a
		}
	}
}

// Advance moves the Conn's clock forward by dur, firing the timers due (see Clock.Advance), then
// does what Run does.
func (d *Driver) Advance(dur time.Duration) reactor.Action {
	d.C.Clock().Advance(dur)
	return d.Run()
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

// EOF plays the peer's end of stream after the input fed so far: a HalfCloser gets OnReadEOF
// (and the connection closes at once, OnClose following with a nil cause, if CloseWrite was
// called before or by it, or if it returns Close); any other handler gets OnClose with io.EOF.
// It returns Close once the connection is closed.
func (d *Driver) EOF() reactor.Action {
	if d.C.Closed() {
		return reactor.Close
	}
	hc, ok := d.H.(reactor.HalfCloser)
	if !ok {
		d.Close(io.EOF)
		return reactor.Close
	}
	d.C.mu.Lock()
	d.C.readEOF = true
	d.C.mu.Unlock()
	a := hc.OnReadEOF(d.C)
	if a == reactor.Close || d.C.WriteClosed() {
		d.C.Close()
	}
	if d.C.Closed() {
		d.H.OnClose(d.C, nil)
		return reactor.Close
	}
	return d.Run()
}

// Close ends the connection and calls OnClose with err.
func (d *Driver) Close(err error) {
	d.C.Close()
	d.H.OnClose(d.C, err)
}
