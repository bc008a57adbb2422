//go:build linux

package nbioloop

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lesismal/nbio"
	"golang.org/x/sys/unix"

	"github.com/reactorlab/reactor/internal/sockstate"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

// How long a graceful close waits: for the peer to acknowledge output (closeLinger), and
// for its FIN once the output is sent (drainLinger).
const (
	closeLinger = 5 * time.Second
	drainLinger = 500 * time.Millisecond
)

// readsPerTurn bounds the full reads one connection makes before the loop serves others;
// the rest is read by a task queued behind them (edge-triggered: no new event would come).
const readsPerTurn = 16

// keepIn is the capacity of the carry-over buffer an emptied connection keeps for the next
// tail; a larger one, grown by a burst, is let go.
const keepIn = 4 << 10

// conn is one connection. Fields marked "loop" belong to the owner loop's goroutine; the rest
// are atomics or under mu.
type conn struct {
	b     *backend
	lp    *loop // owner: runs the callbacks
	pl    *loop // the poller nbio serves the socket on (a dialed connection's may differ)
	nc    *nbio.Conn
	fd    int
	h     reactor.Handler
	hc    reactor.HalfCloser // h, when it is one
	dr    reactor.Drainer    // h, when it is one
	dst   string             // the address a dialed connection was made to; "" when accepted
	laddr net.Addr
	raddr net.Addr

	// loop
	ctx            any
	in             []byte // input the handler left unconsumed, presented again first
	unshown        bool   // in ends with input the handler has not been shown yet
	born           time.Time
	opened         bool // OnOpen ran
	closed         bool // the socket is closed (or nbio closed it)
	finished       bool // OnClose ran
	paused         bool
	resume         bool // ResumeRead: the held input and the socket are to be read
	eof            bool // the peer's end of stream was read
	heldEOF        bool // salvaged before a hang-up: presented after the held input
	gone           bool // nbio closed the socket while input waited (hangup)
	goneErr        error
	wshut, wdone   bool // CloseWrite asked; shutdown(SHUT_WR) made
	lingering      bool // a close waits for nbio's output, bounded by TCP_USER_TIMEOUT
	draining       bool // closed for the handler, discarding input until the peer's FIN
	drainTimer     *time.Timer
	timers         backendkit.PostedTimers
	runTimers      func(reactor.Conn) // runDue, made once (as post is Post), for the timers' posts
	post           func(func(reactor.Conn)) error
	readTask       func()
	settleTask     func()
	pollerReadTask func()
	mailTask       func()
	resumeTask     func()

	mu         sync.Mutex
	out        backendkit.Outbound // Write and AsyncWrite, in the order they took mu
	closeAsked bool                // Close (graceful): closeCause is OnClose's
	closeCause error
	aborted    bool
	abortCause error
	hupErr     error // the socket's error, seen by noteError before nbio closed on it
	// Input a poller read for a connection another loop owns (read_linux.go).
	mail       []byte
	mailEOF    bool
	mailErr    error
	mailPosted bool
	readMore   bool // the poller stopped short of EAGAIN: the owner asks for more

	ending       atomic.Bool  // a close or an abort was asked for, or the connection is gone
	noWrite      atomic.Bool  // ending, or CloseWrite: writes fail
	queued       atomic.Int64 // out.Len, for Buffered from any goroutine
	handed       atomic.Int64 // bytes given to nbio's Write
	written      atomic.Int64 // of those, what nbio reports written (OnWrittenSize)
	rpaused      atomic.Bool  // paused, for the poller of a connection another loop owns
	rdraining    atomic.Bool  // draining, likewise
	watch        atomic.Bool  // settle waits for nbio's output to shrink
	above        atomic.Bool  // Buffered has been above LowWater since the last OnDrain
	settlePosted atomic.Bool
}

