//go:build linux

package netpoller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cloudwego/netpoll"

	"github.com/reactorlab/reactor/internal/lifecycle"
	"github.com/reactorlab/reactor/internal/ratelog"
	"github.com/reactorlab/reactor/internal/reuseport"
	"github.com/reactorlab/reactor/reactor"
)

const available = true

// shutdownRetry is how often Shutdown asks netpoll's event loop to stop until its Serve has
// returned: a stop that lands before Serve registered its server is ignored by netpoll.
const shutdownRetry = 10 * time.Millisecond

// New returns a netpoll backend for cfg. Options netpoll has no switch for fail with
// reactor.ErrNotSupported.
func New(cfg reactor.Config) (reactor.Backend, error) {
	if cfg.EdgeTriggered {
		return nil, fmt.Errorf("netpoll: edge-triggered readiness: %w (netpoll reads level-triggered, always)", reactor.ErrNotSupported)
	}
	if cfg.ReadBufferSize != 0 {
		return nil, fmt.Errorf("netpoll: read buffer size: %w (netpoll sizes each read itself; its buffer size is process-wide)", reactor.ErrNotSupported)
	}
	cfg = cfg.WithDefaults()
	return &backend{cfg: cfg, serveDone: make(chan struct{})}, nil
}

// backend is one netpoll event loop (a listener and its connections) serving one handler. The
// pollers it runs on are process-wide and shared; see the package doc.
type backend struct {
	cfg reactor.Config
	h   reactor.Handler
	// onDrain is h's OnDrain when h is a reactor.Drainer, made once.
	onDrain func(reactor.Conn)
	evl     netpoll.EventLoop
	life    lifecycle.State
	conns   lifecycle.Conns[*conn] // prepared, until their close callback

	stopping  atomic.Bool
	statSeq   atomic.Uint32  // spreads connections over the shards of cfg.Stats
	wg        sync.WaitGroup // flusher, sender, runner and dial goroutines
	serveDone chan struct{}  // closed when evl.Serve returned; serveErr is then set
	serveErr  error

	dialMu       sync.Mutex
	dials        map[*dialing]struct{} // in flight
	dialsStopped bool                  // Shutdown (or a failure) cancelled them
	layoutErr    sync.Once             // reports, once, a netpoll the adapter cannot read (internals_linux.go)
}

func (b *backend) Info() reactor.Info { return Info() }

func (b *backend) Start(h reactor.Handler) (net.Addr, error) {
	if err := b.life.Start(); err != nil {
		return nil, err
	}
	defer b.life.Started()
	b.h = h
	if d, ok := h.(reactor.Drainer); ok {
		b.onDrain = d.OnDrain
	}

	if err := configure(b.cfg); err != nil {
		b.life.Finish(err)
		return nil, err
	}
	ln, err := b.listen()
	if err != nil {
		err = fmt.Errorf("netpoll: %w", err)
		b.life.Finish(err)
		return nil, err
	}
	evl, err := netpoll.NewEventLoop(b.onRequest,
		netpoll.WithOnPrepare(b.onPrepare),
		netpoll.WithOnConnect(b.onConnect),
	)
	if err != nil {
		ln.Close()
		err = fmt.Errorf("netpoll: %w", err)
		b.life.Finish(err)
		return nil, err
	}
	b.evl = evl
	// Exits when the event loop stops: after Shutdown, or on its own if the listener fails.
	go func() {
		err := evl.Serve(ln)
		b.serveErr = err
		close(b.serveDone)
		if b.life.Failed() {
			// Stopped on its own (the listener failed): the connections go too, and Wait
			// reports why once they are gone, as after a Shutdown.
			if err == nil {
				err = errors.New("event loop stopped")
			}
			b.stopDials()
			for _, c := range b.conns.Close() {
				c.Abort(err)
			}
			<-b.conns.Drained()
			b.wg.Wait()
			b.life.Finish(fmt.Errorf("netpoll: %w", err))
		}
	}()
	return ln.Addr(), nil
}

// Process-wide netpoll settings. netpoll's pollers and its logger belong to the process, not
// to one event loop. The pollers are sized once, by the first backend started in the process:
// netpoll grows them lazily on its next Pick, which a running server calls for every
// connection it accepts, and that rebuild races with the running server's picks (the race
// detector saw it with two servers). The adapter installs one log sink that forwards to the
// logger of the backend started last.
var (
	globalMu   sync.Mutex
	numPollers int                         // what the adapter set; 0 before the first Start
	logTarget  atomic.Pointer[slog.Logger] // where netpoll's messages go
)

// configure sizes netpoll's pollers to cfg.Loops, the first time, and routes its logging.
func configure(cfg reactor.Config) error {
	logTarget.Store(cfg.Logger)
	globalMu.Lock()
	defer globalMu.Unlock()
	if numPollers > 0 {
		if cfg.Loops > numPollers {
			cfg.Logger.Info("netpoll: pollers are process-wide; this server shares those started first", "loops", cfg.Loops, "pollers", numPollers)
		}
		return nil
	}
	if err := netpoll.Configure(netpoll.Config{PollerNum: cfg.Loops, LoggerOutput: logSink{}, LoadBalance: netpoll.RoundRobin}); err != nil {
		return fmt.Errorf("netpoll: setting %d pollers: %w", cfg.Loops, err)
	}
	netpoll.Initialize() // start them now, before any server picks one
	numPollers = cfg.Loops
	return nil
}

