//go:build linux

package epoll

import (
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reactorlab/reactor/reactor"
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
	edgeReads   = 16  // reads per event in edge-triggered mode before the connection is re-armed
	closeLinger = 5 * time.Second
	drainLinger = 500 * time.Millisecond // longest wait for the peer's FIN after ours
	yieldEvery  = 2 * time.Millisecond
	bigBatch    = 1 << 20
)

// op says what a task asks of the loop.
type op uint8

const (
	opWrite   op = iota // move n AsyncWrite bytes from the batch's data to c's outbound queue
	opTaken             // an opWrite whose bytes a Write already moved (takeInboxed): skip n
	opRequest           // act on c.req: a Close or Abort made outside the loop
	opAttach            // adopt c, accepted by another loop
	opDrain             // Shutdown: stop accepting, close every connection gracefully
	opKill              // Shutdown's context ended, or a loop failed: abort every connection
)

type task struct {
	c  *conn
	op op
	n  int
}

// batch is the loop's inbox: tasks, and the AsyncWrite bytes they refer to, back to back in one
// buffer. Two batches are swapped rather than reallocated, so steady traffic allocates nothing.
type batch struct {
	tasks []task
	data  []byte
}

// lingerer is a closed connection that still drains its peer's input, until a deadline.
type lingerer struct {
	c     *conn
	until time.Time
}

// wakeBytes is the 8-byte counter increment written to an eventfd.
var wakeBytes = func() (b [8]byte) { binary.NativeEndian.PutUint64(b[:], 1); return }()

// loop is one reactor: an epoll instance, the connections registered with it, and the
// goroutine (locked to its OS thread) that waits on it and runs their callbacks. Fields above
// mu belong to that goroutine alone.
type loop struct {
	s   *server
	h   reactor.Handler
	log *slog.Logger

	edge                bool
	readSize            int // one read; at most half the high-water mark (see newLoop)
	maxInbound          int
	maxOutbound         int
	highWater, lowWater int    // pause reading above, resume at or below (own pending output)
	poll                poller // epoll, poll or select
	mech                mechanism
	wakefd              int
	lfd                 int      // listener, or -1
	spare               int      // reserve descriptor given up when accept hits EMFILE, or -1
	local               sockAddr // listener's address; conns' local end unless a wildcard
	peers               []*loop  // where accepted connections go, round robin
	next                int
	lastYield           time.Time
	draining            bool
	live                int
	events              []unix.EpollEvent
	buf                 []byte // the read buffer every connection of the loop reads into
	iov                 []unix.Iovec
	rsa                 unix.RawSockaddrAny
	wakebuf             [8]byte
	conns               []*conn // by slot; nil for a free slot
	free                []int32
	dirty               []*conn       // connections given AsyncWrite bytes this round
	lingering           []lingerer    // closed connections waiting for the peer's FIN, oldest first
	acceptResume        time.Time     // accepting paused at the descriptor limit until then; zero: accepting
	acceptWait          time.Duration // the last such pause, doubled while the limit lasts
	work                batch         // the inbox taken over by runTasks

	// sleeping is true while the loop is (about to be) blocked in epoll_wait. A goroutine that
	// posts a task swaps it to false and, if it was true, writes the eventfd: a busy loop finds
	// the task on its own before it next waits, so wakers pay for a system call only when the
	// loop really sleeps.
	sleeping atomic.Bool

	// posted says the inbox holds tasks, so the loop can check before it sleeps without taking
	// the mutex. Set under mu by posters, cleared under mu by runTasks.
	posted atomic.Bool

	mu      sync.Mutex
	inbox   batch // guarded by mu
	stopped bool  // guarded by mu: the loop has exited; posts are refused
}

func newLoop(s *server) (*loop, error) {
	cfg := s.cfg
	// A read is at most half the high-water mark: reading pauses once pending output passes
	// half, so a handler that answers a read with as many bytes (echo) never breaks the mark.
	l := &loop{
		s: s, h: s.h, log: cfg.Logger,
		edge:        cfg.EdgeTriggered,
		readSize:    min(cfg.ReadBufferSize, max(cfg.MaxOutbound/2, 1)),
		maxInbound:  cfg.MaxInbound,
		maxOutbound: cfg.MaxOutbound,
		highWater:   cfg.MaxOutbound / 2,
		lowWater:    cfg.MaxOutbound / 4,
		mech:        s.mech,
		wakefd:      -1, lfd: -1, spare: -1,
		events: make([]unix.EpollEvent, maxEvents),
		iov:    make([]unix.Iovec, 0, maxIovecs),
	}
	l.buf = make([]byte, l.readSize)
	var err error
	if l.poll, err = newPoller(s.mech); err != nil {
		return nil, err
	}
	if l.wakefd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		l.closeFds()
		return nil, os.NewSyscallError("eventfd", err)
	}
	if err = l.poll.add(l.wakefd, tagWake, unix.EPOLLIN); err != nil {
		l.closeFds()
		return nil, err
	}
	return l, nil
}