func newConn(b *backend, owner, poller *loop, nc *nbio.Conn, h reactor.Handler) *conn {
	c := &conn{b: b, lp: owner, pl: poller, nc: nc, fd: nc.Hash(), h: h, laddr: nc.LocalAddr(), raddr: nc.RemoteAddr()}
	c.hc, _ = h.(reactor.HalfCloser)
	c.dr, _ = h.(reactor.Drainer)
	c.readTask = c.onReadable
	c.pollerReadTask = c.pollerRead
	c.mailTask = c.takeMail
	c.settleTask = c.settleFromTask
	c.resumeTask = c.resumeRead
	return c
}

// open runs OnOpen on the owner loop.
func (c *conn) open() {
	if c.finished {
		return
	}
	c.opened, c.born = true, time.Now()
	if c.dst != "" {
		c.lp.shard.Dialed()
	} else {
		c.lp.shard.Accepted()
	}
	if err := backendkit.CallOpen(c.b.cfg.Logger, c.h, c); err != nil {
		c.Abort(err)
	}
	c.settle()
}

// readable is nbio's read event, on the poller's goroutine. The owner reads at once when it
// is that poller; for a connection owned by another loop (a dialed one) the poller reads and
// mails the input to the owner (read_linux.go): nbio closes the socket on a hang-up right
// after this returns, and what the socket held must not be lost with it.
func (c *conn) readable() {
	if c.lp == c.pl {
		c.onReadable()
		return
	}
	c.pollerRead()
}

// onReadable reads what the socket holds and presents it. Loop only, for a connection its
// poller owns.
func (c *conn) onReadable() {
	if c.draining {
		c.discard(c.lp.rbuf)
		return
	}
	if c.paused {
		// Not read: the kernel's window fills. ResumeRead reads.
		if !c.holdBeforeHangup() {
			c.noteError()
		}
		return
	}
	if !c.opened || c.closed || c.eof || c.heldEOF {
		// heldEOF: the socket was read to its end before a hang-up (holdBeforeHangup), so a
		// read now finds only the end of stream, and would present it ahead of the input
		// held, dropping that; resumeRead presents both, in order.
		return
	}
	c.readLoop()
	c.settle()
}

// noteError keeps the socket's pending error (SO_ERROR) for OnClose: a paused connection is
// not read, and nbio closes on the error event without telling it from a hang-up. On the
// goroutine of the connection's poller.
func (c *conn) noteError() {
	c.withFD(func(fd int) {
		if e := sockstate.SoError(fd); e != 0 {
			c.mu.Lock()
			if c.hupErr == nil {
				c.hupErr = os.NewSyscallError("read", e)
			}
			c.mu.Unlock()
		}
	})
}

// readLoop reads into the loop's buffer until the socket says EAGAIN or end of stream, the
// connection pauses or closes, or the turn's budget is spent. Loop only.
func (c *conn) readLoop() {
	buf := c.lp.rbuf
	for range readsPerTurn {
		n, err := c.nc.Read(buf)
		switch {
		case n > 0:
			c.lp.shard.Received(n)
			c.deliver(buf[:n])
			if c.ending.Load() {
				return
			}
			if c.paused {
				c.holdBeforeHangup()
				return
			}
			// Before reading on, send this read's output, as a read per turn would: the turn
			// goes on after a short read too (a FIN that came with the data raised no edge of
			// its own, so the socket is read until EAGAIN or EOF), and output held across the
			// reads could pass MaxOutbound with nothing sent.
			c.flush()
			continue
		case err == nil:
			c.peerEOF()
			return
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, net.ErrClosed):
			// Empty; or nbio closed the socket, and its OnClose is on its way.
			return
		default:
			c.Abort(os.NewSyscallError("read", err))
			return
		}
	}
	if c.holdBeforeHangup() {
		// All read; presented by a task, after the other connections' turns.
		c.resume = true
		return
	}
	c.lp.post(c.readTask)
}

