//go:build linux

package epoll

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reactorlab/reactor/internal/iouring"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
	"golang.org/x/sys/unix"
)

// What an epoll event carries in its data word: a connection's slot in loop.conns (≥ 0), or
// one of these tags.
const (
	tagWake   = -1 // the loop's eventfd
	tagListen = -2 // the listener this loop accepts on
)

const (
	maxEvents   = 128 // events taken from the kernel per epoll_wait
	maxIovecs   = 64  // buffers per writev: 64 chunks of 16 KiB, a megabyte per system call
	acceptBatch = 64  // accepts per listener event, so a storm of connects cannot starve traffic
	closeLinger = 5 * time.Second
	drainLinger = 500 * time.Millisecond // longest wait for the peer's FIN after ours
	yieldEvery  = 2 * time.Millisecond
	bigBatch    = 1 << 20
	longestWait = time.Hour // caps the wait's timeout, which epoll_wait takes in a C int of ms
	sweepEvery  = 250 * time.Millisecond
	// threadReadSize is the read buffer of a connection's own loop (thread per connection).
	threadReadSize = 16 << 10
)

// edgeReads is how many full reads a connection gets per event in edge-triggered mode before
// it is re-armed, which queues it behind the other ready sockets. A variable only so that
// BenchmarkEdgeRearm can measure what it buys; nothing changes it while a loop runs.
var edgeReads = 16

// errThreadCap is thread per connection's refusal of a connection past maxThreads.
var errThreadCap = errors.New("thread: at the cap of one thread per connection")

// loop is one reactor: an epoll instance, the connections registered with it, and the
// goroutine that waits on it and runs their callbacks (not locked to an OS thread; see run).
// Fields above mu belong to that goroutine alone. Its work is split by concern: this file
// waits and does I/O, accept_linux.go accepts, inbox_linux.go takes other goroutines' tasks,
// close_linux.go closes.
type loop struct {
	s   *server
	h   *handler // the server's, which accepted connections get
	log *slog.Logger

	index int // among the server's loops, from 0: what Conn.Loop reports

	edge                bool
	readSize            int // one read; at most half the high-water mark (see newLoop)
	maxInbound          int
	maxOutbound         int
	highWater, lowWater int    // pause reading above, resume at or below (own pending output)
	poll                poller // epoll, poll or select; nil for io_uring (ring)
	mech                mechanism
	wakefd              int
	lfd                 int      // listener, or -1
	spare               int      // reserve descriptor given up when accept hits EMFILE, or -1
	local               sockAddr // listener's address; conns' local end unless a wildcard
	peers               []*loop  // where accepted connections go, round robin
	next                int
	lastYield           time.Time
	draining            bool
	single              bool // serves one accepted connection, and exits with it (thread per connection)
	live                int
	events              []unix.EpollEvent
	buf                 []byte // the read buffer every connection of the loop reads into
	iov                 []unix.Iovec
	vec                 [][]byte // the pending output of the connection being flushed; empty between flushes
	rsa                 unix.RawSockaddrAny
	wakebuf             [8]byte
	conns               []*conn // by slot; nil for a free slot
	free                []int32
	dirty               []*conn            // connections to settle at the end of the round (see markDirty)
	lingering           []lingerer         // closed connections waiting for the peer's FIN, oldest first
	acceptResume        time.Time          // accepting paused at the descriptor limit until then; zero: accepting
	acceptWait          time.Duration      // the last such pause, doubled while the limit lasts
	work                batch              // the inbox taken over by runTasks
	posting             bool               // runTasks is running a posted function (see takeInboxed)
	workNext, workOff   int                // meanwhile: the next task of work, and where its data starts
	drainMark           int                // Config.LowWater
	dials               map[*conn]*dialing // dials in progress (dial_linux.go)

	// The completion mechanism's state (uring_linux.go): the ring and its receive buffers,
	// the requests in flight (the loop exits only when none is), the gathering sends' state,
	// what a request queued this round reads when it is submitted, the listener's accepts,
	// whether receives take a byte limit, whether the loop has cancelled its own requests
	// to exit, and the epoll set of connections waiting to be writable (uring_linux.go,
	// waitWritable).
	ring       *iouring.Ring
	bufs       *iouring.BufRing
	inflight   int
	sendOps    []*sendOp // by slot, while a gathering send is in flight
	spareSends []*sendOp
	pinned     []any
	acc        *acceptor
	recvLimit  bool
	quiet      bool
	outfd      int // -1 until a connection first has to wait
	outWaiting int // connections waiting in outfd
	outArmed   bool
	outEvents  []unix.EpollEvent

	// Config.Stats' shard for this loop (nil: nothing is counted), and when each connection
	// opened, by slot, on the loop's clock: kept here, and only when counting, rather than in
	// every connection.
	st   *reactor.StatShard
	born []int64

	// Connections paused by PauseRead or at their end of stream (HalfCloser), and when a
	// select loop next asks their sockets for an error (see sweepHeld).
	nheld     int
	heldSweep time.Time

	// AfterFunc's timers: a min-heap by deadline, and a free list of nodes (timer_linux.go).
	epoch      time.Time // the loop's clock starts here (monotonic)
	timers     []*timer
	freeTimers *timer
	nfree      int

	// sleeping is true while the loop is (about to be) blocked in epoll_wait. A goroutine that
	// posts a task swaps it to false and, if it was true, writes the eventfd: a busy loop finds
	// the task on its own before it next waits, so wakers pay for a system call only when the
	// loop really sleeps.
	sleeping atomic.Bool

	// posted says the inbox holds tasks, so the loop can check before it sleeps without taking
	// the mutex. Set under mu by posters, cleared under mu by runTasks.
	posted atomic.Bool

	mu      sync.Mutex
	inbox   batch           // guarded by mu
	stopped bool            // guarded by mu: the loop has exited; posts are refused
	aborts  map[*conn]error // guarded by mu: Abort's cause, until handleRequest acts on it
}

