//go:build linux

package gnetloop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/reactorlab/reactor/reactor"
)

const available = true

// tickerDelay is how long gnet's ticker sleeps between ticks. Only its first tick matters (it
// says the loops run); the rest are wasted wake-ups, so they are rare.
const tickerDelay = time.Hour

// New returns a gnet backend for cfg. Every reactor.Config option maps onto a gnet option, so
// New fails only for an address it cannot parse.
func New(cfg reactor.Config) (reactor.Backend, error) {
	cfg = cfg.WithDefaults()
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("gnet: address %q: %w", cfg.Addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return nil, fmt.Errorf("gnet: address %q: port: %w", cfg.Addr, err)
	}
	if host != "" && net.ParseIP(host) == nil {
		// gnet resolves names itself, but a reserved reuseport port needs a literal address;
		// resolve once here so both agree.
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			return nil, fmt.Errorf("gnet: address %q: cannot resolve host: %v", cfg.Addr, err)
		}
		cfg.Addr = net.JoinHostPort(ips[0].String(), port)
	}
	return &backend{
		cfg:     cfg,
		conns:   map[*conn]struct{}{},
		ready:   make(chan struct{}),
		runDone: make(chan struct{}),
		drained: make(chan struct{}),
		done:    make(chan struct{}),
	}, nil
}

// backend is one gnet engine serving one handler.
type backend struct {
	cfg reactor.Config
	h   reactor.Handler

	stopping atomic.Bool   // Shutdown began: new connections are turned away
	ready    chan struct{} // closed by the first tick: the loops run
	readyOne sync.Once
	runDone  chan struct{} // closed when gnet.Run returned; runErr is then set
	runErr   error

	mu       sync.Mutex
	started  bool
	eng      gnet.Engine
	addr     net.Addr
	holder   int // placeholder socket reserving a reuseport port until gnet binds it; -1 none
	conns    map[*conn]struct{}
	drained  chan struct{} // closed when stopping and conns is empty
	shutOnce bool          // Shutdown already ran its first pass
	err      error         // what Wait returns
	done     chan struct{} // closed when the backend has stopped for good
}

func (b *backend) Info() reactor.Info { return Info() }

func (b *backend) Start(h reactor.Handler) (net.Addr, error) {
	b.mu.Lock()
	if b.started {
		b.mu.Unlock()
		return nil, reactor.ErrAlreadyStarted
	}
	b.started, b.h, b.holder = true, h, -1
	b.mu.Unlock()

	network, addr, err := b.listenAddr()
	if err != nil {
		b.finish(err)
		return nil, err
	}
	opts := []gnet.Option{
		gnet.WithNumEventLoop(b.cfg.Loops),
		gnet.WithLoadBalancing(gnet.RoundRobin),
		gnet.WithReusePort(b.cfg.ReusePort),
		gnet.WithEdgeTriggeredIO(b.cfg.EdgeTriggered),
		gnet.WithReadBufferCap(b.cfg.ReadBufferSize),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithTicker(true),
		gnet.WithLogger(logAdapter{b.cfg.Logger}),
	}
	// Exits when the engine has stopped: after Shutdown, or on its own when it fails.
	go func() {
		err := gnet.Run(&events{b: b}, network+"://"+addr, opts...)
		b.mu.Lock()
		b.closeHolder()
		b.mu.Unlock()
		b.runErr = err
		close(b.runDone)
		if !b.stopping.Load() {
			// Stopped on its own (a loop failed): Wait reports why.
			if err == nil {
				err = errors.New("engine stopped")
			}
			b.finish(fmt.Errorf("gnet: %w", err))
		}
	}()
	select {
	case <-b.ready:
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.addr, nil
	case <-b.runDone:
		err := b.runErr
		if err == nil {
			err = errors.New("engine stopped before it served")
		}
		err = fmt.Errorf("gnet: %w", err)
		b.finish(err)
		return nil, err
	}
}

// listenAddr returns the network and address to hand gnet. With ReusePort and port 0 it
// reserves a concrete port (see the package doc), held by b.holder until OnBoot.
func (b *backend) listenAddr() (network, addr string, err error) {
	ta, err := net.ResolveTCPAddr("tcp", b.cfg.Addr)
	if err != nil {
		return "", "", fmt.Errorf("gnet: address %q: %w", b.cfg.Addr, err)
	}
	network = "tcp"
	if ta.IP != nil {
		network = "tcp6"
		if ta.IP.To4() != nil {
			network = "tcp4"
		}
	}
	if !b.cfg.ReusePort || ta.Port != 0 {
		return network, b.cfg.Addr, nil
	}
	if network == "tcp" {
		// A wildcard host: reserve on IPv4, and have gnet bind the same family.
		network, ta.IP = "tcp4", net.IPv4zero
	}
	fd, port, err := reservePort(ta)
	if err != nil {
		return "", "", fmt.Errorf("gnet: reserving a port for reuseport listeners: %w", err)
	}
	b.mu.Lock()
	b.holder = fd
	b.mu.Unlock()
	return network, net.JoinHostPort(ta.IP.String(), strconv.Itoa(port)), nil
}

