//go:build linux

package epoll

// The completion mechanism: the same loops, connections, inbox and timers as epoll's, with the
// I/O done by io_uring (internal/iouring). Instead of being told a socket is ready and making
// the system call itself, the loop keeps requests in flight and is told when they are done:
// a multishot accept on the listener, a multishot receive per reading connection into a ring
// of buffers the kernel picks from, at most one send per connection whose chunks stay in its
// outbound queue until the send completes, and a read of the loop's eventfd for wake-ups. A
// connection that closes cancels what it has in flight and keeps its slot until every
// completion has come back; the loop exits only when none is left.

import (
	"io"
	"os"
	"unsafe"

	"github.com/reactorlab/reactor/internal/iouring"
	"golang.org/x/sys/unix"
)

const (
	ringEntries = 1024 // submission slots per loop; the completion queue has four times as many
	ringBufs    = 256  // provided receive buffers, shared out among the loops (see bufsPerLoop)
	ringBufsMin = 64   // but no loop has fewer
	ringBufMax  = 16 << 10
	acceptDepth = 16 // accepts in flight on a listener

	// recvAhead bounds what a multishot receive takes from the socket before it ends and the
	// loop arms it again: what arrives while reading is being paused has to wait in the
	// connection's memory (the socket no longer holds it), and this keeps that small.
	recvAhead = 64 << 10
)

// What a request's user data says, in its top byte; the low 32 bits carry a connection's slot.
const (
	kWake uint64 = iota + 1
	kAccept
	kRecv
	kSend
	kConnect
	kCancel
	kClose
	kWritable
)

// A connection's requests in flight, and the state of its receive, in conn.ring.
const (
	ringRecv    uint8 = 1 << iota // a multishot receive is armed
	ringCancel                    // and being cancelled
	ringSend                      // a send is in flight (conn.blocked is set too)
	ringConnect                   // a connect is in flight
	ringEOF                       // the peer's end of stream arrived while reading was paused
	ringWaitOut                   // a send found no room: waiting in l.outfd (blocked is set)
	ringOutReg                    // the socket is in l.outfd's set

	ringOps = ringRecv | ringSend | ringConnect
)

func userData(kind uint64, slot int32) uint64 { return kind<<56 | uint64(uint32(slot)) }

// acceptor is the state of a listener's accepts in flight: each its own slot for the peer's
// address, which the kernel fills in when it completes. (A multishot accept has one address
// for all its completions, so the loop would have to ask getpeername, which fails for a
// connection reset before it was taken; such a connection must still open and close.)
type acceptor struct {
	armed [acceptDepth]bool
	addr  [acceptDepth]unix.RawSockaddrAny
	size  [acceptDepth]uint32
}

// sendOp holds what a gathering send needs until it completes: the kernel may read the iovec
// array and the message header any time before then.
type sendOp struct {
	iov []unix.Iovec
	msg unix.Msghdr
}

// uringReason says why the completion mechanism cannot run here, or is empty.
func uringReason() string {
	if err := iouring.Probe(); err != nil {
		return err.Error()
	}
	return ""
}

// newRing gives a loop its ring and its receive buffers.
func (l *loop) newRing() error {
	r, err := iouring.New(ringEntries)
	if err != nil {
		return err
	}
	size := min(l.readSize, ringBufMax)
	b, err := r.NewBufRing(0, bufsPerLoop(l.s.cfg.Loops), size)
	if err != nil {
		r.Close()
		return err
	}
	l.ring, l.bufs = r, b
	l.recvLimit = iouring.RecvLimit()
	l.armWake()
	return nil
}

// bufsPerLoop shares ringBufs out among loops (a power of two each, at least ringBufsMin).
// The kernel uses a ring's buffers in turn, so each soon has a resident page whatever the
// traffic: a budget per server, not per loop, keeps that fixed cost from growing with the
// loops (docs/benchmarks.md, io_uring against epoll).
func bufsPerLoop(loops int) uint16 {
	n := uint16(ringBufs)
	for n > ringBufsMin && int(n)*max(loops, 1) > ringBufs {
		n /= 2
	}
	return n
}

// closeRing releases the ring. Normally the loop has seen every request it made complete; a
// loop that failed submits what it queued (closes among them) and leaves the rest to the
// kernel, which cancels it as the ring goes.
func (l *loop) closeRing() {
	if l.ring != nil && l.ring.Pending() > 0 {
		l.ring.Enter(false, 0)
	}
	if l.outfd >= 0 {
		unix.Close(l.outfd)
		l.outfd = -1
	}
	if l.bufs != nil {
		l.bufs.Close()
		l.bufs = nil
	}
	if l.ring != nil {
		l.ring.Close()
		l.ring = nil
	}
}