// deliver presents data, after any input held over, to OnData and keeps what the handler
// left. Loop only.
func (c *conn) deliver(data []byte) {
	in := data
	if len(c.in) > 0 {
		c.in = append(c.in, data...)
		in = c.in
	}
	c.unshown = false
	if len(in) == 0 {
		return
	}
	n, a, err := backendkit.CallData(c.b.cfg.Logger, c.h, c, in)
	if err != nil {
		c.Abort(err)
		return
	}
	rest := in[n:]
	switch {
	case len(rest) == 0:
		if cap(c.in) > keepIn {
			c.in = nil
		} else {
			c.in = c.in[:0]
		}
	case len(c.in) > 0:
		c.in = c.in[:copy(c.in, rest)]
	default:
		c.in = append(c.in[:0], rest...)
	}
	if len(c.in) > c.b.cfg.MaxInbound {
		c.Abort(reactor.ErrInboundFull)
		return
	}
	if a == reactor.Close {
		c.closeWith(nil)
	}
}

// present delivers input held over (salvaged before a hang-up, read while paused, mailed by
// the poller) as the socket's reads would have: in pieces of at most ReadBufferSize, the output
// sent after each, stopping when the handler pauses or the connection ends; the rest is kept,
// after any tail the handler left, for ResumeRead. Salvaged input reaches the size of the
// kernel's receive buffer (megabytes): in one piece it would pass what a handler sizes its
// output by (the proxy relays one read past its high-water mark, under MaxOutbound) and the
// connection would be aborted with ErrOutboundFull. Loop only.
func (c *conn) present(data []byte) {
	for len(data) > 0 && !c.paused && !c.ending.Load() {
		k := min(len(data), c.b.cfg.ReadBufferSize)
		c.deliver(data[:k])
		data = data[k:]
		c.flush()
	}
	if len(data) > 0 && !c.ending.Load() {
		c.in = append(c.in, data...)
		c.unshown = true
	}
}

// peerEOF is the peer's end of stream. Input held that the handler has not been shown yet
// goes first: the poller's mail taken while paused, whose ResumeRead task has not run when
// the poller's next mail brings the end; or what a pause left of a mail. If the handler pauses
// again, the end waits for ResumeRead as one salvaged before a hang-up does. Loop only.
func (c *conn) peerEOF() {
	if c.unshown {
		held := c.in
		c.in, c.unshown = nil, false
		c.present(held)
		if c.paused {
			c.heldEOF = true
			return
		}
		if c.ending.Load() {
			return
		}
	}
	c.eof = true
	c.in = nil
	if c.hc == nil {
		if c.wshut {
			c.closeWith(nil)
		} else {
			c.closeWith(io.EOF)
		}
		return
	}
	a, err := backendkit.CallReadEOF(c.b.cfg.Logger, c.hc, c)
	switch {
	case err != nil:
		c.Abort(err)
	case a == reactor.Close || c.wdone:
		c.closeWith(nil)
	}
}

// resumeRead is ResumeRead's task: the held input, then the socket. Loop only.
func (c *conn) resumeRead() {
	if c.closed || c.paused || c.eof || c.draining {
		return
	}
	if len(c.in) > 0 {
		held := c.in
		c.in = nil
		c.present(held)
	}
	if c.heldEOF && !c.closed && !c.paused && !c.ending.Load() {
		c.heldEOF = false
		c.peerEOF()
	}
	if !c.closed && !c.paused && !c.ending.Load() && !c.eof {
		if c.lp == c.pl {
			c.readLoop()
		} else {
			c.resumeMail()
		}
	}
	c.settle()
}

// settleFromTask is settle as a posted task (AsyncWrite, Close and Abort from elsewhere, nbio
// having written).
func (c *conn) settleFromTask() {
	c.settlePosted.Store(false)
	if c.opened && !c.closed {
		c.settle()
	}
}

// postSettle has settle run on the owner, once for any number of calls until it runs. Safe
// from any goroutine.
func (c *conn) postSettle() {
	if c.settlePosted.CompareAndSwap(false, true) && !c.lp.post(c.settleTask) {
		c.settlePosted.Store(false)
	}
}

