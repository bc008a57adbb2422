//go:build linux

package gnetloop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/reactorlab/reactor/internal/backoff"
	"github.com/reactorlab/reactor/internal/lifecycle"
	"github.com/reactorlab/reactor/internal/ratelog"
	"github.com/reactorlab/reactor/internal/reuseport"
	"github.com/reactorlab/reactor/internal/sockstate"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

const available = true

// tickerDelay is how long gnet's ticker sleeps between ticks. Only its first tick matters (it
// says the loops run); the rest are wasted wake-ups, so they are rare.
const tickerDelay = time.Hour

// New returns a gnet backend for cfg. Every reactor.Config option maps onto a gnet option, so
// New fails only for an address it cannot parse.
func New(cfg reactor.Config) (reactor.Backend, error) {
	cfg = cfg.WithDefaults()
	_, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("gnet: address %q: %w", cfg.Addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return nil, fmt.Errorf("gnet: address %q: port: %w", cfg.Addr, err)
	}
	return &backend{
		cfg:        cfg,
		ready:      make(chan struct{}),
		runDone:    make(chan struct{}),
		stopAccept: make(chan struct{}),
		epoch:      time.Now(),
	}, nil
}

// backend is one gnet engine serving one handler.
type backend struct {
	cfg   reactor.Config
	hs    *handlers // serve accepted connections; dialed ones bring their own
	life  lifecycle.State
	conns lifecycle.Conns[*conn] // opened, until OnClose
	dials lifecycle.Conns[*dial] // Conn.Dials in flight, until OnOpen or OnClose is delivered

	stopping atomic.Bool   // Shutdown began: new connections are turned away
	ready    chan struct{} // closed by the first tick: the loops run
	readyOne sync.Once
	runDone  chan struct{} // closed when gnet.Run returned; runErr is then set
	runErr   error

	// The listener is the adapter's, not gnet's: gnet's acceptor ends the whole engine on any
	// accept error, EMFILE included. accept takes connections from it and enrolls them.
	ln         *net.TCPListener
	sockDir    string        // holds gnet's own listener, a Unix socket unlinked at boot
	stopAccept chan struct{} // closed by Shutdown: cuts accept's back-off short
	acceptWG   sync.WaitGroup
	acceptLog  ratelog.Limiter // accept and enrollment failures, once a second at most

	// Config.Stats (stats_linux.go): a shard per loop, by gnet.EventLoop, in the order the
	// loops made their first connection; lifetimes are measured from epoch.
	shards  sync.Map
	nshards atomic.Int32
	epoch   time.Time

	mu  sync.Mutex
	eng gnet.Engine
}

func (b *backend) Info() reactor.Info { return Info() }

func (b *backend) Start(h reactor.Handler) (net.Addr, error) {
	if err := b.life.Start(); err != nil {
		return nil, err
	}
	defer b.life.Started()
	b.hs = newHandlers(h)

	fail := func(err error) (net.Addr, error) {
		err = fmt.Errorf("gnet: %w", err)
		b.life.Finish(err)
		return nil, err
	}
	ln, err := reuseport.ListenTCP(b.cfg.Addr, b.cfg.ReusePort)
	if err != nil {
		return fail(err)
	}
	b.ln = ln
	// gnet's Engine refuses Register and Stop unless it has a listener of its own, so it gets
	// one no client can reach: a Unix socket whose name OnBoot removes.
	if b.sockDir, err = os.MkdirTemp("", "reactor-gnet-"); err != nil {
		b.ln.Close()
		return fail(err)
	}
	opts := []gnet.Option{
		gnet.WithNumEventLoop(b.cfg.Loops),
		gnet.WithLoadBalancing(gnet.RoundRobin),
		gnet.WithEdgeTriggeredIO(b.cfg.EdgeTriggered),
		gnet.WithReadBufferCap(b.cfg.ReadBufferSize),
		gnet.WithTicker(true),
		gnet.WithLogger(newLogAdapter(b.cfg.Logger)),
	}
	// Exits when the engine has stopped: after Shutdown, or on its own when it fails.
	go func() {
		err := gnet.Run(&events{b: b}, "unix://"+filepath.Join(b.sockDir, "idle.sock"), opts...)
		b.strand()
		os.RemoveAll(b.sockDir)
		b.ln.Close() // ends the accept goroutine: there is no loop left to take connections
		b.runErr = err
		close(b.runDone)
		if b.life.Failed() {
			// Stopped on its own (a loop failed): Wait reports why.
			if err == nil {
				err = errors.New("engine stopped")
			}
			b.acceptWG.Wait()
			b.life.Finish(fmt.Errorf("gnet: %w", err))
		}
	}()
	select {
	case <-b.ready:
		b.acceptWG.Add(1)
		go b.accept()
		return b.ln.Addr(), nil
	case <-b.runDone:
		err := b.runErr
		if err == nil {
			err = errors.New("engine stopped before it served")
		}
		return fail(err)
	}
}