// sqe returns the next submission entry, submitting those queued when the queue is full.
func (l *loop) sqe(kind uint64, slot int32, op uint8, fd int) *iouring.SQE {
	e := l.ring.Next()
	for e == nil {
		l.ring.Enter(false, 0) // hands the queue to the kernel, which empties it
		e = l.ring.Next()
	}
	e.Opcode, e.Fd, e.UserData = op, int32(fd), userData(kind, slot)
	l.inflight++
	return e
}

// ringWait submits what the round queued and, unless work is waiting, sleeps until a
// completion arrives or the loop's next deadline.
func (l *loop) ringWait() error {
	d, ok := l.nextDeadline()
	wait, ns := true, int64(-1)
	if ok {
		ns = max(int64(d), 0)
	}
	l.sleeping.Store(true)
	if l.posted.Load() || len(l.dirty) > 0 || ns == 0 {
		wait = false
	}
	err := l.ring.Enter(wait, ns)
	l.sleeping.Store(false)
	clear(l.pinned)
	l.pinned = l.pinned[:0]
	if err == iouring.ErrTimedOut {
		err = nil
	}
	return err
}

// reap handles the completions that have arrived, at most a queue's worth per round.
func (l *loop) reap() {
	for range ringEntries * 4 {
		e, ok := l.ring.Peek()
		if !ok {
			return
		}
		l.ring.Advance()
		if e.Flags&iouring.CqeMore == 0 {
			l.inflight--
		}
		slot := int32(uint32(e.UserData))
		switch e.UserData >> 56 {
		case kWake:
			if !l.quiet {
				l.armWake() // the tasks are the message
			}
		case kAccept:
			l.accepted(slot, &e)
		case kRecv:
			l.received(l.conns[slot], &e)
		case kSend:
			l.sent(l.conns[slot], &e)
		case kConnect:
			l.connectDone(l.conns[slot], &e)
		case kWritable:
			l.writable()
		}
	}
}

// armWake reads the eventfd through the ring: a post that writes it completes the read.
func (l *loop) armWake() {
	e := l.sqe(kWake, 0, iouring.OpRead, l.wakefd)
	e.Addr = uint64(uintptr(unsafe.Pointer(&l.wakebuf[0])))
	e.Len = uint32(len(l.wakebuf))
}

// quiesce cancels the loop's own requests once the last connection has gone at Shutdown, so
// that the loop can exit once their completions are back.
func (l *loop) quiesce() {
	if l.quiet {
		return
	}
	l.quiet = true
	l.cancel(userData(kWake, 0))
	if l.outArmed {
		l.cancel(userData(kWritable, 0))
	}
}

// cancel asks the kernel to cancel every request carrying user data ud.
func (l *loop) cancel(ud uint64) {
	e := l.sqe(kCancel, 0, iouring.OpAsyncCancel, -1)
	e.Addr, e.OpFlags = ud, iouring.CancelAll
}

// closeAsync closes fd through the ring, after the requests queued before it: a request on fd
// still waiting in the submission queue then cannot reach a socket that reuses its number.
func (l *loop) closeAsync(fd int) { l.sqe(kClose, 0, iouring.OpClose, fd) }

// armAccept arms the listener's accepts that are not in flight.
func (l *loop) armAccept() {
	if l.lfd < 0 {
		return
	}
	if l.acc == nil {
		l.acc = new(acceptor)
	}
	for i := range l.acc.armed {
		if l.acc.armed[i] {
			continue
		}
		l.acc.size[i] = unix.SizeofSockaddrAny
		e := l.sqe(kAccept, int32(i), iouring.OpAccept, l.lfd)
		e.Addr = uint64(uintptr(unsafe.Pointer(&l.acc.addr[i])))
		e.Off = uint64(uintptr(unsafe.Pointer(&l.acc.size[i])))
		e.OpFlags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC
		l.acc.armed[i] = true
	}
}

// accepted takes an accepted connection, or the listener's error, from accept i's completion.
func (l *loop) accepted(i int32, e *iouring.CQE) {
	l.acc.armed[i] = false
	switch err := unix.Errno(-e.Res); {
	case e.Res >= 0:
		l.rsa = l.acc.addr[i]
		l.adopt(int(e.Res))
	case l.lfd < 0 || err == unix.ECANCELED:
		return
	case err == unix.EMFILE || err == unix.ENFILE:
		l.st.AcceptError()
		l.shed(err)
	case err == unix.EINTR || err == unix.ECONNABORTED:
	default:
		l.st.AcceptError()
		if n, ok := l.s.acceptLog.Allow(); ok {
			l.log.Error("uring: accept failed", "err", os.NewSyscallError("accept", err), "suppressed", n)
		}
	}
	if l.acceptResume.IsZero() {
		l.armAccept()
	}
}