// settle ends every turn: it sends the output, applies a close, a CloseWrite or an abort that
// was asked for, and calls OnDrain. What waits for nbio to send its share sets watch, and nbio's
// next report of bytes written settles again. Loop only.
func (c *conn) settle() {
	for !c.closed {
		if c.gone && !c.resume && !c.paused && !c.heldEOF && !c.unshown && !c.mailPending() {
			// nbio closed the socket; the input it held has been presented (a tail the
			// handler left is dropped, as at any end of stream).
			err := c.goneErr
			if err == io.EOF && c.wdone && c.eof {
				// Both halves ended in order, the peer's end of stream presented only now.
				err = nil
			}
			c.closed = true
			c.finish(err)
			return
		}
		if c.resume {
			c.resume = false
			c.lp.post(c.resumeTask)
		}
		c.watch.Store(true) // before looking at nbio's share: a report after that settles again
		c.flush()
		c.mu.Lock()
		aborted, abortCause := c.aborted, c.abortCause
		asked, closeCause := c.closeAsked, c.closeCause
		late := c.out.Len() > 0
		c.mu.Unlock()
		if aborted {
			c.abortNow(abortCause)
			return
		}
		if late {
			// An AsyncWrite came after the flush, before the close or CloseWrite it precedes.
			continue
		}
		pending := c.handed.Load() - c.written.Load()
		if asked {
			if pending == 0 {
				c.closeGracefully(closeCause)
			} else if !c.lingering {
				// The peer may never read: past closeLinger without an acknowledgement the
				// kernel gives up (ETIMEDOUT) and nbio closes on the error.
				c.lingering = true
				c.withFD(func(fd int) {
					unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(closeLinger/time.Millisecond))
				})
			}
			return
		}
		if c.wshut && !c.wdone {
			if pending > 0 {
				return
			}
			c.shutWrite()
			continue
		}
		wait := false
		if c.dr != nil {
			if b := c.Buffered(); b > c.b.cfg.LowWater {
				c.above.Store(true)
				wait = true
			} else if c.above.CompareAndSwap(true, false) {
				c.watch.Store(false)
				c.callFunc(func(reactor.Conn) { c.dr.OnDrain(c) })
				continue
			}
		}
		if !wait {
			c.watch.Store(false)
		}
		return
	}
}

// flush sends the pending output. While nbio holds none of the connection's, it is one
// write(2) or writev(2) of the whole batch, made here; what the socket does not take goes to
// nbio's Write, which keeps it and sends it on EPOLLOUT. Loop only.
func (c *conn) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.out.Len() == 0 {
		return
	}
	if c.handed.Load() == c.written.Load() {
		n, err := c.writeOut(c.out.Buffers(0))
		if n > 0 {
			c.out.Discard(n)
			c.queued.Add(-int64(n))
			c.lp.shard.Sent(n)
			c.lp.shard.Buffer(-n)
		}
		switch {
		case err == nil, errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
		case errors.Is(err, net.ErrClosed):
			// nbio closed the socket; its OnClose follows. Nothing more can be sent.
			c.dropLocked()
			return
		default:
			c.abortLocked(os.NewSyscallError("writev", err))
			return
		}
	}
	if c.out.Len() == 0 {
		return
	}
	total := c.out.Len()
	c.queued.Add(-int64(total))
	c.handed.Add(int64(total))
	for _, p := range c.out.Buffers(0) {
		// nbio copies p. An error means nbio closed the connection (past MaxWriteBufferSize
		// with ErrOverflow, or on the socket's error) and its OnClose is on its way.
		if _, err := c.nc.Write(p); err != nil {
			break
		}
	}
	c.out.Reset()
}

