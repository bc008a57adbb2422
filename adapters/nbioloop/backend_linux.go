//go:build linux

package nbioloop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/lesismal/nbio"

	"github.com/reactorlab/reactor/internal/backoff"
	"github.com/reactorlab/reactor/internal/lifecycle"
	"github.com/reactorlab/reactor/internal/ratelog"
	"github.com/reactorlab/reactor/internal/reuseport"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

const available = true

// New returns an nbio backend for cfg. Every reactor.Config option maps onto nbio or the
// adapter, so New fails only for an address it cannot parse.
func New(cfg reactor.Config) (reactor.Backend, error) {
	cfg = cfg.WithDefaults()
	_, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("nbio: address %q: %w", cfg.Addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return nil, fmt.Errorf("nbio: address %q: port: %w", cfg.Addr, err)
	}
	b := &backend{cfg: cfg, stopAccept: make(chan struct{})}
	b.stopCtx, b.stop = context.WithCancelCause(context.Background())
	return b, nil
}

// backend is one nbio Engine serving one handler.
type backend struct {
	cfg   reactor.Config
	h     reactor.Handler
	life  lifecycle.State
	conns lifecycle.Conns[*conn] // adopted, until OnClose
	eng   *nbio.Engine
	loops []*loop

	ln         *net.TCPListener
	stopAccept chan struct{} // closed by Shutdown: cuts accept's back-off short
	acceptWG   sync.WaitGroup
	acceptLog  ratelog.Limiter

	stopCtx context.Context // cancelled by Shutdown, with ErrServerClosed: ends dials in flight
	stop    context.CancelCauseFunc
	dials   gate           // dial goroutines
	tasks   sync.WaitGroup // posted hand-overs (adopt, a failed dial's OnClose) not yet run
}

func (b *backend) Info() reactor.Info { return Info() }

func (b *backend) Start(h reactor.Handler) (net.Addr, error) {
	if err := b.life.Start(); err != nil {
		return nil, err
	}
	defer b.life.Started()
	b.h = h
	fail := func(err error) (net.Addr, error) {
		err = fmt.Errorf("nbio: %w", err)
		b.life.Finish(err)
		return nil, err
	}
	if epfdPath == nil {
		return fail(fmt.Errorf("%w: %w", reactor.ErrNotSupported, errLayout))
	}
	setLogger(b.cfg.Logger)
	n := b.cfg.Loops
	b.eng = nbio.NewEngine(nbio.Config{
		Name:               "reactor",
		Network:            "tcp",
		NPoller:            n,
		ReadBufferSize:     b.cfg.ReadBufferSize,
		MaxWriteBufferSize: b.cfg.MaxOutbound,
		EpollMod:           nbio.EPOLLET,
	})
	b.eng.OnRead(func(nc *nbio.Conn) {
		switch s := nc.Session().(type) {
		case *loop:
			s.run(nc)
		case *conn:
			s.readable()
		}
	})
	b.eng.OnClose(func(nc *nbio.Conn, err error) {
		if c, ok := nc.Session().(*conn); ok {
			c.lp.post(func() { c.hangup(err) })
		}
	})
	b.eng.OnWrittenSize(func(nc *nbio.Conn, _ []byte, n int) {
		if c, ok := nc.Session().(*conn); ok {
			c.wrote(n)
		}
	})
	// The loops are built before the engine starts its pollers, which then see them whole.
	ctl, wake, err := newControls(n)
	if err != nil {
		return fail(err)
	}
	b.loops = make([]*loop, n)
	for i := range b.loops {
		lp := &loop{idx: i, ctl: ctl[i], wake: wake[i], shard: b.cfg.Stats.Shard(i)}
		b.loops[i] = lp
		ctl[i].SetSession(lp)
	}
	if err := b.eng.Start(); err != nil {
		for i, c := range ctl {
			c.Close()
			b.loops[i].shut()
		}
		return fail(err)
	}
	for i, lp := range b.loops {
		// Held from before the registration: the poller's first run of the loop waits for it,
		// and so sees what is set here.
		lp.mu.Lock()
		if _, err = b.eng.AddConn(lp.ctl); err == nil {
			lp.epfd, err = epollFD(lp.ctl)
			lp.rbuf = b.eng.PollerBuffer(lp.ctl)
		}
		lp.mu.Unlock()
		if err != nil {
			b.stopLoops(i + 1)
			return fail(err)
		}
	}
	// nbio's poller clears its stop flag as its goroutine begins, so a Stop that comes before
	// would be lost and Stop would wait for it for ever: Start returns only once every poller
	// has run a task of its own.
	running := make(chan struct{}, n)
	for _, lp := range b.loops {
		lp.post(func() { running <- struct{}{} })
	}
	for range b.loops {
		<-running
	}
	if b.ln, err = reuseport.ListenTCP(b.cfg.Addr, b.cfg.ReusePort); err != nil {
		b.stopLoops(n)
		return fail(err)
	}
	b.acceptWG.Add(1)
	go b.accept()
	return b.ln.Addr(), nil
}

