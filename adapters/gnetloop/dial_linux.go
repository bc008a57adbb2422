//go:build linux

package gnetloop

import (
	"context"
	"errors"
	"net"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

// gnet's own client dial, EventLoop.Register(ctx, addr), calls net.Dial on its goroutine pool
// with neither a timeout nor ctx, so a dial to a silent host would hold a pool goroutine, and
// Shutdown, for as long as the kernel tries. The adapter dials on a goroutine of its own with
// backendkit.DialTCP, bounded by Config.DialTimeout and ctx, and hands the connection to the
// asker's loop with EventLoop.Enroll, as accept hands accepted ones.

// dial is one Conn.Dial in flight, from the call until its outcome has been delivered on the
// asker's loop: OnOpen on the new connection, or OnClose with the failure.
type dial struct {
	c      *conn // the new connection, as the handler will see it
	addr   string
	cancel context.CancelCauseFunc
	// settled is claimed once, by the loop as it opens the connection or by the dialer as it
	// reports the failure; delivered likewise by whoever delivers that failure.
	settled, delivered atomic.Bool
}

// Abort cancels the dial with cause; Shutdown's (lifecycle.Conns).
func (d *dial) Abort(cause error) { d.cancel(cause) }

// dialAddr is the remote address of a connection that was never made: the address as given
// to Dial, unresolved.
type dialAddr string

func (a dialAddr) Network() string { return "tcp" }
func (a dialAddr) String() string  { return string(a) }

// Dial implements reactor.Conn. Only from the connection's own callbacks (its loop).
func (c *conn) Dial(ctx context.Context, addr string, h reactor.Handler) error {
	if err := backendkit.CheckDialAddr(addr); err != nil {
		return err
	}
	if c.state.Load() != stateOpen || c.closeReq.Load() {
		return reactor.ErrConnClosed
	}
	if ctx == nil {
		ctx = context.Background()
	}
	out := newConn(c.b, c.loop, newHandlers(h))
	out.local, out.remote = &net.TCPAddr{}, dialAddr(addr) // until the connection is made
	dctx, cancel := context.WithCancelCause(ctx)
	d := &dial{c: out, addr: addr, cancel: cancel}
	if !c.b.dials.Add(d) {
		// Shutdown has closed c already, and is past turning dials away.
		cancel(nil)
		return reactor.ErrConnClosed
	}
	go d.run(dctx)
	return nil
}

// run connects and enrolls the connection with the asker's loop, whose OnOpen then serves
// it. It returns once the outcome is delivered, or queued on the loop; the connecting itself
// ends at Config.DialTimeout, or when ctx ends, which Shutdown makes happen.
func (d *dial) run(ctx context.Context) {
	defer d.cancel(nil)
	b := d.c.b
	nc, err := backendkit.DialTCP(ctx, b.cfg.DialTimeout, d.addr)
	if err != nil {
		d.fail(err) // Shutdown's cancel makes its cause ErrServerClosed
		return
	}
	// gnet takes a duplicate of the socket; nc is closed whatever the outcome.
	defer nc.Close()
	res, err := d.c.loop.Enroll(gnet.NewContext(context.Background(), d), nc)
	if err != nil {
		d.fail(backendkit.DialError(d.addr, d.cause(err)))
		return
	}
	select {
	case r := <-res:
		// OnOpen has settled the dial unless gnet could not register the socket with the
		// loop (it reports that as a success, or as a closed channel).
		if r.Err == nil {
			r.Err = errors.New("gnet: the loop did not open the connection")
		}
		d.fail(backendkit.DialError(d.addr, d.cause(r.Err)))
	case <-b.runDone:
		d.fail(backendkit.DialError(d.addr, reactor.ErrServerClosed))
	}
}

// cause is what a failure of gnet's to take the connection is reported as: ErrServerClosed
// once the server is stopping, as gnet then refuses new work.
func (d *dial) cause(err error) error {
	if d.c.b.stopping.Load() {
		return reactor.ErrServerClosed
	}
	return err
}

// fail reports err to the handler on the asker's loop, unless the dial is settled already.
func (d *dial) fail(err error) {
	if !d.settled.CompareAndSwap(false, true) {
		return
	}
	task := gnet.RunnableFunc(func(context.Context) error {
		d.failed(err)
		return nil
	})
	if d.c.loop.Execute(context.Background(), task) != nil {
		// The engine has stopped: no loop runs any more, so the handler is told here.
		d.failed(err)
	}
}

// failed tells the handler that the connection was never made, once: on the asker's loop, or
// where no loop runs any more.
func (d *dial) failed(err error) {
	if !d.delivered.CompareAndSwap(false, true) {
		return
	}
	d.c.state.Store(stateClosed)
	d.c.st.DialFailed()
	d.c.callClose(err)
	d.c.b.dials.Remove(d)
}
