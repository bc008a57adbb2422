package evioloop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/evio"

	"github.com/reactorlab/reactor/reactor"
)

// pokeEvery is how often Shutdown dials the listener again while evio has not returned (see
// stopLoops).
const pokeEvery = 50 * time.Millisecond

// New returns a backend for cfg. Options evio cannot honour fail with reactor.ErrNotSupported.
func New(cfg reactor.Config) (reactor.Backend, error) {
	if cfg.EdgeTriggered {
		return nil, fmt.Errorf("evio: edge-triggered readiness: %w (evio's epoll is level-triggered only)", reactor.ErrNotSupported)
	}
	if cfg.ReadBufferSize != 0 && cfg.ReadBufferSize != reactor.DefaultReadBufferSize {
		return nil, fmt.Errorf("evio: read size %d: %w (evio reads into a fixed 64 KiB buffer per loop)", cfg.ReadBufferSize, reactor.ErrNotSupported)
	}
	return &backend{
		cfg:     cfg.WithDefaults(),
		live:    map[*conn]struct{}{},
		drained: make(chan struct{}),
		done:    make(chan struct{}),
	}, nil
}

// Stages of a backend's life, in order.
const (
	running  = iota
	draining // Shutdown asked every connection to flush and close; new ones are refused
	stopping // the loops are being stopped; whatever is left is closed by evio
)

type backend struct {
	cfg  reactor.Config
	h    reactor.Handler
	addr net.Addr

	mu      sync.Mutex
	started bool
	stage   int
	live    map[*conn]struct{}
	drained chan struct{} // closed when draining and live is empty
	err     error         // what Wait returns
	done    chan struct{} // closed when evio.Serve has returned

	// stopped mirrors stage == stopping for evio's closing pass, which calls Closed with a nil
	// error for every connection still open: with it set, that nil means ErrServerClosed.
	stopped atomic.Bool

	// Connections whose asynchronous output waits for evio to finish writing what it holds;
	// PreWrite wakes them (see preWrite).
	deferMu  sync.Mutex
	deferred []*conn
	ndefer   atomic.Int32
}

func (b *backend) Info() reactor.Info { return Info() }

func (b *backend) Start(h reactor.Handler) (net.Addr, error) {
	b.mu.Lock()
	if b.started {
		b.mu.Unlock()
		return nil, reactor.ErrAlreadyStarted
	}
	b.started, b.h = true, h
	b.mu.Unlock()

	ready := make(chan net.Addr, 1)
	failed := make(chan error, 1)
	events := evio.Events{
		NumLoops: b.cfg.Loops,
		// Random lets whichever loop wakes first accept. evio's RoundRobin and LeastConnections
		// make the other loops refuse the accept, and with a level-triggered listener they spin
		// until the chosen loop takes it; worse, once Shutdown has stopped the chosen loop no
		// other would accept the connection that stops the next one.
		LoadBalance: evio.Random,
		Serving: func(s evio.Server) evio.Action {
			ready <- s.Addrs[0]
			return evio.None
		},
		Opened:   b.opened,
		Data:     b.data,
		Closed:   b.closed,
		PreWrite: b.preWrite,
	}
	// Exits when evio.Serve returns: after Shutdown stopped the loops, or when evio failed on
	// its own (an accept error such as EMFILE ends evio's loop and with it the server).
	gid := make(chan uint64, 1)
	go func() {
		gid <- goroutineID()
		addr := "tcp://" + b.cfg.Addr
		if b.cfg.ReusePort {
			// evio's option: SO_REUSEPORT on its one shared listener, so other processes can
			// serve the port too.
			addr += "?reuseport=true"
		}
		err := evio.Serve(events, addr)
		b.mu.Lock()
		switch {
		case b.stage == stopping:
			b.err = reactor.ErrServerClosed
		case err != nil:
			b.err = err
		default:
			b.err = errors.New("evio: the server stopped on its own (a loop failed, e.g. accept ran out of descriptors)")
		}
		b.mu.Unlock()
		close(b.done) // before failed, so that a Start that fails returns with done closed
		failed <- err
	}()
	select {
	case a := <-ready:
		b.addr = a
		b.awaitParked(<-gid)
		return a, nil
	case err := <-failed:
		return nil, fmt.Errorf("evio: %w", err)
	}
}

func (b *backend) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	if !b.started {
		b.started, b.stage, b.err = true, stopping, reactor.ErrServerClosed
		b.mu.Unlock()
		close(b.done)
		return nil
	}
	if b.stage != running {
		// A second Shutdown: the first one does the work.
		b.mu.Unlock()
		select {
		case <-b.done:
			return nil
		case <-ctx.Done():
			<-b.done
			return ctx.Err()
		}
	}
	b.stage = draining
	if len(b.live) == 0 {
		close(b.drained)
	}
	for c := range b.live {
		c.requestClose(reactor.ErrServerClosed, true)
	}
	b.mu.Unlock()

	var err error
	select {
	case <-b.drained:
	case <-b.done:
	case <-ctx.Done():
		// Connections that could not drain in time are closed by evio's own closing pass.
		err = ctx.Err()
	}
	b.mu.Lock()
	b.stage = stopping
	b.mu.Unlock()
	b.stopped.Store(true)
	b.stopLoops()
	return err
}