// armRecv starts c's multishot receive into the loop's provided buffers.
func (l *loop) armRecv(c *conn) {
	e := l.sqe(kRecv, c.slot, iouring.OpRecv, int(c.fd))
	e.Flags = iouring.SqeBufferSelect
	if l.recvLimit {
		e.Ioprio, e.Optlen = iouring.RecvMultishot, recvAhead
	} // else one receive per request: unbounded run-ahead would break PauseRead's promise
	c.ring |= ringRecv
}

// received handles one receive completion: bytes in a kernel-chosen buffer, which is lent to
// the handler and given back when the callback returns; the end of stream; or an error.
func (l *loop) received(c *conn, e *iouring.CQE) {
	var p []byte
	if e.Flags&iouring.CqeBuffer != 0 {
		bid := e.BufID()
		defer l.bufs.Return(bid)
		p = l.bufs.Buf(bid, int(max(e.Res, 0)))
	}
	if e.Flags&iouring.CqeMore == 0 {
		c.ring &^= ringRecv | ringCancel
		if c.state != stateClosed {
			l.markDirty(c) // re-armed when settled, if the connection still reads
		}
	}
	if e.Res > 0 {
		l.st.Received(int(e.Res))
	}
	switch c.state {
	case stateClosed:
		l.retire(c)
		return
	case stateLingering:
		if e.Res <= 0 && unix.Errno(-e.Res) != unix.ENOBUFS && unix.Errno(-e.Res) != unix.ECANCELED {
			l.release(c, nil) // the peer's FIN, or an error: the lingering close is over
		}
		return
	case stateClosing:
		return // input after Close is not read
	}
	switch err := unix.Errno(-e.Res); {
	case e.Res > 0 && c.reading():
		l.deliver(c, p)
	case e.Res > 0:
		// Reading was paused while the receive was armed; the bytes wait, as they would have
		// in the socket, until reading resumes: at most recvAhead and a buffer, as the
		// receive ends there and is not armed again while paused.
		c.stash(p)
	case e.Res == 0 && c.reading():
		l.peerEOF(c)
	case e.Res == 0:
		c.ring |= ringEOF // told once reading resumes
	case err == unix.ENOBUFS || err == unix.ECANCELED:
		// Out of buffers for a moment, or paused: settling re-arms it when due.
	default:
		l.abort(c, os.NewSyscallError("recv", err))
	}
}

// peerEOF acts on the peer's end of stream: a HalfCloser hears of it; otherwise the connection
// closes.
func (l *loop) peerEOF(c *conn) {
	c.ring &^= ringEOF
	if c.h.halfCloser != nil {
		l.readEOF(c)
		return
	}
	l.beginClose(c, io.EOF)
}

// stash appends p to c's unconsumed input.
func (c *conn) stash(p []byte) {
	if c.in == nil {
		c.in = tailPool.Get().(*[]byte)
	}
	*c.in = append(*c.in, p...)
}

// ringUpdate is update for the completion mechanism: the same pause for the loop's own
// backpressure, and a receive armed exactly while the connection reads (or lingers).
func (l *loop) ringUpdate(c *conn) {
	if c.state == stateOpen {
		pending := c.out.Len()
		switch {
		case !c.paused && pending > l.highWater:
			c.paused = true
		case c.paused && pending <= l.lowWater:
			c.paused = false
			if c.in != nil || c.ring&ringEOF != 0 {
				c.resumed = true // what arrived meanwhile waits in c.in: settleDirty delivers it
			}
			l.markDirty(c)
		}
	}
	want := c.reading() && c.ring&ringEOF == 0 || c.state == stateLingering
	switch {
	case want && c.ring&ringRecv == 0:
		l.armRecv(c)
	case !want && c.ring&(ringRecv|ringCancel) == ringRecv:
		c.ring |= ringCancel
		l.cancel(userData(kRecv, c.slot))
	}
}

