//go:build linux

package epoll

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/reactorlab/reactor/internal/ratelog"
	"github.com/reactorlab/reactor/reactor"
	"golang.org/x/sys/unix"
)

const (
	available         = true
	unavailableReason = ""
)

// server is the reactor.Backend: a set of loops and the listener(s) they accept on.
type server struct {
	cfg  reactor.Config
	mech mechanism
	h    *handler
	done chan struct{} // closed when every loop has exited

	mu      sync.Mutex
	started bool
	closing bool
	loops   []*loop
	err     error // the failure that stopped a loop, if any

	running atomic.Int32 // loops not yet exited

	// Thread-per-connection (mechThread): the loops serving one connection each, beside the
	// acceptor in loops, and how many loop stats shards have been handed out.
	perConn map[*loop]struct{}
	spawned int

	// lookups counts the goroutines that look up the host names of dials; a dial that ends
	// cancels its own, and the last loop to exit waits for them.
	lookups sync.WaitGroup

	// Warnings that can repeat once per accept or per connection, shared by the loops: each
	// says itself at most once a second, with how many times it was held back.
	shedLog, refuseLog, acceptLog ratelog.Limiter
}

// New returns an epoll backend for cfg (zero fields take reactor's defaults). It checks the
// address but binds nothing until Start.
func New(cfg reactor.Config) (reactor.Backend, error) { return newServer(cfg, mechEpoll) }

// NewPoll returns the same reactor waiting with poll(2) instead of epoll. Edge-triggered
// readiness does not exist for poll and is refused with reactor.ErrNotSupported.
func NewPoll(cfg reactor.Config) (reactor.Backend, error) { return newServer(cfg, mechPoll) }

// NewSelect returns the same reactor waiting with select(2). Edge-triggered readiness is
// refused with reactor.ErrNotSupported; a connection whose descriptor number is 1024 or more
// is refused at accept (closed, and logged), and the server serves on.
func NewSelect(cfg reactor.Config) (reactor.Backend, error) { return newServer(cfg, mechSelect) }

// NewURing returns the same reactor doing its I/O through io_uring: completions instead of
// readiness. Edge-triggered readiness means nothing there and is refused with
// reactor.ErrNotSupported; so is a machine where io_uring cannot run (URingInfo says why).
func NewURing(cfg reactor.Config) (reactor.Backend, error) { return newServer(cfg, mechURing) }

// NewBusyPoll returns the same reactor polling without waiting: every loop tries to accept,
// read and write on each of its sockets again and again, and spins a CPU core at 100% even
// with no connection at all. Start logs a warning saying so. It runs one loop unless
// Config.Loops asks for more; edge-triggered readiness is refused with reactor.ErrNotSupported.
func NewBusyPoll(cfg reactor.Config) (reactor.Backend, error) {
	if cfg.Loops <= 0 {
		cfg.Loops = 1 // each loop takes a core whole; one is the honest default
	}
	return newServer(cfg, mechBusy)
}

// NewThread returns the same connection code run as thread per connection: one acceptor, and
// for each accepted connection a loop of its own on an OS thread of its own
// (runtime.LockOSThread), blocked in poll(2) on that connection's socket and its wake-up
// eventfd. The thread ends when the connection does. Config.Loops does not apply; a
// connection past ThreadInfo().MaxConns is refused at accept (closed, and logged). Edge-
// triggered readiness is refused with reactor.ErrNotSupported.
func NewThread(cfg reactor.Config) (reactor.Backend, error) { return newServer(cfg, mechThread) }

func newServer(cfg reactor.Config, m mechanism) (reactor.Backend, error) {
	if cfg.EdgeTriggered && m != mechEpoll {
		return nil, fmt.Errorf("%v: edge-triggered readiness: %w (only epoll has it)", m, reactor.ErrNotSupported)
	}
	if m == mechURing {
		if reason := uringReason(); reason != "" {
			return nil, fmt.Errorf("uring: %w here: %s", reactor.ErrNotSupported, reason)
		}
	}
	if m == mechThread {
		cfg.Loops = 1 // the acceptor; connections get loops of their own
	}
	cfg = cfg.WithDefaults()
	if _, err := resolve(cfg.Addr); err != nil {
		return nil, err
	}
	return &server{cfg: cfg, mech: m, done: make(chan struct{})}, nil
}

// Info reports what the backend is. Safe from any goroutine.
func (s *server) Info() reactor.Info {
	switch s.mech {
	case mechPoll:
		return PollInfo()
	case mechSelect:
		return SelectInfo()
	case mechURing:
		return URingInfo()
	case mechBusy:
		return BusyPollInfo()
	case mechThread:
		return ThreadInfo()
	}
	return Info()
}