// handler is what serves a connection — the server's handler, or the one given to Dial — with
// its optional interfaces looked up once, so that the loop neither asserts types nor makes
// method values (which allocate) per call.
type handler struct {
	reactor.Handler
	drain      func(reactor.Conn) // OnDrain, or nil if it is no Drainer
	halfCloser reactor.HalfCloser // or nil: the peer's end of stream closes the connection
}

func newHandler(h reactor.Handler) *handler {
	hd := &handler{Handler: h}
	if d, ok := h.(reactor.Drainer); ok {
		hd.drain = d.OnDrain
	}
	if hc, ok := h.(reactor.HalfCloser); ok {
		hd.halfCloser = hc
	}
	return hd
}

func newLoop(s *server, index int) (*loop, error) {
	cfg := s.cfg
	// A read is at most half the high-water mark: reading pauses once pending output passes
	// half, so a handler that answers a read with as many bytes (echo) never breaks the mark.
	l := &loop{
		s: s, h: s.h, log: cfg.Logger, index: index,
		edge:        cfg.EdgeTriggered,
		readSize:    min(cfg.ReadBufferSize, max(cfg.MaxOutbound/2, 1)),
		maxInbound:  cfg.MaxInbound,
		maxOutbound: cfg.MaxOutbound,
		highWater:   cfg.MaxOutbound / 2,
		lowWater:    cfg.MaxOutbound / 4,
		drainMark:   cfg.LowWater,
		st:          cfg.Stats.Shard(index),
		epoch:       time.Now(),
		mech:        s.mech,
		wakefd:      -1, lfd: -1, spare: -1, outfd: -1,
		events: make([]unix.EpollEvent, maxEvents),
		iov:    make([]unix.Iovec, 0, maxIovecs),
		vec:    make([][]byte, 0, maxIovecs),
	}
	if s.mech == mechThread && index > 0 {
		// A loop for one connection (the acceptor is loop 0): a few events at most — its
		// socket, its eventfd, a socket it dialed — and a read buffer a thread's worth.
		l.events = l.events[:8]
		l.readSize = min(l.readSize, threadReadSize)
	}
	var err error
	if l.wakefd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return nil, os.NewSyscallError("eventfd", err)
	}
	if s.mech == mechURing {
		if err = l.newRing(); err != nil {
			l.closeFds()
			return nil, err
		}
		return l, nil // the kernel picks receive buffers from the ring's; no read buffer
	}
	l.buf = make([]byte, l.readSize)
	if l.poll, err = newPoller(s.mech); err != nil {
		l.closeFds()
		return nil, err
	}
	if err = l.poll.add(l.wakefd, tagWake, unix.EPOLLIN); err != nil {
		l.closeFds()
		return nil, err
	}
	return l, nil
}