// ringFlush sends c's pending output, unless a send is in flight: one send (a plain send for
// one chunk, sendmsg gathering up to maxIovecs of them) whose chunks stay in c.out until it
// completes.
func (l *loop) ringFlush(c *conn) {
	if c.ring&(ringSend|ringWaitOut) != 0 || c.out.Len() == 0 {
		return
	}
	bufs := c.out.AppendBuffers(l.vec[:0], maxIovecs)
	var e *iouring.SQE
	if len(bufs) == 1 {
		e = l.sqe(kSend, c.slot, iouring.OpSend, int(c.fd))
		e.Addr, e.Len = uint64(uintptr(unsafe.Pointer(&bufs[0][0]))), uint32(len(bufs[0]))
	} else {
		op := l.sendOp(c.slot)
		op.iov = op.iov[:0]
		for _, b := range bufs {
			op.iov = append(op.iov, unix.Iovec{Base: &b[0]})
			op.iov[len(op.iov)-1].SetLen(len(b))
		}
		op.msg = unix.Msghdr{Iov: &op.iov[0]}
		op.msg.SetIovlen(len(op.iov))
		e = l.sqe(kSend, c.slot, iouring.OpSendmsg, int(c.fd))
		e.Addr, e.Len = uint64(uintptr(unsafe.Pointer(&op.msg))), 1
	}
	e.OpFlags = unix.MSG_NOSIGNAL
	clear(bufs)
	c.ring |= ringSend
	c.blocked = true
}

// sendOp gives the connection in slot a gathering send's state until the send completes
// (putSendOp), from the loop's spares: as many exist as such sends were ever in flight at once.
func (l *loop) sendOp(slot int32) *sendOp {
	for int(slot) >= len(l.sendOps) {
		l.sendOps = append(l.sendOps, nil)
	}
	var op *sendOp
	if k := len(l.spareSends); k > 0 {
		op = l.spareSends[k-1]
		l.spareSends = l.spareSends[:k-1]
	} else {
		op = &sendOp{iov: make([]unix.Iovec, 0, maxIovecs)}
	}
	l.sendOps[slot] = op
	return op
}

// putSendOp takes back the gathering send's state of the connection in slot, if it had one.
func (l *loop) putSendOp(slot int32) {
	if int(slot) >= len(l.sendOps) || l.sendOps[slot] == nil {
		return
	}
	op := l.sendOps[slot]
	l.sendOps[slot] = nil
	clear(op.iov[:cap(op.iov)]) // no hold on chunks that went back to their pool
	op.msg = unix.Msghdr{}
	l.spareSends = append(l.spareSends, op)
}

// sent handles a send's completion: what the kernel took leaves the queue, and the rest, with
// whatever was written meanwhile, goes in the next send.
func (l *loop) sent(c *conn, e *iouring.CQE) {
	c.ring &^= ringSend
	c.blocked = false
	l.putSendOp(c.slot)
	if c.state == stateClosed {
		c.out.Reset() // the send held these chunks; release left them to it
		l.retire(c)
		return
	}
	if e.Res == -int32(unix.EAGAIN) {
		if err := l.waitWritable(c); err != nil {
			l.abort(c, os.NewSyscallError("epoll_ctl", err))
		}
		return
	}
	if e.Res < 0 {
		l.abort(c, os.NewSyscallError("send", unix.Errno(-e.Res)))
		return
	}
	pending := c.backlog.Load()
	n := int(e.Res)
	c.out.Discard(n)
	c.backlog.Add(-int64(n))
	l.st.Sent(n)
	l.st.Buffer(-n)
	l.ringFlush(c)
	l.flushed(c, pending)
}

// waitWritable parks c, whose send completed with EAGAIN, until its socket has room. The ring
// cannot wait for that itself once the peer has sent its FIN: io_uring's polls, its own behind
// a send as well as IORING_OP_POLL_ADD, always watch for EPOLLRDHUP too, which such a socket
// reports for good (a POLL_ADD for POLLOUT completes at once with POLLRDHUP alone), and the
// send comes back with EAGAIN, even from io-wq. So c waits for EPOLLOUT alone in an epoll set
// of the loop's own, one-shot, and the ring polls that set's descriptor, which becomes
// readable only when a socket in it is ready.
func (l *loop) waitWritable(c *conn) error {
	if l.outfd < 0 {
		fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return err
		}
		l.outfd = fd
	}
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: c.slot}
	op := unix.EPOLL_CTL_MOD
	if c.ring&ringOutReg == 0 {
		op = unix.EPOLL_CTL_ADD
	}
	if err := unix.EpollCtl(l.outfd, op, int(c.fd), &ev); err != nil {
		return err
	}
	c.ring |= ringWaitOut | ringOutReg
	c.blocked = true
	l.outWaiting++
	l.armWritable()
	return nil
}