// Start binds the address (one listener, or with Config.ReusePort one per loop), starts the
// loops and returns the bound address.
func (s *server) Start(h reactor.Handler) (net.Addr, error) {
	if h == nil {
		return nil, errors.New("epoll: Start needs a handler")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return nil, reactor.ErrServerClosed
	case s.started:
		return nil, reactor.ErrAlreadyStarted
	}
	s.h = newHandler(h)
	fds, bound, err := listenAll(s.cfg.Addr, s.cfg.Loops, s.cfg.ReusePort)
	if err != nil {
		return nil, err
	}
	loops := make([]*loop, s.cfg.Loops)
	fail := func(err error) (net.Addr, error) {
		for _, l := range loops {
			if l != nil {
				l.closeFds()
			}
		}
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("epoll: start: %w", err)
	}
	for i := range loops {
		if loops[i], err = newLoop(s, i); err != nil {
			return fail(err)
		}
	}
	for i, fd := range fds {
		if err := loops[i].listenOn(fd, bound); err != nil {
			return fail(err)
		}
		if s.cfg.ReusePort {
			loops[i].peers = loops[i : i+1] // the kernel spreads connections; keep what you accept
		} else {
			loops[i].peers = loops // the one acceptor hands connections out in turn
		}
	}
	s.started, s.loops, s.spawned = true, loops, len(loops)
	s.running.Store(int32(len(loops)))
	if s.mech == mechBusy {
		s.cfg.Logger.Warn("busypoll: each loop spins a CPU core at 100%, connections or none: it polls every socket without ever waiting; a model to measure, not to deploy",
			"loops", len(loops), "addr", bound.tcpAddr().String())
	}
	for _, l := range loops {
		go l.run()
	}
	return bound.tcpAddr(), nil
}

// Shutdown stops accepting, lets every connection flush its output and close (OnClose runs
// with ErrServerClosed), and returns when every loop has exited. When ctx ends first the
// remaining connections are aborted, Shutdown still waits for the loops, and returns ctx's
// error. Safe from any goroutine, and more than once.
func (s *server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	first := !s.closing
	s.closing = true
	started, loops := s.started, s.allLoops()
	s.mu.Unlock()
	if !started {
		if first {
			close(s.done)
		}
		return nil
	}
	if first {
		for _, l := range loops {
			l.post(task{op: opDrain})
		}
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
	}
	for _, l := range loops {
		l.post(task{op: opKill})
	}
	<-s.done
	return ctx.Err()
}

// allLoops is every loop: the configured ones and, thread per connection, each connection's.
// Under s.mu. No loop is added once closing is set, so a Shutdown reaches every loop.
func (s *server) allLoops() []*loop {
	all := s.loops
	if len(s.perConn) > 0 {
		all = make([]*loop, 0, len(s.loops)+len(s.perConn))
		all = append(all, s.loops...)
		for l := range s.perConn {
			all = append(all, l)
		}
	}
	return all
}

// spawn makes the loop, and the thread, that will serve one new connection; the caller posts
// the connection to it, then starts it. It fails once Shutdown has begun, or at the thread cap
// (the Go runtime ends the whole program past its limit of OS threads, 10,000 by default).
func (s *server) spawn() (*loop, error) {
	s.mu.Lock()
	switch {
	case s.closing:
		s.mu.Unlock()
		return nil, reactor.ErrServerClosed
	case len(s.perConn) >= maxThreads:
		s.mu.Unlock()
		return nil, errThreadCap
	}
	index := s.spawned
	s.spawned++
	s.mu.Unlock()
	// Made outside the mutex, which exiting loops take (loopDone): only the acceptor spawns,
	// so the count checked above can only have fallen meanwhile.
	l, err := newLoop(s, index)
	if err != nil {
		return nil, err
	}
	l.single = true
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		l.closeFds()
		return nil, reactor.ErrServerClosed
	}
	if s.perConn == nil {
		s.perConn = make(map[*loop]struct{})
	}
	s.perConn[l] = struct{}{}
	s.running.Add(1)
	return l, nil
}

// Wait blocks until every loop has exited; it returns ErrServerClosed after Shutdown, or the
// failure that stopped the backend.
func (s *server) Wait() error {
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	return reactor.ErrServerClosed
}

// loopDone is a loop's last act. A loop that failed takes the others down with it: a server
// missing a loop would strand the connections handed to it.
func (s *server) loopDone(l *loop, err error) {
	if l.single {
		s.mu.Lock()
		delete(s.perConn, l)
		s.mu.Unlock()
	}
	if err != nil {
		s.mu.Lock()
		if s.err == nil {
			s.err = fmt.Errorf("epoll: loop failed: %w", err)
		}
		loops := s.allLoops()
		s.mu.Unlock()
		for _, l := range loops {
			l.post(task{op: opKill})
		}
	}
	if s.running.Add(-1) == 0 {
		s.lookups.Wait() // cancelled when their dials failed at Shutdown; no goroutine outlives it
		close(s.done)
	}
}