// listenOn makes the loop an acceptor for lfd, which it owns from then on.
func (l *loop) listenOn(lfd int, local sockAddr) error {
	if err := l.poll.add(lfd, tagListen, unix.EPOLLIN); err != nil {
		return err
	}
	l.lfd, l.local = lfd, local
	l.spare = openSpare()
	return nil
}

func openSpare() int {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
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
}

// run is the loop's goroutine. It returns after Shutdown has closed every connection, or after
// a failure of epoll itself, leaving no descriptor of the loop open.
//
// The goroutine is deliberately not locked to its OS thread. Measured on a 2-core VM with
// GOMAXPROCS=1: locked, every yield to the scheduler (below) becomes a hand-over between two
// threads, which cost a quarter more CPU per echo round trip at a steady 20,000 per second;
// locked without yielding, the scheduler's retake storm (see serve) cost up to 8% under
// pipelined load. Unlocked and yielding, the loop matched a native gnet server on both.
func (l *loop) run() {
	err := l.serve()
	if err != nil {
		l.kill(err)
	}
	l.stop()
	l.s.loopDone(err)
}

func (l *loop) serve() error {
	for !l.draining || l.live > 0 {
		timeout := l.timeout()
		l.sleeping.Store(true)
		if l.posted.Load() {
			timeout = 0 // posted after the last runTasks: look at the sockets, do not sleep
		}
		n, err := l.poll.wait(l.events, timeout)
		l.sleeping.Store(false)
		if err != nil {
			return err
		}
		if len(l.lingering) > 0 {
			l.expireLingering()
		}
		if !l.acceptResume.IsZero() && !time.Now().Before(l.acceptResume) {
			l.resumeAccept()
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
		l.runTasks()
		// The loop goroutine never parks, so to the Go scheduler it is one goroutine running
		// without end: after 10 ms it preempts it by force and from then on takes the P away
		// at its system calls, waking other threads every time — a retake storm (measured
		// under pipelined HTTP load: the scheduler's monitor woke 40 times as often, with half
		// again as many context switches). A yield every couple of milliseconds, cheap for an
		// unlocked goroutine, prevents that and lets other goroutines of this P run.
		if now := time.Now(); now.Sub(l.lastYield) > yieldEvery {
			l.lastYield = now
			runtime.Gosched()
		}
	}
	return nil
}

// ready handles the readiness the kernel reported for c.
func (l *loop) ready(c *conn, events uint32) {
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
	if c.state == stateOpen && !c.paused {
		l.read(c, events)
		return
	}
	if events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		// Not reading (paused or closing), yet the socket failed: find out why and stop,
		// or level-triggered epoll would report the error forever.
		l.abort(c, socketError(c.fd))
	}
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
		n, err := unix.Read(c.fd, l.buf)
		switch {
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR:
			continue
		case err != nil:
			l.abort(c, os.NewSyscallError("read", err))
			return
		case n == 0:
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
		if c.state != stateOpen || c.paused || !l.edge || n < len(l.buf) && events&unix.EPOLLRDHUP == 0 {
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
// high-water mark), and output it wrote, which is sent now, while it is hot in the cache.
func (l *loop) settle(c *conn) {
	if c.req.Load() != 0 {
		l.handleRequest(c)
	}
	switch {
	case c.state == stateClosed:
	case c.out.Len() > 0 && !c.blocked:
		l.flush(c)
	case c.blocked:
		l.update(c)
	}
}

// flush writes as much of c's pending output as the socket takes, in one writev per
// maxIovecs chunks (a plain write when there is one). What does not fit waits for EPOLLOUT.
func (l *loop) flush(c *conn) {
	for c.out.Len() > 0 {
		var n, total int
		var err error
		if bufs := c.out.Buffers(maxIovecs); len(bufs) == 1 {
			// The common case, a reply that fits one chunk: plain write spares the kernel
			// from importing an iovec.
			total = len(bufs[0])
			n, err = unix.Write(c.fd, bufs[0])
		} else {
			iov := l.iov[:0]
			for _, b := range bufs {
				iov = append(iov, unix.Iovec{Base: &b[0]})
				iov[len(iov)-1].SetLen(len(b))
				total += len(b)
			}
			n, err = writev(c.fd, iov)
		}
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
		if n < total {
			// The send buffer is full; another writev would only fail with EAGAIN.
			c.blocked = true
			break
		}
	}
	if c.blocked && c.state == stateClosing {
		linger(c)
	}
	if c.state == stateClosing && c.out.Len() == 0 {
		if c.backlog.Load() == 0 {
			l.finishClose(c)
			return
		}
		// AsyncWrites made before the Close still sit in the inbox; runTasks brings them
		// here and the close completes once they are sent.
	}
	l.update(c)
}

// update pauses or resumes reading from c by its pending output, and in level-triggered mode
// registers the interest that follows: EPOLLIN while reading, EPOLLOUT only while output
// waits for room, so a quiet connection costs epoll nothing.
func (l *loop) update(c *conn) {
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
	if l.edge {
		// The interest never changes in edge-triggered mode; a reader that was paused is
		// re-armed so that input which arrived meanwhile is reported.
		if resumed {
			l.rearm(c)
		}
		return
	}
	var want uint32
	if c.state == stateOpen && !c.paused {
		want |= unix.EPOLLIN
	}
	if c.blocked {
		want |= unix.EPOLLOUT
	}
	if want != c.events {
		if err := l.poll.mod(c.fd, c.slot, want); err != nil {
			l.abort(c, err)
			return
		}
		c.events = want
	}
}

// rearm re-registers c with its unchanged interest; epoll then checks its readiness afresh and
// reports it, edge-triggered or not, if it has input waiting.
func (l *loop) rearm(c *conn) {
	if err := l.poll.mod(c.fd, c.slot, c.events); err != nil {
		l.abort(c, err)
	}
}

// beginClose stops reading from c and closes it once its output is sent.
func (l *loop) beginClose(c *conn, cause error) {
	if c.state != stateOpen {
		return
	}
	c.state, c.closeErr = stateClosing, cause
	c.dropTail()
	if c.blocked {
		linger(c)
		l.update(c) // EPOLLOUT will finish the job
		return
	}
	l.flush(c)
}

// linger bounds the wait of a graceful close whose output the peer has not taken yet. It
// waits, but not forever: if the peer acknowledges nothing for closeLinger, the kernel gives
// up on the connection (ETIMEDOUT) and the loop sees the error on the socket. A peer that
// reads, however slowly, keeps it alive. The kernel keeps the clock, so the loop needs none.
func linger(c *conn) {
	unix.SetsockoptInt(c.fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(closeLinger/time.Millisecond))
}

// finishClose ends c, whose output has all been sent. A peer that has not finished sending
// gets a lingering close: closing a socket that holds unread input, or that input arrives at
// later, makes the kernel answer with a reset, which destroys whatever of the reply the peer
// has not read yet (a large reply to a request pipelined before more input, say). So the
// write side is shut down (FIN) and the connection, closed as far as the handler knows, goes
// on discarding input until the peer's FIN or drainLinger, whichever comes first.
func (l *loop) finishClose(c *conn) {
	if c.closeErr == io.EOF {
		l.release(c, io.EOF) // the peer has finished sending: nothing can provoke a reset
		return
	}
	if err := unix.Shutdown(c.fd, unix.SHUT_WR); err != nil {
		l.release(c, c.closeErr)
		return
	}
	c.state = stateLingering
	c.req.Or(reqClosed)
	l.callClose(c, c.closeErr)
	if !l.discard(c) {
		return
	}
	l.lingering = append(l.lingering, lingerer{c: c, until: time.Now().Add(drainLinger)})
	if !l.edge && c.events != unix.EPOLLIN {
		if err := l.poll.mod(c.fd, c.slot, unix.EPOLLIN); err != nil {
			l.release(c, nil)
			return
		}
		c.events = unix.EPOLLIN
	}
}

// discard reads and drops what a lingering connection's peer sent, and closes the connection
// at its end of stream or error. It reports whether the connection still lingers. Edge-
// triggered readiness is reported once, so it reads until the socket is empty, re-arming after
// edgeReads full reads as read does.
func (l *loop) discard(c *conn) bool {
	for i := 1; ; i++ {
		n, err := unix.Read(c.fd, l.buf)
		switch {
		case err == unix.EAGAIN:
			return true
		case err == unix.EINTR:
			continue
		case err != nil || n == 0:
			l.release(c, nil)
			return false
		}
		if !l.edge || n < len(l.buf) {
			return true
		}
		if i >= edgeReads {
			l.rearm(c)
			return c.state == stateLingering
		}
	}
}

// timeout is the wait's timeout in milliseconds: -1 (none) unless the loop keeps a deadline —
// the oldest lingering connection's, or the end of a pause in accepting — rounded up so that
// the wait never ends before it.
func (l *loop) timeout() int {
	var next time.Time
	if len(l.lingering) > 0 {
		next = l.lingering[0].until
	}
	if !l.acceptResume.IsZero() && (next.IsZero() || l.acceptResume.Before(next)) {
		next = l.acceptResume
	}
	if next.IsZero() {
		return -1
	}
	d := time.Until(next)
	if d <= 0 {
		return 0
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// expireLingering closes the lingering connections whose deadline has passed, and forgets
// those closed meanwhile by their peer's FIN. Deadlines are all drainLinger after the close
// began, so the queue is in deadline order.
func (l *loop) expireLingering() {
	now, k := time.Now(), 0
	for ; k < len(l.lingering); k++ {
		g := l.lingering[k]
		if g.c.state != stateLingering {
			continue
		}
		if now.Before(g.until) {
			break
		}
		l.release(g.c, nil)
	}
	if k > 0 {
		n := copy(l.lingering, l.lingering[k:])
		clear(l.lingering[n:])
		l.lingering = l.lingering[:n]
	}
}

// abort closes c at once, dropping its pending output.
func (l *loop) abort(c *conn, cause error) {
	if c.state == stateClosed {
		return
	}
	// A reset rather than a FIN: the output is being thrown away, and the kernel should not go
	// on trying to deliver what is already in the socket buffer to a peer that does not read.
	unix.SetsockoptLinger(c.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
	l.release(c, cause)
}

// release closes c's descriptor, frees its slot and buffers and calls OnClose, unless c was
// lingering, whose OnClose ran when its close began.
func (l *loop) release(c *conn, cause error) {
	lingered := c.state == stateLingering
	c.state = stateClosed
	c.req.Or(reqClosed)
	c.dropTail()
	c.out.Reset()
	l.conns[c.slot] = nil
	l.free = append(l.free, c.slot)
	l.live--
	l.poll.del(c.fd)
	unix.Close(c.fd) // also takes it out of an epoll set
	if !lingered {
		l.callClose(c, cause)
	}
}

// accept takes the connections waiting on the listener and hands them to the loops in turn.
func (l *loop) accept() {
	for i := 0; i < acceptBatch && l.lfd >= 0; i++ {
		fd, err := accept4(l.lfd, &l.rsa)
		switch err {
		case nil:
		case unix.EAGAIN:
			return
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EMFILE, unix.ENFILE:
			l.shed(err)
			return
		default:
			if n, ok := l.s.acceptLog.Allow(); ok {
				l.log.Error("epoll: accept failed", "err", os.NewSyscallError("accept4", err), "suppressed", n)
			}
			return
		}
		// Small writes (a reply, a chat line) must leave at once, not wait for Nagle.
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		target := l.peers[l.next]
		l.next = (l.next + 1) % len(l.peers)
		c := &conn{l: target, fd: fd, local: l.local}
		c.remote.set(&l.rsa)
		if l.local.unspecified() && getsockname(fd, &l.rsa) == nil {
			c.local.set(&l.rsa)
		}
		if target == l {
			l.attach(c)
		} else if !target.post(task{c: c, op: opAttach}) {
			unix.Close(fd) // that loop has stopped: the server is shutting down
		}
	}
}

// shed handles running out of descriptors. The pending connection would stay in the accept
// queue and the level-triggered listener would wake the loop again at once, spinning it; so
// the loop gives up its spare descriptor, accepts the connection, closes it (the client sees
// its connection closed, not a hang) and takes the spare back.
//
// Another thread may take the descriptor the spare freed before the accept does (another
// loop's acceptor, with a listener per loop, or anything else in the process); then the spare
// is lost too. Without it the loop stops watching the listener for a while, 5 ms doubling to
// a second while the limit lasts, so that it neither spins nor stops accepting for good.
func (l *loop) shed(err error) {
	refused := false
	if l.spare >= 0 {
		unix.Close(l.spare)
		if fd, err := accept4(l.lfd, &l.rsa); err == nil {
			unix.Close(fd)
			refused = true
		}
		l.spare = openSpare()
	}
	if !refused || l.spare < 0 {
		l.pauseAccept()
	}
	if n, ok := l.s.shedLog.Allow(); ok {
		l.log.Warn("epoll: out of file descriptors; refusing connections", "err", os.NewSyscallError("accept4", err), "suppressed", n)
	}
}

// pauseAccept stops watching the listener until acceptResume.
func (l *loop) pauseAccept() {
	if err := l.poll.mod(l.lfd, tagListen, 0); err != nil {
		return // still watched: the next wake-up tries the spare again
	}
	l.acceptWait = min(max(2*l.acceptWait, 5*time.Millisecond), time.Second)
	l.acceptResume = time.Now().Add(l.acceptWait)
}

// resumeAccept watches the listener again after a pause, with a spare descriptor if one can
// be had now. A pause that ends with the limit still reached starts a longer one.
func (l *loop) resumeAccept() {
	l.acceptResume = time.Time{}
	if l.lfd < 0 {
		return
	}
	if l.spare < 0 {
		l.spare = openSpare()
	}
	if l.spare < 0 {
		l.pauseAccept()
		return
	}
	if err := l.poll.mod(l.lfd, tagListen, unix.EPOLLIN); err != nil {
		l.pauseAccept()
		return
	}
	l.acceptWait = 0
}

// attach registers a freshly accepted connection with this loop and opens it.
func (l *loop) attach(c *conn) {
	if l.draining {
		unix.Close(c.fd) // accepted as Shutdown began; never opened, so no callbacks are owed
		return
	}
	var slot int32
	if k := len(l.free); k > 0 {
		slot, l.free = l.free[k-1], l.free[:k-1]
	} else {
		slot = int32(len(l.conns))
		l.conns = append(l.conns, nil)
	}
	events := uint32(unix.EPOLLIN)
	if l.edge {
		// Registered once for both directions; edges then say "new input" and "room again",
		// and EPOLLRDHUP says the peer's FIN is among what there is to read.
		events = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET
	}
	if err := l.poll.add(c.fd, slot, events); err != nil {
		l.free = append(l.free, slot)
		unix.Close(c.fd)
		if err == errFDSetFull {
			// select's hard limit: refuse this connection (the client sees it closed) and go
			// on serving the others. Said once a second at most, not once per connection.
			if n, ok := l.s.refuseLog.Allow(); ok {
				l.log.Warn("select: connection refused: its descriptor does not fit in an fd_set", "fd", c.fd, "limit", fdSetSize, "suppressed", n)
			}
			return
		}
		l.log.Error(l.mech.String()+": cannot register connection", "err", err)
		return
	}
	c.slot, c.events = slot, events
	l.conns[slot] = c
	l.live++
	if err := l.callOpen(c); err != nil {
		l.abort(c, err)
		return
	}
	l.settle(c)
}

// post queues t for the loop and wakes it. It reports false when the loop has stopped.
func (l *loop) post(t task) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return false
	}
	l.pushLocked(t)
	return true
}

func (l *loop) pushLocked(t task) {
	l.inbox.tasks = append(l.inbox.tasks, t)
	l.posted.Store(true)
	if l.sleeping.Swap(false) {
		// Written under mu, which stop takes before closing the eventfd, so the descriptor
		// cannot be closed (and its number reused) between the check and the write.
		unix.Write(l.wakefd, wakeBytes[:])
	}
}

// postWrite queues a copy of p for c (AsyncWrite).
func (l *loop) postWrite(c *conn, p []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped || c.req.Load() != 0 {
		return reactor.ErrConnClosed
	}
	if int(c.backlog.Load())+len(p) > l.maxOutbound {
		l.requestLocked(c, reqAbort, reactor.ErrOutboundFull)
		return reactor.ErrOutboundFull
	}
	c.backlog.Add(int64(len(p)))
	l.inbox.data = append(l.inbox.data, p...)
	l.pushLocked(task{c: c, op: opWrite, n: len(p)})
	return nil
}

// takeInboxed moves the AsyncWrite bytes for c still waiting in the inbox into c's outbound
// queue, in the order they were posted, and marks their tasks done. Write calls it so that
// its bytes follow every AsyncWrite that happened before it. On the loop only, from c's own
// callback. Every such byte is in the inbox, none in the batch runTasks works through: OnData
// runs outside runTasks, and an OnOpen run by an opAttach task is the first anyone hears of c,
// so AsyncWrites to it can only follow the swap.
func (l *loop) takeInboxed(c *conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	in := &l.inbox
	off := 0
	for i := range in.tasks {
		t := &in.tasks[i]
		if t.op != opWrite && t.op != opTaken {
			continue
		}
		if t.op == opWrite && t.c == c {
			c.out.Write(in.data[off : off+t.n])
			t.op = opTaken
		}
		off += t.n
	}
}

// request records a Close or Abort for c and has the loop act on it.
func (l *loop) request(c *conn, r uint32, cause error) {
	l.mu.Lock()
	l.requestLocked(c, r, cause)
	l.mu.Unlock()
}

func (l *loop) requestLocked(c *conn, r uint32, cause error) {
	old := c.req.Or(r)
	if old&(reqAbort|reqClosed) != 0 || old&r != 0 {
		return // already on its way out, for this reason or a stronger one
	}
	if r == reqAbort {
		c.abortErr = cause
	}
	if !l.stopped {
		l.pushLocked(task{c: c, op: opRequest})
	}
}

// handleRequest carries out the Close or Abort recorded in c.req.
func (l *loop) handleRequest(c *conn) {
	r := c.req.Load()
	switch {
	case c.state == stateClosed:
	case r&reqAbort != 0:
		l.mu.Lock()
		cause := c.abortErr
		l.mu.Unlock()
		l.abort(c, cause)
	case r&reqClose != 0:
		l.beginClose(c, nil)
	}
}

// runTasks takes the inbox and carries out what other goroutines asked for.
func (l *loop) runTasks() {
	if !l.posted.Load() {
		return
	}
	l.mu.Lock()
	l.inbox, l.work = l.work, l.inbox
	l.posted.Store(false)
	l.mu.Unlock()
	w := &l.work
	off := 0
	for i := range w.tasks {
		t := &w.tasks[i]
		switch t.op {
		case opWrite:
			// The second copy of an AsyncWrite: from the inbox into the connection's queue.
			// A closing connection still takes it: it was written before Close was asked.
			if c := t.c; c.state == stateOpen || c.state == stateClosing {
				c.out.Write(w.data[off : off+t.n])
				if !c.dirty {
					c.dirty = true
					l.dirty = append(l.dirty, c)
				}
			}
			off += t.n
		case opTaken:
			off += t.n
		case opRequest:
			l.handleRequest(t.c)
		case opAttach:
			l.attach(t.c)
		case opDrain:
			l.drain()
		case opKill:
			l.kill(reactor.ErrServerClosed)
		}
		t.c = nil
	}
	// One writev per connection for everything the round brought it.
	for i, c := range l.dirty {
		c.dirty = false
		if c.state != stateClosed {
			l.settle(c)
		}
		l.dirty[i] = nil
	}
	l.dirty = l.dirty[:0]
	w.tasks, w.data = w.tasks[:0], w.data[:0]
	if cap(w.data) > bigBatch {
		w.data = nil // a burst passed; do not hold its memory forever
	}
	if cap(w.tasks) > bigBatch/64 {
		w.tasks = nil
	}
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

func (l *loop) closeListener() {
	if l.lfd >= 0 {
		if l.poll != nil {
			l.poll.del(l.lfd)
		}
		unix.Close(l.lfd)
		l.lfd = -1
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
			unix.Close(t.c.fd)
		}
	}
	l.closeListener()
	l.closeFds()
}

// The handler's callbacks, each behind a recover: a panicking handler costs its connection,
// never the loop.

func (l *loop) callOpen(c *conn) error { return reactor.CallOpen(l.log, l.h, c) }

func (l *loop) callData(c *conn, in []byte) (int, reactor.Action, error) {
	return reactor.CallData(l.log, l.h, c, in)
}

func (l *loop) callClose(c *conn, cause error) { reactor.CallClose(l.log, l.h, c, cause) }