// closeFds closes the loop's own descriptors (not the listener: see closeListener).
func (l *loop) closeFds() {
	for _, fd := range []*int{&l.spare, &l.wakefd} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
	if l.poll != nil {
		l.poll.close()
		l.poll = nil
	}
	l.closeRing()
}

// run is the loop's goroutine. It returns after Shutdown has closed every connection, or after
// a failure of epoll itself, leaving no descriptor of the loop open.
//
// The goroutine is deliberately not locked to its OS thread. Measured on a 2-core VM with
// GOMAXPROCS=1: locked, every yield to the scheduler (below) becomes a hand-over between two
// threads, which cost a quarter more CPU per echo round trip at a steady 20,000 per second;
// locked without yielding, the scheduler's retake storm (see serve) cost up to 8% under
// pipelined load. Unlocked and yielding, the loop matched a native gnet server on both.
//
// Thread per connection (mechThread) is the exception, by definition of the model: each of its
// loops is locked to an OS thread, which ends with the goroutine, and so with the connection.
func (l *loop) run() {
	if l.mech == mechThread {
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
	}
	err := l.serve()
	if err != nil {
		l.kill(err)
	}
	l.stop()
	l.s.loopDone(l, err)
}

func (l *loop) serve() error {
	for l.more() {
		var n int
		var err error
		if l.ring != nil {
			if l.draining && l.live == 0 {
				l.quiesce()
			}
			err = l.ringWait()
		} else {
			n, err = l.pollWait()
		}
		if err != nil {
			return err
		}
		if len(l.lingering) > 0 {
			l.expireLingering()
		}
		if !l.acceptResume.IsZero() && !time.Now().Before(l.acceptResume) {
			l.resumeAccept()
		}
		if l.sweeping() && !time.Now().Before(l.heldSweep) {
			l.sweepHeld()
		}
		if l.ring != nil {
			l.reap()
		}
		for i := range l.events[:n] {
			ev := &l.events[i]
			switch ev.Fd {
			case tagWake:
				unix.Read(l.wakefd, l.wakebuf[:]) // reset the counter; the tasks are the message
			case tagListen:
				l.accept()
			default:
				// A slot is only reused after its connection closed, and a connection is
				// only closed by its own event or by runTasks, so the slot still names the
				// connection the kernel reported; nil means it closed earlier this round.
				if c := l.conns[ev.Fd]; c != nil {
					l.ready(c, ev.Events)
				}
			}
		}
		if len(l.timers) > 0 {
			l.runTimers()
		}
		l.runTasks()
		if len(l.dirty) > 0 {
			l.settleDirty()
		}
		// The loop goroutine never parks, so to the Go scheduler it is one goroutine running
		// without end: after 10 ms it preempts it by force and from then on takes the P away
		// at its system calls, waking other threads every time — a retake storm (measured
		// under pipelined HTTP load: the scheduler's monitor woke 40 times as often, with half
		// again as many context switches). A yield every couple of milliseconds, cheap for an
		// unlocked goroutine, prevents that and lets other goroutines of this P run.
		if now := time.Now(); l.mech != mechThread && now.Sub(l.lastYield) > yieldEvery {
			l.lastYield = now
			runtime.Gosched()
		}
	}
	return nil
}

// more reports whether the loop has more to do. A loop that serves one connection (thread per
// connection) is done once it has none left and nothing posted to it: its connection arrives
// in its inbox before it starts, and a connection it dials stays with it. A ring's loop also
// waits for every completion in flight.
func (l *loop) more() bool {
	if l.single {
		return l.live > 0 || l.posted.Load()
	}
	return !l.draining || l.live > 0 || l.inflight > 0
}