// maxEnrolling bounds the enrollments accept leaves in flight: each holds the accepted socket,
// gnet's duplicate of it and a pooled goroutine until its loop has opened it.
const maxEnrolling = 64

// enrolling is a connection handed to gnet whose loop has not answered yet.
type enrolling struct {
	nc  *net.TCPConn
	res <-chan gnet.RegisteredResult
}

// accept takes each connection from the listener and enrolls it with one of gnet's loops,
// round-robin. It does not wait for each loop's answer before accepting the next connection —
// that serialised accepting behind every hand-off to a loop and back (docs/benchmarks.md, the
// close scenario) — but it collects every answer before it returns, so that no enrollment is
// in flight once accept has returned (Shutdown counts on it). It exits when the listener is
// closed (by Shutdown, or as the engine stops).
func (b *backend) accept() {
	defer b.acceptWG.Done()
	b.mu.Lock()
	eng := b.eng
	b.mu.Unlock()
	var inflight []enrolling
	defer func() {
		for _, e := range inflight {
			b.settle(e, <-e.res)
		}
	}()
	pace := backoff.Accept{Logger: b.cfg.Logger, Msg: "gnet: accept failed; retrying", Limit: &b.acceptLog}
	for {
		nc, err := b.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			b.cfg.Stats.Shard(0).AcceptError()
			// Out of descriptors (EMFILE, ENFILE) and the like: the connection stays queued in
			// the kernel until a retry, paced rather than spinning on a listener that stays ready.
			pace.Failed(err, b.stopAccept)
			continue
		}
		pace.Succeeded()
		res, err := eng.Register(gnet.NewNetConnContext(context.Background(), nc))
		if err != nil {
			b.settle(enrolling{nc: nc}, gnet.RegisteredResult{Err: err})
			continue
		}
		if len(inflight) == maxEnrolling {
			b.settle(inflight[0], <-inflight[0].res)
			inflight = append(inflight[:0], inflight[1:]...)
		}
		inflight = append(b.reap(inflight), enrolling{nc: nc, res: res})
	}
}

// reap settles the enrollments in inflight whose loops have answered and returns the rest, in
// the same order.
func (b *backend) reap(inflight []enrolling) []enrolling {
	n := 0
	for _, e := range inflight {
		select {
		case r := <-e.res:
			b.settle(e, r)
		default:
			inflight[n] = e
			n++
		}
	}
	return inflight[:n]
}

// settle ends an enrollment with its loop's answer: gnet keeps a duplicate of the socket, so
// e.nc is closed either way (gnet closes it too; a second Close is harmless), and a failure is
// logged unless Shutdown caused it. A result channel closed without a result (gnet's pool
// recovered from a panic) reads as the zero result and counts as no failure.
func (b *backend) settle(e enrolling, r gnet.RegisteredResult) {
	e.nc.Close()
	if r.Err != nil && !b.stopping.Load() {
		b.cfg.Stats.Shard(0).AcceptError()
		if n, ok := b.acceptLog.Allow(); ok {
			b.cfg.Logger.Warn("gnet: connection refused: cannot hand it to a loop", "err", r.Err, "suppressed", n)
		}
	}
}

func (b *backend) Shutdown(ctx context.Context) error {
	first, err := b.life.Shutdown(ctx, b.conns.Abort)
	if !first {
		return err
	}
	b.stopping.Store(true)
	// Stop accepting first, so that no connection arrives while the others drain.
	b.ln.Close()
	close(b.stopAccept)
	b.acceptWG.Wait()
	for _, c := range b.conns.Close() {
		c.closeWith(reactor.ErrServerClosed, true)
	}
	// Dials in flight fail with ErrServerClosed (a connection made meanwhile is turned away by
	// OnOpen); each is answered on its loop, which runs until the engine stops below.
	b.dials.Close()
	b.dials.Abort()

	// Let every connection flush and close on its own loop first, so that written bytes leave
	// before the engine's stop closes whatever is left.
	select {
	case <-b.conns.Drained():
	case <-b.runDone:
	case <-ctx.Done():
		err = ctx.Err()
		b.conns.Abort()
		// Aborted connections close on their loops at once. The engine's stop would close
		// those gnet knows anyway, but not those detached from gnet at the peer's end of
		// stream (halfclose_linux.go), whose loop tasks must run before the loops end.
		select {
		case <-b.conns.Drained():
		case <-b.runDone:
		}
	}
	select {
	case <-b.dials.Drained():
	case <-b.runDone:
	}
	b.stopEngine()
	runErr := b.runErr
	if runErr == nil {
		runErr = reactor.ErrServerClosed
	}
	b.life.Finish(runErr)
	return err
}