// stopLoops makes evio.Serve return. evio stops only when a callback returns evio.Shutdown;
// its Tick callback could say so, but evio's ticker goroutine outlives the server and then
// writes to a closed (maybe reused) event descriptor. So the adapter dials its own listener:
// in the stopping stage Opened answers evio.Shutdown, the loop that accepted the dial stops,
// and evio stops the others. The dials repeat until Serve has returned, in case one fails, or
// the stop signal was lost after all (see awaitParked) while other loops remain to stop.
func (b *backend) stopLoops() {
	tick := time.NewTicker(pokeEvery)
	defer tick.Stop()
	for {
		select {
		case <-b.done:
			return
		default:
		}
		if nc, err := net.DialTimeout("tcp", b.addr.String(), time.Second); err == nil {
			nc.Close()
		}
		select {
		case <-b.done:
			return
		case <-tick.C:
		}
	}
}

// awaitParked returns once evio's Serve goroutine waits for its loops to stop, or has returned.
// evio signals that wait on a sync.Cond from the first loop that exits; a signal sent before
// Serve waits is lost, and with every loop gone nothing sends another, so Serve would never
// return. Serve starts the loops just before it waits, so a Shutdown right after Start (or an
// early failure of a loop) hits that window. evio offers no hook there, so the adapter looks
// at the goroutine's stack, once per Start.
func (b *backend) awaitParked(gid uint64) {
	header := fmt.Sprintf("goroutine %d [", gid)
	buf := make([]byte, 64<<10)
	// Bounded, in case a Go release words stack dumps differently: Start must not hang on it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if time.Now().After(deadline) {
			b.cfg.Logger.Warn("evio: could not see evio's Serve goroutine wait; a Shutdown right now might hang")
			return
		}
		n := runtime.Stack(buf, true)
		if n == len(buf) {
			buf = make([]byte, 2*len(buf))
			continue
		}
		dump := string(buf[:n])
		if i := strings.Index(dump, header); i >= 0 {
			g := dump[i:]
			if j := strings.Index(g, "\n\n"); j >= 0 {
				g = g[:j]
			}
			if strings.HasPrefix(g[len(header):], "sync.Cond.Wait") && strings.Contains(g, "evio.(*server).waitForShutdown") {
				return
			}
		}
		select {
		case <-b.done:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// goroutineID is the calling goroutine's number, as stack dumps show it.
func goroutineID() uint64 {
	var buf [64]byte
	s := string(buf[:runtime.Stack(buf[:], false)])
	s = strings.TrimPrefix(s, "goroutine ")
	id, _ := strconv.ParseUint(s[:strings.IndexByte(s, ' ')], 10, 64)
	return id
}

func (b *backend) Wait() error {
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// opened is evio's Opened callback, on the connection's loop.
func (b *backend) opened(ec evio.Conn) ([]byte, evio.Options, evio.Action) {
	// Every read is lent to OnData and the tail kept by the adapter, so evio need not copy.
	opts := evio.Options{ReuseInputBuffer: true}
	c, err := newConn(b, ec)
	if err != nil {
		b.cfg.Logger.Error("evio: refusing connection", "err", err)
		return nil, opts, evio.Close
	}
	b.mu.Lock()
	stage := b.stage
	if stage == running {
		b.live[c] = struct{}{}
	}
	b.mu.Unlock()
	switch stage {
	case draining:
		// evio cannot stop accepting without stopping its loops, so late arrivals are closed
		// at once, before the handler sees them.
		return nil, opts, evio.Close
	case stopping:
		return nil, opts, evio.Shutdown
	}
	ec.SetContext(c)
	c.open()
	out, a := c.settle(0) // a new connection: evio holds no output yet
	return out, opts, a
}

// data is evio's Data callback: in holds bytes read, or is nil when Wake asked for the call.
func (b *backend) data(ec evio.Conn, in []byte) ([]byte, evio.Action) {
	c, ok := ec.Context().(*conn)
	if !ok {
		return nil, evio.Close
	}
	if in == nil {
		return c.woken()
	}
	return c.read(in)
}

// closed is evio's Closed callback: on the connection's loop, or on evio's Serve goroutine in
// its closing pass after every loop has stopped.
func (b *backend) closed(ec evio.Conn, err error) evio.Action {
	c, ok := ec.Context().(*conn)
	if !ok {
		return evio.None // refused in Opened: the handler never saw it
	}
	c.finish(err)
	b.mu.Lock()
	delete(b.live, c)
	if b.stage == draining && len(b.live) == 0 {
		close(b.drained)
	}
	b.mu.Unlock()
	return evio.None
}

// deferConn queues c for a wake at the next write evio makes. From c's loop.
func (b *backend) deferConn(c *conn) {
	b.deferMu.Lock()
	if !c.deferred {
		c.deferred = true
		b.deferred = append(b.deferred, c)
		b.ndefer.Store(int32(len(b.deferred)))
	}
	b.deferMu.Unlock()
}

// preWrite is evio's PreWrite callback, which runs before every write evio makes, on any loop,
// and says nothing of which connection. It is the only sign evio gives that output is moving,
// so it wakes every connection that waits for evio to empty its output buffer: a connection
// whose buffer empties does so in a write that follows its own PreWrite, and the wake is
// handled after that write. Connections still busy defer themselves again.
func (b *backend) preWrite() {
	if b.ndefer.Load() == 0 {
		return
	}
	b.deferMu.Lock()
	for i, c := range b.deferred {
		c.deferred = false
		c.wake()
		b.deferred[i] = nil
	}
	b.deferred = b.deferred[:0]
	b.ndefer.Store(0)
	b.deferMu.Unlock()
}