// pollWait waits for readiness, unless work is waiting, until the loop's next deadline.
func (l *loop) pollWait() (int, error) {
	timeout := l.timeout()
	l.sleeping.Store(true)
	if l.posted.Load() || len(l.dirty) > 0 {
		timeout = 0 // work left for this goroutine: look at the sockets, do not sleep
	}
	n, err := l.poll.wait(l.events, timeout)
	l.sleeping.Store(false)
	return n, err
}

// ready handles the readiness the kernel reported for c.
func (l *loop) ready(c *conn, events uint32) {
	if c.state == stateConnecting {
		l.connected(c, events)
		return
	}
	if events&unix.EPOLLOUT != 0 && c.blocked {
		c.blocked = false
		l.flush(c)
	}
	if c.state == stateClosed || events&(unix.EPOLLIN|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
		return
	}
	if c.state == stateLingering {
		l.discard(c)
		return
	}
	if c.reading() {
		l.read(c, events)
		return
	}
	if events&(unix.EPOLLERR|unix.EPOLLHUP) == 0 {
		return
	}
	// Not reading (paused, at its end of stream or closing), yet the socket failed or hung
	// up: find out why and stop, or level-triggered epoll would report it forever.
	err := socketError(int(c.fd))
	if err == io.EOF && c.state == stateOpen {
		// A hang-up without an error: both halves ended in order, our CloseWrite and the
		// peer's FIN, while reading is paused. What the peer sent, its end of stream
		// included, waits for ResumeRead; meanwhile the socket is muted.
		l.mute(c)
		return
	}
	l.abort(c, err)
}

// mute stops a level-triggered loop from hearing of c at all, hang-ups included (which epoll
// and poll report whatever the interest) until its interest changes (update). Edge-triggered,
// the hang-up was reported once and needs nothing.
func (l *loop) mute(c *conn) {
	if l.edge || c.events == evMuted {
		return
	}
	if err := l.poll.mod(int(c.fd), c.slot, evMuted); err != nil {
		l.abort(c, err)
		return
	}
	c.events = evMuted
}

func socketError(fd int) error {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	switch {
	case err != nil:
		return os.NewSyscallError("getsockopt", err)
	case v != 0:
		return os.NewSyscallError("socket", unix.Errno(v))
	}
	return io.EOF
}

// read reads what c's socket holds into the loop's buffer and hands it to the handler.
func (l *loop) read(c *conn, events uint32) {
	for i := 1; ; i++ {
		n, err := unix.Read(int(c.fd), l.buf)
		l.st.Received(n)
		switch {
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR:
			continue
		case err != nil:
			l.abort(c, os.NewSyscallError("read", err))
			return
		case n == 0:
			if c.h.halfCloser != nil {
				l.readEOF(c)
				return
			}
			l.beginClose(c, io.EOF)
			return
		}
		l.deliver(c, l.buf[:n])
		// Level-triggered: one read per event is fair to the other connections; epoll
		// reports c again if more is waiting. Edge-triggered: epoll reports only new
		// arrivals, so read until a short read shows the socket drained (epoll(7)) — unless
		// the peer's FIN had arrived too (EPOLLRDHUP): that end of stream is no new arrival
		// and would never be reported again, so read on until read says so. After edgeReads
		// full reads, re-arm c instead, which queues it behind the others.
		if !c.reading() || !l.edge || n < len(l.buf) && events&unix.EPOLLRDHUP == 0 {
			return
		}
		if i >= edgeReads {
			l.rearm(c)
			return
		}
	}
}

// deliver presents p, after any unconsumed input, to the handler and acts on what it did.
func (l *loop) deliver(c *conn, p []byte) {
	in := p
	if c.in != nil {
		// Only the unconsumed tail is copied, and only when a message spans reads.
		*c.in = append(*c.in, p...)
		in = *c.in
	}
	n, a, err := l.callData(c, in)
	if err != nil {
		l.abort(c, err)
		return
	}
	switch rest := in[n:]; {
	case len(rest) == 0:
		c.dropTail()
	case len(rest) > l.maxInbound:
		l.abort(c, reactor.ErrInboundFull)
		return
	case n > 0 || c.in == nil:
		c.keepTail(rest)
	}
	l.settle(c)
	if a == reactor.Close {
		l.beginClose(c, nil)
	}
}

