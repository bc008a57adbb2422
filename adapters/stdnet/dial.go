package stdnet

import (
	"context"
	"net"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

// Dial implements reactor.Conn. Only from c's own callbacks. It never blocks: a dialer goroutine
// of the backend's connects and then becomes the new connection's reader, its owner, as the
// reader of an accepted connection is.
func (c *conn) Dial(ctx context.Context, addr string, h reactor.Handler) error {
	if err := backendkit.CheckDialAddr(addr); err != nil {
		return err
	}
	c.mu.Lock()
	closing := c.closing || c.closed
	c.mu.Unlock()
	if closing {
		return reactor.ErrConnClosed
	}
	d := newConn(c.b, h)
	// What the handler sees of a connection that was never made (OnClose of a failed dial).
	d.local, d.remote = &net.TCPAddr{}, dialAddr(addr)
	dctx, cancel := context.WithCancelCause(ctx)
	d.dialing = cancel
	if !c.b.conns.Add(d) {
		// Shutdown has begun: the dialer reports it, on its own goroutine as always. (d is
		// not shared, so its lock is not needed.)
		d.cancelDialLocked(reactor.ErrServerClosed)
	}
	// c's reader is counted in wg while it runs this, so Shutdown's Wait cannot have returned.
	c.b.wg.Add(1)
	go d.connect(dctx, addr)
	return nil
}

// connect is the dialer goroutine of a connection made by Dial. It exits at once when the
// connection cannot be made, after the handler's OnClose; otherwise it serves the connection and
// exits with it.
func (c *conn) connect(ctx context.Context, addr string) {
	c.mu.Lock()
	cancelled := c.closing
	c.mu.Unlock()
	var nc *net.TCPConn
	var err error
	if !cancelled {
		nc, err = backendkit.DialTCP(ctx, c.b.cfg.DialTimeout, addr)
	}
	c.mu.Lock()
	cancel := c.dialing
	c.dialing = nil
	if c.closing {
		// Shutdown, or a listener that failed, came first: that is the cause, whatever the
		// dial made of being cancelled.
		if nc != nil {
			nc.Close()
		}
		err = backendkit.DialError(addr, c.cause)
	} else if err == nil {
		c.attach(nc)
	}
	if err != nil {
		// Never made: every method of c now acts as on a connection closed.
		c.closing, c.closed = true, true
	}
	c.mu.Unlock()
	cancel(nil)
	if err != nil {
		c.st.DialFailed()
		if backendkit.CallClose(c.b.cfg.Logger, c.h, c, err) {
			c.st.HandlerPanic()
		}
		c.b.conns.Remove(c)
		c.b.wg.Done()
		return
	}
	c.st.Dialed()
	c.opened = time.Now()
	c.serve()
}

// cancelDialLocked ends the connecting of c, whose dialer then reports cause.
func (c *conn) cancelDialLocked(cause error) {
	if cause == nil {
		cause = reactor.ErrConnClosed
	}
	if !c.closing {
		c.closing, c.caused, c.cause = true, true, cause
	}
	c.dialing(cause)
}

// dialAddr is the address Dial was given, as the remote address of a connection not made.
type dialAddr string

func (a dialAddr) Network() string { return "tcp" }
func (a dialAddr) String() string  { return string(a) }