// writeOut writes bufs to the socket under nbio's lock, which keeps nbio from closing the
// descriptor (and the number being reused) meanwhile.
func (c *conn) writeOut(bufs [][]byte) (int, error) {
	c.nc.Lock()
	defer c.nc.Unlock()
	if closed, _ := c.nc.IsClosed(); closed {
		return 0, net.ErrClosed
	}
	var n int
	var err error
	if len(bufs) == 1 {
		n, err = unix.Write(c.fd, bufs[0])
	} else {
		n, err = unix.Writev(c.fd, bufs)
	}
	return max(n, 0), err
}

// wrote is nbio's report that it sent n of the bytes handed to it: on the poller's goroutine
// (EPOLLOUT) or inside its Write.
func (c *conn) wrote(n int) {
	c.written.Add(int64(n))
	c.lp.shard.Sent(n)
	c.lp.shard.Buffer(-n)
	if c.watch.Load() {
		c.postSettle()
	}
}

// dropLocked discards the adapter's pending output. mu held.
func (c *conn) dropLocked() {
	if n := c.out.Len(); n > 0 {
		c.out.Reset()
		c.queued.Add(-int64(n))
		c.lp.shard.Buffer(-n)
	}
}

// abortLocked asks for an abort with cause. mu held.
func (c *conn) abortLocked(cause error) {
	if c.aborted {
		return
	}
	c.aborted, c.abortCause = true, cause
	c.ending.Store(true)
	c.noWrite.Store(true)
	c.dropLocked()
}

// shutWrite sends the FIN of a CloseWrite, nbio holding none of the output. Loop only.
func (c *conn) shutWrite() {
	c.wdone = true
	var err error
	c.withFD(func(fd int) { err = unix.Shutdown(fd, unix.SHUT_WR) })
	switch {
	case err != nil:
		c.Abort(os.NewSyscallError("shutdown", err))
	case c.eof:
		c.closeWith(nil)
	}
}

// abortNow closes with a reset: SO_LINGER 0, then nbio's close, which drops what nbio holds.
// Loop only.
func (c *conn) abortNow(cause error) {
	c.withFD(func(fd int) {
		unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	})
	c.closeNow(cause)
}

// withFD calls f with the socket under nbio's lock, unless nbio has closed it: the number
// may then belong to another connection already.
func (c *conn) withFD(f func(fd int)) {
	c.nc.Lock()
	defer c.nc.Unlock()
	if closed, _ := c.nc.IsClosed(); !closed {
		f(c.fd)
	}
}

// closeGracefully ends a connection whose output has all gone to the kernel. Closing a socket
// that holds unread input, or gets some later, makes the kernel send a reset that destroys
// what the peer has not read yet of the reply; so unless the peer has finished sending, the
// write side is shut down (FIN) and the connection, closed as far as the handler knows, goes
// on discarding input until the peer's FIN or drainLinger. Loop only.
func (c *conn) closeGracefully(cause error) {
	if c.eof || c.wdone && cause == nil {
		c.closeNow(cause)
		return
	}
	var err error
	c.withFD(func(fd int) { err = unix.Shutdown(fd, unix.SHUT_WR) })
	if err != nil {
		c.closeNow(cause)
		return
	}
	c.wdone = true
	c.finish(cause)
	c.draining = true
	c.drainTimer = time.AfterFunc(drainLinger, func() { c.lp.post(c.endDrain) })
	if c.lp == c.pl {
		c.discard(c.lp.rbuf)
	} else {
		c.rdraining.Store(true)
		c.pl.post(c.pollerReadTask)
	}
}

// discard reads and drops what a draining connection's peer sends, and has it closed at the
// end of stream or an error. On the goroutine that reads the connection, into buf.
func (c *conn) discard(buf []byte) {
	for {
		n, err := c.nc.Read(buf)
		switch {
		case n > 0:
			c.lp.shard.Received(n)
			continue
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return
		}
		if c.lp == c.pl {
			c.endDrain()
		} else {
			c.lp.post(c.endDrain)
		}
		return
	}
}

// endDrain closes a draining connection. Loop only.
func (c *conn) endDrain() {
	if c.draining {
		c.draining = false
		c.rdraining.Store(false)
		c.drainTimer.Stop()
		c.nc.Close()
	}
}