// settle acts on what a callback left behind: a Close or Abort it asked for (or a broken
// high-water mark), output it wrote, which is sent now, while it is hot in the cache, and a
// PauseRead or ResumeRead, which change the interest.
func (l *loop) settle(c *conn) {
	if c.req.Load()&reqEnding != 0 {
		l.handleRequest(c)
	}
	switch {
	case c.state == stateClosed, c.state == stateLingering:
		// Gone, or discarding input with the interest finishClose set.
	case (c.out.Len() > 0 || c.shut == shutAsked) && !c.blocked:
		l.flush(c)
	default:
		l.update(c) // no system call unless the interest changes
	}
}

// markDirty has c settled at the end of the round: after AsyncWrite bytes moved into its
// queue or a posted function, so that a round's output for c goes out in one writev; after a
// PauseRead or ResumeRead made outside c's own callbacks; for an OnDrain that is due.
func (l *loop) markDirty(c *conn) {
	if !c.dirty {
		c.dirty = true
		l.dirty = append(l.dirty, c)
	}
}

// settleDirty settles the connections marked this round, presents the input left waiting to
// those resumed, and calls OnDrain where it is due. Connections marked while it runs are
// settled next round, before which the loop does not sleep: a handler that resumes or drains
// the same connection again and again cannot keep the loop from its sockets.
func (l *loop) settleDirty() {
	n := len(l.dirty)
	for i := 0; i < n; i++ {
		c := l.dirty[i]
		l.dirty[i] = nil
		c.dirty = false
		if c.state == stateClosed {
			continue
		}
		l.settle(c)
		if c.resumed && c.reading() {
			c.resumed = false
			if l.edge {
				l.rearm(c) // input that arrived while paused was reported once, and not read
			}
			if c.in != nil && c.state == stateOpen {
				l.deliver(c, nil) // unconsumed input waited too; it may not be followed by more
			}
			if c.ring&ringEOF != 0 && c.reading() {
				l.peerEOF(c) // io_uring: the end of stream came while reading was paused
			}
		}
		if c.drainDue {
			c.drainDue = false
			if c.state == stateOpen {
				if err := l.callFunc(c, c.h.drain); err != nil {
					l.abort(c, err)
					continue
				}
				l.settle(c)
			}
		}
	}
	k := copy(l.dirty, l.dirty[n:])
	clear(l.dirty[k:n])
	l.dirty = l.dirty[:k]
}

// flush writes as much of c's pending output as the socket takes, in one writev per
// maxIovecs chunks (a plain write when there is one). What does not fit waits for EPOLLOUT.
func (l *loop) flush(c *conn) {
	pending := c.backlog.Load()
	if l.ring != nil {
		l.ringFlush(c)
		l.flushed(c, pending)
		return
	}
	for c.out.Len() > 0 {
		var n, total int
		var err error
		// The loop's list rather than one kept in every connection that has written.
		bufs := c.out.AppendBuffers(l.vec[:0], maxIovecs)
		if len(bufs) == 1 {
			// The common case, a reply that fits one chunk: plain write spares the kernel
			// from importing an iovec.
			total = len(bufs[0])
			n, err = unix.Write(int(c.fd), bufs[0])
		} else {
			iov := l.iov[:0]
			for _, b := range bufs {
				iov = append(iov, unix.Iovec{Base: &b[0]})
				iov[len(iov)-1].SetLen(len(b))
				total += len(b)
			}
			n, err = writev(int(c.fd), iov)
		}
		clear(bufs) // no hold on chunks that Discard returns to their pool
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			c.blocked = true
			break
		}
		if err != nil {
			l.abort(c, os.NewSyscallError("writev", err))
			return
		}
		c.out.Discard(n)
		c.backlog.Add(-int64(n))
		l.st.Sent(n)
		l.st.Buffer(-n)
		if n < total {
			// The send buffer is full; another writev would only fail with EAGAIN.
			c.blocked = true
			break
		}
	}
	l.flushed(c, pending)
}

