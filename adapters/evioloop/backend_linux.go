package evioloop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/tidwall/evio"

	"github.com/reactorlab/reactor/internal/lifecycle"
	"github.com/reactorlab/reactor/internal/ratelog"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

// stopEvery is how often Shutdown rings the doorbells again while evio has not returned (see
// stopLoops).
const stopEvery = 50 * time.Millisecond

// bellWait bounds how long Start waits for a loop to open its doorbell.
const bellWait = 5 * time.Second

// New returns a backend for cfg. Options evio cannot honour fail with reactor.ErrNotSupported.
func New(cfg reactor.Config) (reactor.Backend, error) {
	if cfg.EdgeTriggered {
		return nil, fmt.Errorf("evio: edge-triggered readiness: %w (evio's epoll is level-triggered only)", reactor.ErrNotSupported)
	}
	if cfg.ReadBufferSize != 0 && cfg.ReadBufferSize != reactor.DefaultReadBufferSize {
		return nil, fmt.Errorf("evio: read size %d: %w (evio reads into a fixed 64 KiB buffer per loop)", cfg.ReadBufferSize, reactor.ErrNotSupported)
	}
	return &backend{
		cfg:        cfg.WithDefaults(),
		newBell:    make(chan any, 1),
		stopAccept: make(chan struct{}),
		dialing:    make(map[*conn]context.CancelCauseFunc),
	}, nil
}

// Stages of a backend's life, in order.
const (
	running  = iota
	draining // Shutdown asked every connection to flush and close; new ones are refused
	stopping // the loops are being stopped; whatever is left is closed by evio
)

type backend struct {
	cfg     reactor.Config
	h       reactor.Handler
	onDrain func(reactor.Conn) // the handler's OnDrain, if it is a reactor.Drainer
	hc      reactor.HalfCloser // the handler, if it is a reactor.HalfCloser
	life    lifecycle.State    // finished once evio.Serve has returned, or by a Start that failed before it ran
	conns   lifecycle.Conns[*conn]

	// The public listener is the adapter's, not evio's: evio's loops end the whole server on
	// any accept error, EMFILE included. evio serves only a private Unix socket, by which the
	// adapter made each loop's doorbell.
	ln         *os.File
	addr       *net.TCPAddr
	stopAccept chan struct{} // closed with ln: cuts accept's back-off short, says the close was meant
	closeLn    sync.Once
	acceptWG   sync.WaitGroup
	acceptLog  ratelog.Limiter // accept and enrollment failures, once a second at most
	newBell    chan any        // a doorbell just opened (*doorbell), or why it could not be (error)

	mu       sync.Mutex
	stage    int
	served   bool        // evio.Serve has returned: no accept goroutine may start
	bells    []*doorbell // one per loop, complete once Start returns
	peers    []net.Conn  // the adapter's ends of the doorbells
	bellPath string      // evio's private socket, until Start removes its name
	startErr error       // why Start failed after evio ran, for Wait

	// stopped mirrors stage == stopping for evio's closing pass, which calls Closed with a nil
	// error for every connection still open: with it set, that nil means ErrServerClosed.
	stopped atomic.Bool

	// Dials in flight (Conn.Dial), each with its goroutine and the cancel Shutdown calls;
	// dialing is guarded by mu.
	dialing map[*conn]context.CancelCauseFunc
	dialWG  sync.WaitGroup

	// Connections whose asynchronous output waits for evio to finish writing what it holds;
	// PreWrite wakes them (see preWrite).
	deferMu  sync.Mutex
	deferred []*conn
	ndefer   atomic.Int32

	// The doorbells PreWrite rings for a sweep, once Start has made them all, when counting
	// (see ringSweeps).
	sweepBells atomic.Pointer[[]*doorbell]
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
	b.hc, _ = h.(reactor.HalfCloser)

	ln, addr, err := listen(b.cfg)
	if err != nil {
		return nil, b.startFailed(err)
	}
	b.ln, b.addr = ln, addr
	rc, err := ln.SyscallConn()
	if err != nil {
		b.closeListener()
		return nil, b.startFailed(err)
	}
	dir, err := os.MkdirTemp("", "reactor-evio-")
	if err != nil {
		b.closeListener()
		return nil, b.startFailed(err)
	}
	b.bellPath = filepath.Join(dir, "bell.sock")

	ready := make(chan struct{}, 1)
	failed := make(chan error, 1)
	events := evio.Events{
		NumLoops: b.cfg.Loops,
		// With LeastConnections only a loop that counts no more connections than any other
		// accepts from the private socket, so Start's doorbells, dialled one at a time, reach
		// every loop once. (The loops that refuse spin on the level-triggered listener while a
		// doorbell waits, which lasts only as long as Start. RoundRobin counts a turn even when
		// the accept finds nothing, and so skips loops.)
		LoadBalance: evio.LeastConnections,
		Serving: func(evio.Server) evio.Action {
			ready <- struct{}{}
			return evio.None
		},
		Opened:   b.opened,
		Data:     b.data,
		Closed:   b.closed,
		PreWrite: b.preWrite,
	}
	// Exits when evio.Serve returns: after Shutdown stopped the loops, after a failed Start, or
	// when evio failed on its own.
	gid := make(chan uint64, 1)
	go func() {
		gid <- goroutineID()
		err := evio.Serve(events, "unix://"+b.bellPath)
		b.mu.Lock()
		b.served = true
		b.stopDialsLocked()
		peers := b.peers
		var end error
		switch {
		case b.startErr != nil:
			end = b.startErr
		case b.stage == stopping:
			end = reactor.ErrServerClosed
		case err != nil:
			end = err
		default:
			end = errors.New("evio: the server stopped on its own (a loop failed)")
		}
		b.mu.Unlock()
		// Nothing is left to take connections; accept exits, and what it queued was closed
		// with the doorbells.
		b.closeListener()
		b.acceptWG.Wait()
		b.dialWG.Wait() // what they made is refused: the doorbells are closed
		for _, p := range peers {
			p.Close()
		}
		os.RemoveAll(dir)
		b.life.Finish(end) // before failed, so that a Start that fails returns finished
		failed <- err
	}()
	select {
	case <-ready:
	case err := <-failed:
		return nil, fmt.Errorf("evio: %w", err)
	}
	b.awaitParked(<-gid)
	if err := b.ringFirst(); err != nil {
		err = fmt.Errorf("evio: %w", err)
		b.mu.Lock()
		b.startErr, b.stage = err, stopping
		b.mu.Unlock()
		b.stopped.Store(true)
		b.closeListener()
		b.stopLoops()
		return nil, err
	}
	// Every loop has its doorbell: the private socket's name can go, so no one else can
	// reach evio.
	os.RemoveAll(dir)
	b.mu.Lock()
	b.bellPath = ""
	if !b.served {
		b.acceptWG.Add(1)
		go b.accept(rc, b.bells)
	}
	b.mu.Unlock()
	return addr, nil
}