// reservePort binds, without listening, an SO_REUSEPORT socket to a kernel-chosen port of
// a's address, so that gnet's listeners (also SO_REUSEPORT) can all bind that same port.
func reservePort(a *net.TCPAddr) (fd, port int, err error) {
	var sa unix.Sockaddr
	family := unix.AF_INET6
	if ip4 := a.IP.To4(); ip4 != nil {
		family = unix.AF_INET
		s := &unix.SockaddrInet4{}
		copy(s.Addr[:], ip4)
		sa = s
	} else {
		s := &unix.SockaddrInet6{}
		copy(s.Addr[:], a.IP.To16())
		sa = s
	}
	fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, 0, fmt.Errorf("socket: %w", err)
	}
	if err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err == nil {
		if err = unix.Bind(fd, sa); err == nil {
			var got unix.Sockaddr
			if got, err = unix.Getsockname(fd); err == nil {
				switch s := got.(type) {
				case *unix.SockaddrInet4:
					return fd, s.Port, nil
				case *unix.SockaddrInet6:
					return fd, s.Port, nil
				}
				err = errors.New("unexpected socket address family")
			}
		}
	}
	unix.Close(fd)
	return -1, 0, err
}

// closeHolder releases the reserved port's placeholder. b.mu held.
func (b *backend) closeHolder() {
	if b.holder >= 0 {
		unix.Close(b.holder)
		b.holder = -1
	}
}

// finish marks the backend stopped for good with err (what Wait returns).
func (b *backend) finish(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.done:
	default:
		b.err = err
		close(b.done)
	}
}

func (b *backend) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	if !b.started {
		b.started = true
		b.mu.Unlock()
		b.stopping.Store(true)
		b.finish(reactor.ErrServerClosed)
		return nil
	}
	if b.shutOnce {
		b.mu.Unlock()
		select {
		case <-b.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	b.shutOnce = true
	b.stopping.Store(true)
	for c := range b.conns {
		c.closeWith(reactor.ErrServerClosed, true)
	}
	b.checkDrained()
	b.mu.Unlock()

	// Let every connection flush and close on its own loop first, so that written bytes leave
	// before the engine's stop closes whatever is left.
	var err error
	select {
	case <-b.drained:
	case <-b.runDone:
	case <-ctx.Done():
		err = ctx.Err()
		b.mu.Lock()
		for c := range b.conns {
			c.Abort(reactor.ErrServerClosed)
		}
		b.mu.Unlock()
	}
	b.stopEngine()
	runErr := b.runErr
	if runErr == nil {
		runErr = reactor.ErrServerClosed
	}
	b.finish(runErr)
	return err
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

// checkDrained closes b.drained once Shutdown began and the last connection is gone. b.mu held.
func (b *backend) checkDrained() {
	if b.stopping.Load() && len(b.conns) == 0 {
		select {
		case <-b.drained:
		default:
			close(b.drained)
		}
	}
}

func (b *backend) Wait() error {
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// events receives gnet's callbacks. All but OnBoot, OnShutdown and OnTick run on the loop
// that owns the connection.
type events struct {
	b *backend
}

func (ev *events) OnBoot(eng gnet.Engine) gnet.Action {
	b := ev.b
	fd, err := eng.Dup()
	var addr net.Addr
	if err == nil {
		sa, serr := unix.Getsockname(fd)
		unix.Close(fd)
		err = serr
		addr = sockaddrToTCP(sa)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.eng = eng
	// gnet's first listener now holds the reserved port; the per-loop listeners join it.
	b.closeHolder()
	if err != nil || addr == nil {
		b.cfg.Logger.Error("gnet: cannot read the bound address", "err", err)
		return gnet.Shutdown
	}
	b.addr = addr
	return gnet.None
}

func (ev *events) OnShutdown(gnet.Engine) {}

func (ev *events) OnTick() (time.Duration, gnet.Action) {
	ev.b.readyOne.Do(func() { close(ev.b.ready) })
	return tickerDelay, gnet.None
}

func (ev *events) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	b := ev.b
	if b.stopping.Load() {
		// Shutdown began: gnet cannot stop accepting without stopping, so turn it away unseen.
		return nil, gnet.Close
	}
	c := newConn(b, gc)
	gc.SetContext(c)
	b.mu.Lock()
	if b.stopping.Load() {
		b.mu.Unlock()
		gc.SetContext(nil)
		return nil, gnet.Close
	}
	b.conns[c] = struct{}{}
	b.mu.Unlock()
	c.opened = true
	if err := c.callOpen(); err != nil {
		c.Abort(err)
	}
	return nil, c.afterCallback(reactor.None)
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
	c.onClose(err)
	b := ev.b
	b.mu.Lock()
	delete(b.conns, c)
	b.checkDrained()
	b.mu.Unlock()
	return gnet.None
}

func sockaddrToTCP(sa unix.Sockaddr) *net.TCPAddr {
	switch s := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), s.Addr[:]...)), Port: s.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), s.Addr[:]...)), Port: s.Port}
	}
	return nil
}