// armWritable polls l.outfd through the ring while a connection waits in it.
func (l *loop) armWritable() {
	if l.outArmed || l.outWaiting == 0 || l.quiet {
		return
	}
	e := l.sqe(kWritable, 0, iouring.OpPollAdd, l.outfd)
	e.OpFlags = unix.POLLIN
	l.outArmed = true
}

// writable takes the connections l.outfd reports ready and sends what they hold.
func (l *loop) writable() {
	l.outArmed = false
	if l.outEvents == nil {
		l.outEvents = make([]unix.EpollEvent, 64)
	}
	for {
		n, err := unix.EpollWait(l.outfd, l.outEvents, 0)
		if err == unix.EINTR {
			continue
		}
		for _, ev := range l.outEvents[:max(n, 0)] {
			c := l.conns[ev.Fd]
			if c == nil || c.ring&ringWaitOut == 0 {
				continue
			}
			c.ring &^= ringWaitOut
			l.outWaiting--
			c.blocked = false
			l.ringFlush(c)
		}
		if n < len(l.outEvents) {
			break
		}
	}
	l.armWritable()
}

// retire frees the slot of a closed connection once its last request has completed.
func (l *loop) retire(c *conn) {
	if c.ring&ringOps == 0 && l.conns[c.slot] == c {
		l.conns[c.slot] = nil
		l.free = append(l.free, c.slot)
	}
}

// ringRelease is release's part for the completion mechanism: cancel what c has in flight,
// close its socket behind that, and keep its slot until the completions are in (retire).
func (l *loop) ringRelease(c *conn) {
	if c.ring&ringWaitOut != 0 {
		l.outWaiting--
	}
	if c.ring&ringOutReg != 0 && c.fd >= 0 {
		unix.EpollCtl(l.outfd, unix.EPOLL_CTL_DEL, int(c.fd), nil) // its slot may serve another
	}
	c.ring &^= ringWaitOut | ringOutReg
	if c.fd >= 0 {
		if c.ring&ringOps != 0 {
			e := l.sqe(kCancel, 0, iouring.OpAsyncCancel, int(c.fd))
			e.OpFlags = iouring.CancelAll | iouring.CancelFd
		}
		l.closeAsync(int(c.fd))
	}
	if c.ring&ringSend == 0 {
		c.out.Reset()
	}
	if c.ring&ringOps == 0 {
		l.conns[c.slot] = nil
		l.free = append(l.free, c.slot)
	}
}

// ringConnect starts connecting fd to sa through the ring.
func (l *loop) ringConnect(c *conn, fd int, sa unix.Sockaddr) error {
	rsa, n, err := rawSockaddr(sa)
	if err != nil {
		return err
	}
	l.pinned = append(l.pinned, rsa) // read by the kernel when the request is submitted
	e := l.sqe(kConnect, c.slot, iouring.OpConnect, fd)
	e.Addr, e.Off = uint64(uintptr(unsafe.Pointer(rsa))), uint64(n)
	c.ring |= ringConnect
	c.fd = int32(fd)
	return nil
}

// rawSockaddr lays sa out as the kernel reads it.
func rawSockaddr(sa unix.Sockaddr) (*unix.RawSockaddrAny, int, error) {
	rsa := new(unix.RawSockaddrAny)
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		r := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		r.Family, r.Addr = unix.AF_INET, a.Addr
		p := (*[2]byte)(unsafe.Pointer(&r.Port))
		p[0], p[1] = byte(a.Port>>8), byte(a.Port)
		return rsa, unix.SizeofSockaddrInet4, nil
	case *unix.SockaddrInet6:
		r := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		r.Family, r.Addr, r.Scope_id = unix.AF_INET6, a.Addr, a.ZoneId
		p := (*[2]byte)(unsafe.Pointer(&r.Port))
		p[0], p[1] = byte(a.Port>>8), byte(a.Port)
		return rsa, unix.SizeofSockaddrInet6, nil
	}
	return nil, 0, unix.EAFNOSUPPORT
}

// connectDone handles a connect's completion.
func (l *loop) connectDone(c *conn, e *iouring.CQE) {
	c.ring &^= ringConnect
	if c.state == stateClosed {
		l.retire(c)
		return
	}
	var err error
	if e.Res < 0 {
		err = os.NewSyscallError("connect", unix.Errno(-e.Res))
	} else if perr := getpeername(int(c.fd), &l.rsa); perr != nil {
		err = os.NewSyscallError("connect", perr)
	}
	l.connectResult(c, err)
}