// ringFirst makes the doorbells, one per loop: it dials evio's private socket and waits for
// the loop that accepted it to open it (see openBell).
func (b *backend) ringFirst() error {
	seen := map[unsafe.Pointer]bool{}
	for range b.cfg.Loops {
		peer, err := net.DialTimeout("unix", b.bellPath, bellWait)
		if err != nil {
			return err
		}
		b.mu.Lock()
		served := b.served
		if !served {
			b.peers = append(b.peers, peer) // closed once evio has returned
		}
		b.mu.Unlock()
		if served {
			peer.Close()
			return errors.New("evio stopped while its loops were being readied")
		}
		var got any
		select {
		case got = <-b.newBell:
		case <-time.After(bellWait):
			return errors.New("a loop did not open its doorbell")
		}
		d, ok := got.(*doorbell)
		if !ok {
			return got.(error)
		}
		if seen[d.loop] {
			// evio balanced otherwise than LeastConnections promises: a loop left without a
			// doorbell could never be given a connection, nor stopped.
			return errors.New("two doorbells on one loop")
		}
		seen[d.loop] = true
		b.mu.Lock()
		d.st = b.cfg.Stats.Shard(len(b.bells))
		b.bells = append(b.bells, d)
		b.mu.Unlock()
	}
	if b.cfg.Stats != nil {
		b.mu.Lock()
		bells := b.bells
		b.mu.Unlock()
		b.sweepBells.Store(&bells)
	}
	return nil
}

// startFailed ends a Start that failed before evio ran.
func (b *backend) startFailed(err error) error {
	err = fmt.Errorf("evio: %w", err)
	b.mu.Lock()
	b.stage = stopping
	b.mu.Unlock()
	b.life.Finish(err)
	return err
}

// closeListener stops accepting. Safe to call more than once, from any goroutine.
func (b *backend) closeListener() {
	b.closeLn.Do(func() {
		close(b.stopAccept) // first: accept takes the listener's error for a failure otherwise
		if b.ln != nil {
			b.ln.Close()
		}
	})
}