// flushed acts on what a flush left: OnDrain due, a graceful close or a CloseWrite whose output
// is all sent, and the interest that follows. pending is the output before the flush.
func (l *loop) flushed(c *conn, pending int64) {
	if c.h.drain != nil && c.state == stateOpen {
		l.checkDrain(c, pending)
	}
	if c.blocked && c.state == stateClosing {
		linger(c)
	}
	if c.out.Len() == 0 {
		switch {
		case c.state == stateClosing && c.backlog.Load() == 0:
			l.finishClose(c)
			return
		case c.state == stateClosing:
			// AsyncWrites made before the Close still sit in the inbox; runTasks brings
			// them here and the close completes once they are sent.
		case c.shut == shutAsked && c.state == stateOpen:
			// CloseWrite took the AsyncWrites made before it out of the inbox; no more
			// can come.
			if l.shutWrite(c); c.state == stateClosed {
				return
			}
		}
	}
	l.update(c)
}

// update pauses or resumes reading from c by its pending output, and in level-triggered mode
// registers the interest that follows: EPOLLIN while reading, EPOLLOUT only while output
// waits for room, so a quiet connection costs epoll nothing.
func (l *loop) update(c *conn) {
	if l.ring != nil {
		l.ringUpdate(c)
		return
	}
	pending, resumed := c.out.Len(), false
	if c.state == stateOpen {
		switch {
		case !c.paused && pending > l.highWater:
			// Our own replies pile up: stop reading, so TCP flow control slows the peer down
			// instead of the high-water mark closing it.
			c.paused = true
		case c.paused && pending <= l.lowWater:
			c.paused, resumed = false, true
		}
	}
	if resumed && c.resumed {
		// A ResumeRead waited for this; settleDirty re-arms and presents waiting input.
		l.markDirty(c)
	}
	if l.edge {
		// The interest never changes in edge-triggered mode; a reader that was paused is
		// re-armed so that input which arrived meanwhile is reported (unless PauseRead
		// still holds it: ResumeRead re-arms then).
		if resumed && !c.resumed && !c.held {
			l.rearm(c)
		}
		return
	}
	var want uint32
	if c.reading() {
		want |= unix.EPOLLIN
	}
	if c.blocked {
		want |= unix.EPOLLOUT
	}
	if want != c.events && (want != 0 || c.events != evMuted) {
		if err := l.poll.mod(int(c.fd), c.slot, want); err != nil {
			l.abort(c, err)
			return
		}
		c.events = want
	}
}

// rearm re-registers c with its unchanged interest; epoll then checks its readiness afresh and
// reports it, edge-triggered or not, if it has input waiting.
func (l *loop) rearm(c *conn) {
	if err := l.poll.mod(int(c.fd), c.slot, c.events); err != nil {
		l.abort(c, err)
	}
}