// stopLoops stops the engine and closes the first k loops' wake-up descriptors.
func (b *backend) stopLoops(k int) {
	b.eng.Stop()
	for _, lp := range b.loops[:k] {
		lp.shut()
	}
}

// accept takes each connection from the listener, makes it an nbio connection (nbio keeps a
// duplicate of the socket) and hands it to the loop nbio will serve it on, which registers it
// and opens it. It exits when Shutdown closes the listener.
func (b *backend) accept() {
	defer b.acceptWG.Done()
	pace := backoff.Accept{Logger: b.cfg.Logger, Msg: "nbio: accept failed; retrying", Limit: &b.acceptLog}
	for {
		tc, err := b.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			b.cfg.Stats.Shard(0).AcceptError()
			// Out of descriptors and the like: the connection waits in the kernel's queue.
			pace.Failed(err, b.stopAccept)
			continue
		}
		nc, err := nbio.NBConn(tc)
		if err != nil {
			tc.Close()
			b.cfg.Stats.Shard(0).AcceptError()
			pace.Failed(err, b.stopAccept)
			continue
		}
		pace.Succeeded()
		lp := b.loops[nc.Hash()%len(b.loops)]
		b.adopt(newConn(b, lp, lp, nc, b.h))
	}
}

// adopt hands c to the loop of its poller, which registers it with nbio; see register.
func (b *backend) adopt(c *conn) {
	b.tasks.Add(1)
	if !c.pl.post(func() { defer b.tasks.Done(); b.register(c) }) {
		b.tasks.Done()
		c.nc.Close()
	}
}

// register runs on the goroutine of c's poller, so that the poller takes no event of c
// between nbio's registration and the adapter's (setEvents): nbio's own events include
// EPOLLRDHUP, on which it would close the connection at the peer's end of stream. c is then
// opened on its owner, here or by a task.
func (b *backend) register(c *conn) {
	if !b.conns.Add(c) {
		c.nc.Close() // Shutdown began
		if c.dst != "" {
			b.dialFailed(c.lp, c.dst, c.h, backendkit.DialError(c.dst, reactor.ErrServerClosed))
		}
		return
	}
	c.nc.SetSession(c)
	if _, err := b.eng.AddConn(c.nc); err != nil {
		// nbio closed it; its OnClose finishes c.
		b.refused(err)
		return
	}
	if err := setEvents(c.pl.epfd, c.fd); err != nil {
		b.refused(err)
		c.nc.Close()
		return
	}
	if c.lp == c.pl {
		c.open()
	} else {
		c.lp.post(c.open)
	}
}

func (b *backend) refused(err error) {
	b.cfg.Stats.Shard(0).AcceptError()
	if n, ok := b.acceptLog.Allow(); ok {
		b.cfg.Logger.Warn("nbio: connection refused: cannot register it with a poller", "err", err, "suppressed", n)
	}
}

func (b *backend) Shutdown(ctx context.Context) error {
	first, err := b.life.Shutdown(ctx, b.conns.Abort)
	if !first {
		return err
	}
	// Stop accepting first, so that no connection arrives while the others drain.
	b.ln.Close()
	close(b.stopAccept)
	b.acceptWG.Wait()
	b.stop(reactor.ErrServerClosed)
	b.dials.Close()
	for _, c := range b.conns.Close() {
		c.closeWith(reactor.ErrServerClosed)
	}
	// Dials answer (a failure, or a connection the loop turns away), hand-overs run.
	b.dials.Wait()
	b.tasks.Wait()
	select {
	case <-b.conns.Drained():
	case <-ctx.Done():
		err = ctx.Err()
		b.conns.Abort()
		<-b.conns.Drained()
	}
	b.stopLoops(len(b.loops))
	b.life.Finish(reactor.ErrServerClosed)
	return err
}

func (b *backend) Wait() error { return b.life.Wait() }

// gate is a WaitGroup that admits no one once closed.
type gate struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func (g *gate) Add(n int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(n)
	return true
}

func (g *gate) Done() { g.wg.Done() }

func (g *gate) Close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

func (g *gate) Wait() { g.wg.Wait() }