// strand settles, once gnet's loops have all exited, what was left waiting for a loop: a
// Dial whose failure was queued on a loop that stopped before running it, a connection
// detached from gnet (Shutdown waits for both, so only when the engine stopped on its own).
// Nothing runs on the loops any more, so the handlers are told here.
func (b *backend) strand() {
	for _, d := range b.dials.Close() {
		if d.settled.Load() {
			d.failed(backendkit.DialError(d.addr, reactor.ErrServerClosed))
		}
	}
	// gnet closed the connections it knew as its loops ended; those detached from it are
	// closed here.
	for _, c := range b.conns.Close() {
		if c.detached && c.state.Load() != stateClosed {
			c.closeWith(reactor.ErrServerClosed, false)
			c.closeDetached()
		}
	}
}

// stopEngine stops gnet and returns once gnet.Run has returned. Engine.Stop itself notices the
// end only on a 500 ms poll, so it runs in a goroutine whose context is cancelled as soon as
// Run has returned; that goroutine exits before stopEngine does.
func (b *backend) stopEngine() {
	b.mu.Lock()
	eng := b.eng
	b.mu.Unlock()
	stopCtx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if err := eng.Stop(stopCtx); err != nil && !errors.Is(err, context.Canceled) {
			b.cfg.Logger.Debug("gnet: engine stop", "err", err)
		}
	}()
	<-b.runDone
	cancel()
	<-stopped
}

func (b *backend) Wait() error { return b.life.Wait() }

// events receives gnet's callbacks. All but OnBoot, OnShutdown and OnTick run on the loop
// that owns the connection.
type events struct {
	b *backend
}

func (ev *events) OnBoot(eng gnet.Engine) gnet.Action {
	b := ev.b
	// gnet's own listener is bound by now; with its name gone no client can reach it.
	os.RemoveAll(b.sockDir)
	b.mu.Lock()
	b.eng = eng
	b.mu.Unlock()
	return gnet.None
}

func (ev *events) OnShutdown(gnet.Engine) {}

func (ev *events) OnTick() (time.Duration, gnet.Action) {
	ev.b.readyOne.Do(func() { close(ev.b.ready) })
	return tickerDelay, gnet.None
}

func (ev *events) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	b := ev.b
	// A connection made by Conn.Dial arrives with its dial; an accepted one with nothing.
	d, dialed := gc.Context().(*dial)
	if dialed && !d.settled.CompareAndSwap(false, true) {
		return nil, gnet.Close // its dialer has reported it failed already
	}
	if b.stopping.Load() {
		// Shutdown began: an enrollment that raced it is turned away unseen.
		if dialed {
			d.failed(backendkit.DialError(d.addr, reactor.ErrServerClosed))
		}
		return nil, gnet.Close
	}
	var c *conn
	if dialed {
		c = d.c
	} else {
		c = newConn(b, gc.EventLoop(), b.hs)
	}
	c.attach(gc)
	gc.SetContext(c)
	if !b.conns.Add(c) {
		gc.SetContext(nil)
		if dialed {
			d.failed(backendkit.DialError(d.addr, reactor.ErrServerClosed))
		}
		return nil, gnet.Close
	}
	if dialed {
		b.dials.Remove(d) // Shutdown counts the connection among the others from now on
	}
	c.countOpen(dialed)
	c.opened = true
	if err := c.callOpen(); err != nil {
		c.Abort(err)
	}
	a := c.afterCallback(reactor.None)
	if c.paused && gc.OutboundBuffered() > 0 {
		// gnet adds input back to the connection's epoll entry after OnOpen when its outbound
		// buffer holds bytes (eventloop.open); the task takes it out again.
		c.mu.Lock()
		c.schedule()
		c.mu.Unlock()
	}
	return nil, a
}

func (ev *events) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.Close
	}
	return c.onTraffic()
}

func (ev *events) OnClose(gc gnet.Conn, err error) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok || !c.opened {
		return gnet.None
	}
	if errors.Is(err, io.EOF) && c.detach() {
		return gnet.None // the connection lives on without gnet (halfclose_linux.go)
	}
	switch {
	case errors.Is(err, io.EOF) && c.hupErr != nil:
		err = c.hupErr // a reset detach took from the socket
	case errors.Is(err, io.EOF):
		// gnet calls a reset it read an end of stream too; the socket still tells them apart.
		err = sockstate.HangupCause(gc.Fd(), c.shutDone)
	}
	c.onClose(err)
	ev.b.conns.Remove(c)
	return gnet.None
}