// timeout is the wait's timeout in milliseconds: -1 (none) unless the loop keeps a deadline —
// the earliest timer's, the oldest lingering connection's, or the end of a pause in
// accepting — rounded up so that the wait does not end before it. (A timer is never run early
// even so: runTimers compares with the clock.)
func (l *loop) timeout() int {
	d, ok := l.nextDeadline()
	if !ok {
		return -1
	}
	if d <= 0 {
		return 0
	}
	d = min(d, longestWait)
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// nextDeadline is the time until the loop's earliest deadline, and whether it keeps one.
func (l *loop) nextDeadline() (time.Duration, bool) {
	var next time.Time
	if len(l.lingering) > 0 {
		next = l.lingering[0].until
	}
	if !l.acceptResume.IsZero() && (next.IsZero() || l.acceptResume.Before(next)) {
		next = l.acceptResume
	}
	if l.sweeping() && (next.IsZero() || l.heldSweep.Before(next)) {
		next = l.heldSweep
	}
	d, ok := l.nextTimer()
	if !next.IsZero() {
		if u := time.Until(next); !ok || u < d {
			d, ok = u, true
		}
	}
	return d, ok
}

// drain starts a graceful shutdown of the loop: no more accepts; every connection flushes and
// closes. The loop exits when the last one is gone.
func (l *loop) drain() {
	l.draining = true
	l.closeListener()
	for _, c := range l.conns {
		if c != nil {
			l.beginClose(c, reactor.ErrServerClosed)
		}
	}
}

// kill aborts every connection of the loop with cause, which then exits.
func (l *loop) kill(cause error) {
	l.draining = true
	l.closeListener()
	for _, c := range l.conns {
		if c != nil {
			l.abort(c, cause)
		}
	}
}

// stop refuses further posts, disposes of what is left in the inbox and closes the loop's
// descriptors. Connections handed over but never attached are closed without callbacks.
func (l *loop) stop() {
	l.mu.Lock()
	l.stopped = true
	left := l.inbox
	l.inbox = batch{}
	l.mu.Unlock()
	for _, t := range left.tasks {
		if t.op == opAttach {
			unix.Close(int(t.c.fd))
		}
	}
	l.closeListener()
	l.closeFds()
}

// The handler's callbacks, each behind a recover: a panicking handler costs its connection,
// never the loop.

func (l *loop) callOpen(c *conn) error { return backendkit.CallOpen(l.log, c.h.Handler, c) }

func (l *loop) callData(c *conn, in []byte) (int, reactor.Action, error) {
	return backendkit.CallData(l.log, c.h.Handler, c, in)
}

func (l *loop) callClose(c *conn, cause error) {
	if l.st != nil {
		l.countClose(c, cause)
	}
	if backendkit.CallClose(l.log, c.h.Handler, c, cause) {
		l.st.HandlerPanic()
	}
}

// countOpen counts c, accepted or dialed, as open from now.
func (l *loop) countOpen(c *conn, dialed bool) {
	if l.st == nil {
		return
	}
	if dialed {
		l.st.Dialed()
	} else {
		l.st.Accepted()
	}
	for int(c.slot) >= len(l.born) {
		l.born = append(l.born, 0)
	}
	l.born[c.slot] = l.clock()
}

// countClose counts the end of c: a close with its lifetime, or a dial that failed.
func (l *loop) countClose(c *conn, cause error) {
	if errors.Is(cause, reactor.ErrDialFailed) {
		l.st.DialFailed()
		return
	}
	l.st.Closed(cause, time.Duration(l.clock()-l.born[c.slot]))
}

// callFunc runs a posted or timer function, or OnDrain, for c.
func (l *loop) callFunc(c *conn, f func(reactor.Conn)) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = backendkit.HandlerPanic(l.log, c.RemoteAddr().String(), v)
		}
	}()
	f(c)
	return nil
}

// checkDrain notes, for a Drainer handler, pending output above Config.LowWater (pending, as it
// was before the flush that just ran) and has OnDrain called once it falls to the mark or below.
// Seen at flushes only, as output only ever shrinks there.
func (l *loop) checkDrain(c *conn, pending int64) {
	if pending > int64(l.drainMark) {
		c.above = true
	}
	if c.above && c.backlog.Load() <= int64(l.drainMark) {
		c.above, c.drainDue = false, true
		l.markDirty(c)
	}
}

// sweeping reports whether the loop sweeps its paused connections for errors: select reports
// a socket's error or reset only as readability, and a paused connection is not watched for
// input, which would be reported again and again while it waits. epoll and poll report errors
// whatever the interest.
func (l *loop) sweeping() bool { return l.nheld > 0 && l.mech.sweeps() }

// hold counts a connection whose input the loop no longer watches — paused by PauseRead, or at
// the end of stream a HalfCloser was given — for select's sweep; release counts it out.
func (l *loop) hold() {
	if l.nheld++; l.nheld == 1 && l.mech.sweeps() {
		l.heldSweep = time.Now().Add(sweepEvery) // see sweepHeld
	}
}

// sweepHeld aborts the paused connections whose socket holds an error (a reset, say), so that
// errors still close a paused connection under select; then it sets the next sweep. Its cost,
// a getsockopt per paused connection four times a second, is select's alone, and select
// watches at most 1024 descriptors.
func (l *loop) sweepHeld() {
	for _, c := range l.conns {
		if c == nil || !c.held && !c.eof || c.state != stateOpen {
			continue
		}
		if v, err := unix.GetsockoptInt(int(c.fd), unix.SOL_SOCKET, unix.SO_ERROR); err == nil && v != 0 {
			l.abort(c, os.NewSyscallError("socket", unix.Errno(v)))
		}
	}
	l.heldSweep = time.Now().Add(sweepEvery)
}