// closeNow closes the socket and calls OnClose with cause. nbio's own OnClose, which follows
// on another goroutine, then finds the connection finished. Loop only.
func (c *conn) closeNow(cause error) {
	c.closed = true
	c.nc.Close()
	c.finish(cause)
}

// hangup is nbio's OnClose, brought to the owner loop: nbio closed the socket itself (an error
// or hang-up event, a failed write, MaxWriteBufferSize passed), or it follows the adapter's
// own close. Loop only.
func (c *conn) hangup(err error) {
	if c.finished {
		return
	}
	switch {
	case errors.Is(err, nbio.ErrOverflow):
		err = reactor.ErrOutboundFull
	case err == nil, errors.Is(err, io.EOF):
		// An EPOLLHUP or EPOLLERR event, whose error nbio does not keep: the socket's error
		// if noteError saw one, else an end of stream.
		c.mu.Lock()
		hupErr := c.hupErr
		c.mu.Unlock()
		switch {
		case hupErr != nil:
			err = hupErr
		case c.wdone && c.eof:
			err = nil
		default:
			err = io.EOF
		}
	}
	if (err == nil || err == io.EOF) && c.holdsInput() {
		// Input salvaged before the hang-up waits for the handler (a paused connection, or
		// mail on its way): it is presented first, and the connection finishes after it.
		c.gone, c.goneErr = true, err
		if !c.paused {
			c.resume = true
			c.settle()
		}
		return
	}
	c.closed = true
	c.finish(err)
}

// holdsInput reports whether input read from the socket, or its end, still waits to be
// presented. Loop only.
func (c *conn) holdsInput() bool {
	return len(c.in) > 0 || c.heldEOF || c.mailPending()
}

// mailPending reports whether the poller's mail, or the end of stream it met, waits for the
// owner. Loop only.
func (c *conn) mailPending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.mail) > 0 || c.mailPosted || c.mailEOF && !c.eof
}

// finish runs OnClose once and forgets the connection. Loop only.
func (c *conn) finish(cause error) {
	if c.finished {
		return
	}
	c.finished, c.closed = true, true
	c.ending.Store(true)
	c.noWrite.Store(true)
	c.timers.StopAll()
	c.mu.Lock()
	c.dropLocked()
	c.mu.Unlock()
	if held := c.handed.Load() - c.written.Load(); held > 0 {
		// What nbio held is dropped with its connection.
		c.written.Add(held)
		c.lp.shard.Buffer(-int(held))
	}
	c.in, c.unshown = nil, false
	switch {
	case c.opened:
		if backendkit.CallClose(c.b.cfg.Logger, c.h, c, cause) {
			c.lp.shard.HandlerPanic()
		}
		c.lp.shard.Closed(cause, time.Since(c.born))
	case c.dst != "":
		// A dialed connection that failed before it opened: the dial failed.
		c.lp.shard.DialFailed()
		if backendkit.CallClose(c.b.cfg.Logger, c.h, c, backendkit.DialError(c.dst, cause)) {
			c.lp.shard.HandlerPanic()
		}
	}
	c.b.conns.Remove(c)
}

// closeWith asks for a graceful close with cause: the output is flushed first. Safe from any
// goroutine; the first close or abort wins.
func (c *conn) closeWith(cause error) {
	c.mu.Lock()
	if c.closeAsked || c.aborted {
		c.mu.Unlock()
		return
	}
	c.closeAsked, c.closeCause = true, cause
	c.ending.Store(true)
	c.noWrite.Store(true)
	c.mu.Unlock()
	c.postSettle()
}

// callFunc runs f (a posted function, a timer, OnDrain) as a callback, guarded. Loop only.
func (c *conn) callFunc(f func(reactor.Conn)) {
	defer func() {
		if v := recover(); v != nil {
			c.Abort(backendkit.HandlerPanic(c.b.cfg.Logger, c.RemoteAddr().String(), v))
		}
	}()
	f(c)
}