func (b *backend) Shutdown(ctx context.Context) error {
	first, err := b.life.Shutdown(ctx, b.conns.Abort)
	if !first {
		return err
	}
	// Stop accepting first, so that no connection arrives while the others drain; what accept
	// queued before it stopped is refused by the loops (see admit).
	b.closeListener()
	b.mu.Lock()
	b.stage = draining
	b.stopDialsLocked()
	b.mu.Unlock()
	for _, c := range b.conns.Close() {
		c.requestClose(reactor.ErrServerClosed, true)
	}
	b.acceptWG.Wait()
	// The dials in flight give up; their handlers hear of it on their loops (see admit), and
	// a connection made all the same is refused there.
	b.dialWG.Wait()

	select {
	case <-b.conns.Drained():
	case <-b.life.Done():
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

// stopDialsLocked cancels the dials in flight, with ErrServerClosed for their cause. With mu
// held, which Dial holds to start one.
func (b *backend) stopDialsLocked() {
	for _, cancel := range b.dialing {
		cancel(reactor.ErrServerClosed)
	}
}

// stopLoops makes evio.Serve return. evio stops only when a callback returns evio.Shutdown;
// its Tick callback could say so, but evio's ticker goroutine outlives the server and then
// writes to a closed (maybe reused) event descriptor. So the adapter rings the doorbells: in
// the stopping stage their Data call answers evio.Shutdown, and evio stops every loop once one
// has. Before Start has made the doorbells it dials evio's private socket instead, whose Opened
// answers the same. Both repeat until Serve has returned, in case the stop signal was lost
// after all (see awaitParked) while other loops remain to stop.
func (b *backend) stopLoops() {
	tick := time.NewTicker(stopEvery)
	defer tick.Stop()
	done := b.life.Done()
	for {
		select {
		case <-done:
			return
		default:
		}
		b.mu.Lock()
		bells, path := b.bells, b.bellPath
		b.mu.Unlock()
		for _, d := range bells {
			d.ring()
		}
		if path != "" {
			if nc, err := net.DialTimeout("unix", path, time.Second); err == nil {
				nc.Close()
			}
		}
		select {
		case <-done:
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
	done := b.life.Done()
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
		case <-done:
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

func (b *backend) Wait() error { return b.life.Wait() }

// opened is evio's Opened callback, on the connection's loop: for a connection the adapter
// enrolled, or for a doorbell.
func (b *backend) opened(ec evio.Conn) ([]byte, evio.Options, evio.Action) {
	// Every read is lent to OnData and the tail kept by the adapter, so evio need not copy.
	opts := evio.Options{ReuseInputBuffer: true}
	var a *accepted
	switch x := ec.Context().(type) {
	case *accepted:
		a = x
	case *conn:
		if x.hc != nil {
			// A HalfCloser's connection, which the adapter reads itself.
			out, act := x.readSelf()
			return out, opts, act
		}
		// Not a new connection: a paused one whose opened flag steer cleared, so that an
		// event collected before the pause took effect would not read. holdAction keeps
		// evio from setting reading back on.
		x.unopened = false
		return nil, opts, holdAction
	default:
		return nil, opts, b.openBell(ec)
	}
	// The context stays a until the handler may see the connection: Closed ignores it then,
	// but for telling a dial's handler (see closed).
	c := newConn(b, ec, a)
	b.mu.Lock()
	stage := b.stage
	b.mu.Unlock()
	if stage == running && !b.conns.Add(c) {
		stage = draining // Shutdown began since
	}
	switch stage {
	case draining:
		// Enrolled just before Shutdown began: closed at once, before the handler sees it.
		return nil, opts, evio.Close
	case stopping:
		return nil, opts, evio.Shutdown
	}
	ec.SetContext(c)
	c.countOpen(a.out != nil)
	c.open()
	out, act := c.settle(0, false) // a new connection: evio holds no output yet
	if act == evio.None && c.readOff {
		act = holdAction // paused in OnOpen: evio would set reading back on after Opened
	}
	return out, opts, act
}

// openBell opens a connection on evio's private socket: one of the doorbells Start dials, or,
// once the loops are to stop, a dial that stops them.
func (b *backend) openBell(ec evio.Conn) evio.Action {
	if b.stopped.Load() {
		return evio.Shutdown
	}
	var d *doorbell
	var news any
	if err := findLayout(ec); err != nil {
		news = err
	} else {
		d = &doorbell{ec: ec, loop: layout.loopOf(ec)}
		news = d
	}
	select {
	case b.newBell <- news:
		if d == nil {
			return evio.Close
		}
		ec.SetContext(d)
		return evio.None
	default:
		return evio.Close // not one Start made
	}
}

// data is evio's Data callback: in holds bytes read, or is nil when Wake asked for the call.
func (b *backend) data(ec evio.Conn, in []byte) ([]byte, evio.Action) {
	switch x := ec.Context().(type) {
	case *conn:
		if in == nil {
			return x.woken()
		}
		return x.read(in)
	case *doorbell:
		if in == nil {
			return b.admit(x)
		}
		return nil, evio.None // the adapter's end never writes
	}
	return nil, evio.Close
}

// closed is evio's Closed callback: on the connection's loop, or on evio's Serve goroutine in
// its closing pass after every loop has stopped.
func (b *backend) closed(ec evio.Conn, err error) evio.Action {
	switch x := ec.Context().(type) {
	case *conn:
		x.finish(err)
		b.conns.Remove(x)
	case *doorbell:
		x.shut()
	case *accepted:
		// Refused at Opened, or never opened before evio stopped: the handler never saw it,
		// but a dial's handler waits to hear how its dial ended.
		if x.out != nil {
			x.out.dialFailed(backendkit.DialError(x.addr, reactor.ErrServerClosed))
		}
	}
	// Anything else was refused unseen.
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
// handled after that write. Connections still busy defer themselves again. When counting,
// it also rings the loops that have output to sweep for Stats (see ringSweeps).
func (b *backend) preWrite() {
	b.ringSweeps()
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