// logSink receives netpoll's log lines (one Write per line) and passes them to slog, at most
// one a second: netpoll logs per connection (after EMFILE, one line per connection it
// re-accepts), so a burst of connections would otherwise flood the log.
type logSink struct{}

// sinkLimit paces logSink for every backend of the process, as netpoll's logger is one.
var sinkLimit ratelog.Limiter

func (logSink) Write(p []byte) (int, error) {
	if l := logTarget.Load(); l != nil {
		if n, ok := sinkLimit.Allow(); ok {
			l.Warn("netpoll: "+strings.TrimSpace(string(p)), "suppressed", n)
		}
	}
	return len(p), nil
}

func (b *backend) Shutdown(ctx context.Context) error {
	first, err := b.life.Shutdown(ctx, b.conns.Abort)
	if !first {
		return err
	}
	b.stopping.Store(true)
	b.stopDials()
	// Close every connection gracefully first (flush, then close), so that written bytes
	// leave before netpoll's own shutdown, which closes idle connections without a word.
	for _, c := range b.conns.Close() {
		c.closeWith(reactor.ErrServerClosed)
	}
	select {
	case <-b.conns.Drained():
	case <-ctx.Done():
		err = ctx.Err()
		b.conns.Abort()
		<-b.conns.Drained()
	}
	// Stop accepting and end Serve. Connections accepted meanwhile were closed unseen, so
	// every connection is closed by now, and netpoll's own wait for its connections is not
	// needed: it gets a context already done. That wait would run to the deadline whenever a
	// connection closed while netpoll was accepting it: netpoll v0.7.2 adds the callback that
	// removes a connection from its server's map only after registering it, so such a
	// connection stays in the map, closed and never idle. (An already-done context is all
	// its Close's error can be about.)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for stopped := false; !stopped; {
		_ = b.evl.Shutdown(done)
		select {
		case <-b.serveDone:
			stopped = true
		case <-time.After(shutdownRetry):
		}
	}
	b.wg.Wait()
	b.life.Finish(reactor.ErrServerClosed)
	return err
}

func (b *backend) Wait() error { return b.life.Wait() }

// connKey finds the adapter's conn in the context netpoll passes between callbacks.
type connKey struct{}

// onPrepare runs on the poller goroutine as a connection is accepted, before netpoll watches
// it: it creates the adapter's conn, or turns the connection away during Shutdown.
func (b *backend) onPrepare(nc netpoll.Connection) context.Context {
	c, err := newConn(b, nc, b.h, b.onDrain)
	// Before netpoll registers the connection: its poller neither reads nor sees a hang-up yet.
	if err == nil {
		if err = c.watchWindow(); err == nil && c.hc != nil {
			err = c.interceptHup()
		}
		if err != nil {
			b.layoutErr.Do(func() { b.cfg.Logger.Error("netpoll: connections are refused", "err", err) })
		}
	}
	if err != nil || b.stopping.Load() {
		nc.Close()
		return context.Background()
	}
	if !b.conns.Add(c) {
		nc.Close()
		return context.Background()
	}
	c.st.Accepted()
	// Runs once netpoll considers the connection closed and no OnRequest is running; netpoll
	// closes the descriptor in a callback of its own that runs after this one.
	nc.AddCloseCallback(c.onClosed)
	return context.WithValue(context.Background(), connKey{}, c)
}

// onConnect runs on a pooled goroutine before any onRequest for the connection.
func (b *backend) onConnect(ctx context.Context, nc netpoll.Connection) context.Context {
	if c, ok := ctx.Value(connKey{}).(*conn); ok {
		c.open()
	}
	return ctx
}

// onRequest runs on a pooled goroutine, one at a time per connection, whenever input is
// buffered; netpoll calls it again while input remains, so it always takes all of it.
func (b *backend) onRequest(ctx context.Context, nc netpoll.Connection) error {
	c, ok := ctx.Value(connKey{}).(*conn)
	if !ok {
		r := nc.Reader()
		_ = r.Skip(r.Len())
		return r.Release()
	}
	c.onRequest()
	return nil
}

// forget drops c, whose close callback has run, from the live connections.
func (b *backend) forget(c *conn) { b.conns.Remove(c) }

// listen makes the listener, with SO_REUSEPORT when Config.ReusePort asks (so that other
// processes can share the port), and hands it over to netpoll, as netpoll.CreateListener
// would.
func (b *backend) listen() (netpoll.Listener, error) {
	ln, err := reuseport.ListenTCP(b.cfg.Addr, b.cfg.ReusePort)
	if err != nil {
		return nil, err
	}
	nl, err := netpoll.ConvertListener(ln)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return countingListener{nl, b.cfg.Stats.Shard(0)}, nil
}

// countingListener counts the failed accepts of netpoll's accept loop for Stats, other than
// those of a closed listener or a peer that left first.
type countingListener struct {
	netpoll.Listener
	st *reactor.StatShard
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, syscall.ECONNABORTED) {
		l.st.AcceptError()
	}
	return c, err
}