// Write implements reactor.Conn. Only from the connection's own callbacks.
func (c *conn) Write(p []byte) (int, error) {
	if err := c.enqueue(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// AsyncWrite implements reactor.Conn. Safe from any goroutine.
func (c *conn) AsyncWrite(p []byte) error {
	if err := c.enqueue(p); err != nil {
		return err
	}
	c.postSettle()
	return nil
}

// enqueue copies p into the outbound queue, in the order of the calls that take mu.
func (c *conn) enqueue(p []byte) error {
	if c.noWrite.Load() {
		return reactor.ErrConnClosed
	}
	if len(p) == 0 {
		return nil
	}
	c.mu.Lock()
	if c.closeAsked || c.aborted || c.noWrite.Load() {
		c.mu.Unlock()
		return reactor.ErrConnClosed
	}
	if c.Buffered()+len(p) > c.b.cfg.MaxOutbound {
		c.abortLocked(reactor.ErrOutboundFull)
		c.mu.Unlock()
		c.postSettle()
		return reactor.ErrOutboundFull
	}
	c.out.Write(p)
	c.queued.Add(int64(len(p)))
	if c.dr != nil && c.Buffered() > c.b.cfg.LowWater {
		// Above the mark even if the flush takes it all at once: OnDrain is owed.
		c.above.Store(true)
	}
	c.mu.Unlock()
	c.lp.shard.Buffer(len(p))
	return nil
}

// Close implements reactor.Conn. Safe from any goroutine.
func (c *conn) Close() error {
	c.closeWith(nil)
	return nil
}

// Abort implements reactor.Conn. Safe from any goroutine.
func (c *conn) Abort(cause error) {
	if cause == nil {
		cause = reactor.ErrConnClosed
	}
	c.mu.Lock()
	c.abortLocked(cause)
	c.mu.Unlock()
	c.postSettle()
}

// CloseWrite implements reactor.Conn. Only from the connection's own callbacks.
func (c *conn) CloseWrite() error {
	if c.wshut || c.noWrite.Load() {
		return nil
	}
	c.wshut = true
	c.noWrite.Store(true)
	return nil
}

// Dial implements reactor.Conn (dial_linux.go). Only from the connection's own callbacks.
func (c *conn) Dial(ctx context.Context, addr string, h reactor.Handler) error {
	if c.ending.Load() {
		return reactor.ErrConnClosed
	}
	return c.b.dial(ctx, c.lp, addr, h)
}

// LocalAddr implements reactor.Conn. Safe from any goroutine.
func (c *conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr implements reactor.Conn. Safe from any goroutine.
func (c *conn) RemoteAddr() net.Addr { return c.raddr }

// Context implements reactor.Conn. Only from the connection's own callbacks.
func (c *conn) Context() any { return c.ctx }

// SetContext implements reactor.Conn. Only from the connection's own callbacks.
func (c *conn) SetContext(v any) { c.ctx = v }

// Post implements reactor.Conn. Safe from any goroutine.
func (c *conn) Post(f func(reactor.Conn)) error {
	if c.ending.Load() {
		return reactor.ErrConnClosed
	}
	if !c.lp.post(func() {
		if !c.opened || c.closed || c.ending.Load() {
			return
		}
		c.callFunc(f)
		c.settle()
	}) {
		return reactor.ErrConnClosed
	}
	return nil
}

// PauseRead implements reactor.Conn. Only from the connection's own callbacks.
func (c *conn) PauseRead() {
	c.paused, c.resume = true, false
	c.rpaused.Store(true)
}

// ResumeRead implements reactor.Conn. Only from the connection's own callbacks.
func (c *conn) ResumeRead() {
	if c.paused {
		c.paused, c.resume = false, true
		c.rpaused.Store(false)
	}
}

// Buffered implements reactor.Conn. Safe from any goroutine.
func (c *conn) Buffered() int {
	return int(c.queued.Load() + c.handed.Load() - c.written.Load())
}
