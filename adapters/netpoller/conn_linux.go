//go:build linux

package netpoller

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/cloudwego/netpoll"

	"github.com/reactorlab/reactor/internal/netaddr"
	"github.com/reactorlab/reactor/internal/sockstate"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

const (
	// maxWritev bounds the slices handed to one writev (IOV_MAX is 1024 on Linux).
	maxWritev = 512
	// keepCarry is the largest carry-over buffer an idle connection keeps; a larger one, grown
	// by one big partial request, goes back to the garbage collector once emptied.
	keepCarry = 16 << 10
	// inputWindow is the most input one OnData call is shown; see present.
	inputWindow = reactor.DefaultReadBufferSize
	// drainLinger bounds how long a connection that sent FIN waits for the peer's.
	drainLinger = 500 * time.Millisecond
	// paceCheck is how often a goroutine paced by a slow reader checks its pending input.
	paceCheck = 10 * time.Millisecond
)

// Connection states, changed under conn.mu.
const (
	stateOpen     = iota
	stateClosing  // flush, then close (Close, a Close action, Shutdown)
	stateAborting // drop output, reset the connection
	stateClosed   // netpoll closed it; OnClose ran or is running
)

// conn is one netpoll connection as the handler sees it. Fields marked "handler" belong to
// the goroutine running the connection's callbacks (netpoll runs one at a time per
// connection); the rest are shared under mu.
type conn struct {
	b       *backend
	h       reactor.Handler
	hc      reactor.HalfCloser // h, when it is one
	onDrain func(reactor.Conn) // h's OnDrain, when it is a reactor.Drainer
	nc      netpoll.Connection
	fd      int
	local   net.Addr
	remote  net.Addr
	dialed  bool                     // made by Dial: the dial goroutine delivers OnOpen
	origHup func(netpoll.Poll) error // netpoll's OnHup, when the adapter intercepts it (HalfCloser)
	st      *reactor.StatShard       // nil without Config.Stats
	born    time.Time                // when made, for the lifetime Stats counts

	opened  bool   // handler: OnOpen was delivered, so OnClose is owed
	ctx     any    // handler: the SetContext value
	carry   []byte // handler: input the handler left unconsumed, presented again
	paused  bool   // handler: PauseRead is in force
	held    bool   // handler: carry holds input a pause kept from the handler, owed on resume
	readEOF bool   // handler: OnReadEOF was delivered

	pending atomic.Int64 // out.Len(), for Buffered from any goroutine

	mu         sync.Mutex
	state      int
	busy       bool                 // a handler callback or posted function runs (the owner is taken)
	closeDue   bool                 // netpoll's Close was asked for while busy; settle calls it
	posts      []func(reactor.Conn) // posted functions not yet run, from postHead on
	postHead   int
	timers     timerHeap           // AfterFunc timers not yet run, stopped or cancelled
	timerSeq   uint64              // AfterFunc calls so far
	high       bool                // out went above LowWater since the last OnDrain
	closeReq   bool                // a graceful close was asked for; applied when no callback runs
	cause      error               // what OnClose is told, once a close was asked for
	out        backendkit.Outbound // bytes not yet handed to the kernel or to netpoll's writer
	flushing   bool                // a flusher goroutine owns the socket's write side
	sendQueued bool                // an AsyncWrite sender goroutine is on its way
	iov        []syscall.Iovec     // scratch for writev, reused
	wconn      net.Conn            // a duplicate of the descriptor on Go's poller, for the flusher
	wvec       net.Buffers         // the flusher's writev list, reused
	drainTimer *time.Timer         // closes a connection that sent FIN if the peer does not
	drained    sync.Cond           // on mu; signalled as the flusher makes progress or the state changes
	wshut      bool                // CloseWrite was called: no more writes, FIN once out is sent
	wdone      bool                // the sending half is shut down (FIN sent)
	eof        bool                // the adapter took the peer's end of stream from netpoll (halfclose_linux.go)
	eofOwed    bool                // ... and has yet to deliver it, after the input before it
	eofReset   bool                // ... which was not an orderly end of stream
	late       []byte              // input read from the kernel at the end of stream, not yet delivered
}

// newConn makes the adapter's connection for nc, served by h, whose OnDrain is onDrain (nil
// when h is no reactor.Drainer).
func newConn(b *backend, nc netpoll.Connection, h reactor.Handler, onDrain func(reactor.Conn)) (*conn, error) {
	sc, ok := nc.(interface{ Fd() int })
	if !ok {
		return nil, errors.New("netpoll connection without a descriptor")
	}
	c := &conn{b: b, h: h, onDrain: onDrain, nc: nc, fd: sc.Fd(), local: netaddr.Clone(nc.LocalAddr()), remote: netaddr.Clone(nc.RemoteAddr()),
		st: b.cfg.Stats.Shard(int(b.statSeq.Add(1))), born: time.Now()}
	c.hc, _ = h.(reactor.HalfCloser)
	c.drained.L = &c.mu
	return c, nil
}

// Write implements reactor.Conn. Only from the connection's own callbacks; the bytes go out
// when the callback returns.
func (c *conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if err := c.queueLocked(p); err != nil {
		abort := c.state == stateAborting
		c.mu.Unlock()
		if abort {
			c.reset()
		}
		return 0, err
	}
	c.mu.Unlock()
	return len(p), nil
}

// AsyncWrite implements reactor.Conn. Safe from any goroutine; it never blocks on the peer:
// it tries one non-blocking writev and leaves the rest to a flusher goroutine.
func (c *conn) AsyncWrite(p []byte) error {
	c.mu.Lock()
	if err := c.queueLocked(p); err != nil {
		abort := c.state == stateAborting
		c.mu.Unlock()
		if abort {
			c.reset()
		}
		return err
	}
	// Send from a goroutine of its own, not the caller's: a chat broadcast then costs its
	// sender one queue append per member, and each member one writev for everything queued
	// for it meanwhile, instead of a system call per line per member. A connection inside
	// its own callback is flushed by settle anyway.
	if !c.busy && !c.flushing && !c.sendQueued {
		c.sendQueued = true
		c.b.wg.Add(1)
		go c.sendQueuedOutput()
	}
	c.mu.Unlock()
	return nil
}

// sendQueuedOutput flushes what AsyncWrite queued; it exits at once, leaving what the socket
// would not take to a flusher.
func (c *conn) sendQueuedOutput() {
	defer c.b.wg.Done()
	c.mu.Lock()
	c.sendQueued = false
	closeNow := c.flushLocked()
	c.mu.Unlock()
	if closeNow {
		c.finish()
	}
}

// queueLocked appends p to the outbound queue, or aborts the connection when p takes it past
// MaxOutbound. c.mu held.
func (c *conn) queueLocked(p []byte) error {
	if c.state != stateOpen || c.wshut {
		return reactor.ErrConnClosed
	}
	if c.out.Len()+len(p) > c.b.cfg.MaxOutbound {
		c.abortLocked(reactor.ErrOutboundFull)
		return reactor.ErrOutboundFull
	}
	c.out.Write(p)
	c.outChanged()
	return nil
}

// Close implements reactor.Conn. Safe from any goroutine.
func (c *conn) Close() error {
	c.closeWith(nil)
	return nil
}

// closeWith asks for a graceful close that reports cause: the queue is flushed, then the
// connection closed (by the flusher, if one is needed). While a callback runs the close waits
// for its end (settle), so a close from another goroutine never cuts a reply in half.
func (c *conn) closeWith(cause error) {
	c.mu.Lock()
	if c.state != stateOpen || c.closeReq {
		c.mu.Unlock()
		return
	}
	c.closeReq, c.cause = true, cause
	c.drained.Broadcast()
	if c.busy {
		c.mu.Unlock()
		return
	}
	c.state = stateClosing
	closeNow := c.flushLocked()
	c.mu.Unlock()
	if closeNow {
		c.finish()
	}
}

// Abort implements reactor.Conn. Safe from any goroutine.
func (c *conn) Abort(cause error) {
	c.mu.Lock()
	ok := c.abortLocked(cause)
	c.mu.Unlock()
	if ok {
		c.reset()
	}
}

// abortLocked records the abort; the caller calls reset once c.mu is released (netpoll may
// run the close callbacks, which take c.mu, inside Close). c.mu held.
func (c *conn) abortLocked(cause error) bool {
	if c.state == stateAborting || c.state == stateClosed {
		return false
	}
	if cause == nil {
		cause = reactor.ErrConnClosed
	}
	c.state, c.cause = stateAborting, cause
	if !c.flushing {
		c.out.Reset() // else the flusher, writing from the queue's chunks, drops them
		c.outChanged()
	}
	c.drained.Broadcast()
	// SO_LINGER 0: the close below resets the connection instead of sending what is queued.
	// The descriptor is still open: netpoll closes it only after onClosed, which needs c.mu.
	_ = syscall.SetsockoptLinger(c.fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
	return true
}

// reset closes the connection after an abort. While the owner is taken it leaves the close to
// settle: when no netpoll task holds the connection, netpoll runs the close callback inside
// Close, and the callback waits for the owner — who may be the caller, in a posted function.
func (c *conn) reset() {
	c.mu.Lock()
	if c.busy {
		c.closeDue = true
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.nc.Close()
}

// finish ends a connection whose output is all sent (or that was aborted). An aborted one is
// closed at once. A closing one sends FIN (shutdown of the write side) and is closed when the
// peer closes too — netpoll notices the hang-up — or after drainLinger: closing at once would
// answer any byte the peer sent meanwhile with a reset, and a reset makes the peer's kernel
// drop our last reply before it is read (a 408 to a slowloris peer that keeps trickling, say).
// Input that arrives meanwhile is discarded (onRequest skips it once the state left open).
func (c *conn) finish() {
	c.mu.Lock()
	if c.state != stateClosing || c.drainTimer != nil {
		abort := c.state == stateAborting
		c.mu.Unlock()
		if abort {
			c.reset()
		}
		return
	}
	if c.eof {
		// The peer has sent all it will and netpoll reads no more: nothing to wait for.
		c.mu.Unlock()
		c.reset()
		return
	}
	if err := syscall.Shutdown(c.fd, syscall.SHUT_WR); err != nil {
		c.mu.Unlock()
		c.reset()
		return
	}
	c.drainTimer = time.AfterFunc(drainLinger, c.reset)
	c.mu.Unlock()
}

// LocalAddr implements reactor.Conn. Safe from any goroutine.
func (c *conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr implements reactor.Conn. Safe from any goroutine.
func (c *conn) RemoteAddr() net.Addr { return c.remote }

// Context implements reactor.Conn. Only from the connection's own callbacks.
func (c *conn) Context() any { return c.ctx }

// SetContext implements reactor.Conn. Only from the connection's own callbacks.
func (c *conn) SetContext(v any) { c.ctx = v }

// flushLocked sends the queue with non-blocking writev straight on the descriptor, unless a
// flusher owns the write side. What the socket does not take goes to a new flusher goroutine,
// which waits on netpoll's blocking writer, so no caller ever blocks on the peer. It reports
// whether the caller must close the connection once c.mu is released: a closing connection
// is fully flushed, or the write failed and the connection was aborted. c.mu held.
//
// Writing to the descriptor directly is safe: netpoll's output buffer is empty whenever no
// flusher runs (its Flush returns only when all is sent), and netpoll closes the descriptor
// only after onClosed, which waits for c.mu.
func (c *conn) flushLocked() bool {
	if c.flushing || c.state == stateClosed || c.state == stateAborting {
		return false
	}
	for c.out.Len() > 0 {
		bufs := c.out.Buffers(maxWritev)
		n, err := c.writev(bufs)
		if n > 0 {
			c.out.Discard(n)
			c.st.Sent(n)
		}
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			break
		}
		if err != nil {
			// The peer is gone; netpoll will notice too. Say why, and have the caller close.
			return c.abortLocked(os.NewSyscallError("writev", err))
		}
	}
	c.outChanged()
	if c.out.Len() > 0 {
		c.flushing = true
		c.b.wg.Add(1)
		go c.flusher()
		return false
	}
	if c.shutWriteLocked() {
		return true
	}
	return c.state == stateClosing
}

// flusher sends the queue to a slow peer, blocking in Go's own poller on a duplicate of the
// descriptor, and exits once the queue is empty or the connection is gone (onClosed closes
// the duplicate, which ends a blocked write).
//
// netpoll's Writer.Flush would be the library's way, but it is not safe to alternate with
// anything else: it waits on a one-slot signal channel that its poller may fill twice for one
// drain, so a later Flush can return while netpoll's poller is still sending its buffer —
// observed as stalled and interleaved output under the chat broadcast load. The adapter
// therefore uses netpoll for accepting, reading and scheduling, and writes itself.
func (c *conn) flusher() {
	defer c.b.wg.Done()
	c.mu.Lock()
	if c.wconn == nil && c.state != stateClosed {
		w, err := dupConn(c.fd)
		if err != nil {
			c.flushing = false
			c.drained.Broadcast()
			ok := c.abortLocked(err)
			c.mu.Unlock()
			if ok {
				c.reset()
			}
			return
		}
		c.wconn = w
	}
	for c.out.Len() > 0 && (c.state == stateOpen || c.state == stateClosing) {
		// The chunks stay put while the lock is released: writers only append, and nobody
		// else discards or resets the queue while flushing is set.
		c.wvec = append(c.wvec[:0], c.out.Buffers(maxWritev)...)
		wb, w := c.wvec, c.wconn // WriteTo consumes wb; c.wvec keeps its array for reuse
		c.mu.Unlock()
		n, err := wb.WriteTo(w)
		c.mu.Lock()
		c.out.Discard(int(n))
		c.st.Sent(int(n))
		c.outChanged()
		c.drained.Broadcast()
		if err != nil {
			c.abortLocked(fmt.Errorf("netpoll: write: %w", err))
			break
		}
	}
	clear(c.wvec) // the chunks go back to the pool; hold no references to them
	c.flushing = false
	c.drained.Broadcast()
	c.shutWriteLocked()
	reset := false
	if c.state == stateAborting || c.state == stateClosed {
		c.out.Reset()
		c.outChanged()
		reset = c.state == stateAborting
	}
	closeNow := c.state == stateClosing && c.out.Len() == 0
	c.mu.Unlock()
	if closeNow || reset {
		c.finish()
	}
}

// dupConn wraps a duplicate of fd in a net.Conn on Go's runtime poller.
func dupConn(fd int) (net.Conn, error) {
	nfd, err := syscall.Dup(fd)
	if err != nil {
		return nil, os.NewSyscallError("dup", err)
	}
	syscall.CloseOnExec(nfd)
	f := os.NewFile(uintptr(nfd), "netpoll-conn")
	defer f.Close()
	return net.FileConn(f)
}

// open delivers OnOpen and sends what it wrote.
func (c *conn) open() {
	c.opened = true
	c.mu.Lock()
	c.busy = true
	c.mu.Unlock()
	if err := c.callOpen(); err != nil {
		c.Abort(err)
	}
	c.settle()
}

// onRequest lends the buffered input to the handler. netpoll requires every byte to be taken
// from its Reader (or it calls again at once), so what the handler leaves — or what a pause
// keeps from it — is carried over in c.carry and presented again, joined with the next input.
func (c *conn) onRequest() {
	r := c.nc.Reader()
	n := r.Len()
	c.st.Received(n)
	if n == 0 || !c.take() {
		_ = r.Skip(n)
		_ = r.Release()
		return
	}
	if buf, err := r.Peek(n); err == nil {
		c.deliver(buf, n)
	}
	_ = r.Skip(n)
	_ = r.Release()
	c.settle()
}

// take makes the calling netpoll task the connection's owner, waiting while a posted function
// runs on another goroutine. It reports false, taking nothing, once the connection no longer
// takes input.
func (c *conn) take() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.busy && c.state == stateOpen && !c.closeReq {
		c.drained.Wait()
	}
	if c.state != stateOpen || c.closeReq {
		return false
	}
	c.busy = true
	return true
}

// deliver presents buf, new input still in netpoll's Reader (taken is how much of the Reader
// it is), after what was carried over, unless reading is paused; what the handler leaves is
// carried to the next call. Owner only.
func (c *conn) deliver(buf []byte, taken int) {
	in := buf
	if len(c.carry) > 0 {
		c.carry = append(c.carry, buf...)
		in = c.carry
	}
	off := 0
	if !c.paused {
		off = c.present(in, taken)
	}
	switch {
	case off < 0:
		c.carry = c.carry[:0]
	case len(in)-off > c.b.cfg.MaxInbound && c.paused:
		// netpoll's poller read this far ahead of the pause (its reads grow to 8 MiB): the
		// pause cannot keep the memory flat (Info.Unsupported, "PauseRead while input streams").
		c.carry = c.carry[:0]
		c.Abort(fmt.Errorf("netpoll: %d bytes read ahead of PauseRead, past MaxInbound: %w (%w)", len(in), reactor.ErrNotSupported, reactor.ErrInboundFull))
	case len(in)-off > c.b.cfg.MaxInbound:
		c.carry = c.carry[:0]
		c.Abort(reactor.ErrInboundFull)
	default:
		// in may alias netpoll's buffer (released after this call) or c.carry itself;
		// copy handles both.
		if len(in) > off && len(c.carry) == 0 {
			c.carry = append(c.carry[:0], in[off:]...)
		} else {
			c.carry = c.carry[:copy(c.carry, in[off:])]
		}
	}
	// Input a pause kept from the handler is owed to it on ResumeRead, even if nothing more
	// arrives then.
	c.held = c.paused && len(c.carry) > 0
	if len(c.carry) == 0 && cap(c.carry) > keepCarry {
		c.carry = nil
	}
}

// present hands in to the handler a window of at most inputWindow bytes at a time, as a
// read-sized backend would: netpoll reads everything the peer sends, and one callback over
// all of it could queue more output than MaxOutbound allows. Between windows the output is
// sent and, while a slow peer holds it above half the limit, the goroutine waits (pace). A
// window the handler cannot consume at all widens to the whole input. taken is how much of
// netpoll's buffered input in holds. present returns the offset of the first unconsumed
// byte, or -1 when the connection is closing or aborted.
func (c *conn) present(in []byte, taken int) int {
	off, window := 0, inputWindow
	for off < len(in) {
		end := min(len(in), off+window)
		consumed, action, perr := c.callData(in[off:end])
		switch {
		case perr != nil:
			c.Abort(perr)
			return -1
		case consumed < 0 || consumed > end-off:
			c.Abort(fmt.Errorf("netpoll: handler consumed %d of %d bytes", consumed, end-off))
			return -1
		}
		off += consumed
		if action == reactor.Close {
			c.closeWith(nil)
			return -1
		}
		if c.paused {
			return off // the rest waits in c.carry for ResumeRead
		}
		if consumed == 0 {
			if end == len(in) {
				break // the rest is an incomplete message: wait for more input
			}
			window = len(in) - off
			continue
		}
		if off == len(in) {
			break
		}
		// netpoll reads on while the handler works, without limit; input the handler lags
		// behind by more than MaxInbound is refused, or a peer that never reads our replies
		// could have its requests pile up in memory.
		if len(in)-off+c.nc.Reader().Len()-taken > c.b.cfg.MaxInbound {
			c.Abort(reactor.ErrInboundFull)
			return -1
		}
		if !c.pace(taken) {
			return -1
		}
	}
	return off
}

// pace sends what the handler wrote so far and, while the peer is slow to take it (a
// flusher holds more than half of MaxOutbound), blocks the connection's goroutine: its own
// replies slow its reader. netpoll's poller goes on reading meanwhile, so the wait also
// watches what the peer keeps sending beyond the taken bytes being processed: past
// MaxInbound the connection is aborted with ErrInboundFull (a peer that sends but never
// reads). It reports whether the connection is still open for input.
func (c *conn) pace(taken int) bool {
	c.mu.Lock()
	if c.flushLocked() {
		c.mu.Unlock()
		c.finish()
		return false
	}
	var tick *time.Timer
	for c.flushing && c.out.Len() > c.b.cfg.MaxOutbound/2 && c.state == stateOpen && !c.closeReq {
		if c.nc.Reader().Len()-taken > c.b.cfg.MaxInbound {
			if c.abortLocked(reactor.ErrInboundFull) {
				c.mu.Unlock()
				if tick != nil {
					tick.Stop()
				}
				c.reset()
				return false
			}
			break
		}
		if tick == nil {
			// Nothing signals the growth of netpoll's input; look again now and then.
			tick = time.AfterFunc(paceCheck, c.wake)
		} else {
			tick.Reset(paceCheck)
		}
		c.drained.Wait()
	}
	if tick != nil {
		tick.Stop()
	}
	open := c.state == stateOpen && !c.closeReq
	c.mu.Unlock()
	return open
}

// wake rouses a pacing goroutine to look at its input again.
func (c *conn) wake() {
	c.mu.Lock()
	c.drained.Broadcast()
	c.mu.Unlock()
}

// settle ends the owner's turn (a callback, or a run of posted functions): it applies a close
// asked for meanwhile and sends what was written; then, while the connection is open, it runs
// the functions posted meanwhile and delivers input a ResumeRead released, sending after each;
// then it gives the connection up, and closes it in netpoll if an abort asked for that.
func (c *conn) settle() {
	c.mu.Lock()
	var closeNow bool
	for {
		if c.closeReq && c.state == stateOpen {
			c.state = stateClosing
		}
		closeNow = c.flushLocked()
		if c.state != stateOpen {
			c.dropPostsLocked()
			break
		}
		if c.postHead < len(c.posts) {
			f := c.posts[c.postHead]
			c.posts[c.postHead] = nil
			c.postHead++
			if c.postHead == len(c.posts) {
				c.posts, c.postHead = c.posts[:0], 0
			}
			c.mu.Unlock()
			if err := c.callPosted(f); err != nil {
				c.Abort(err)
			}
			c.mu.Lock()
			continue
		}
		if c.held && !c.paused {
			c.mu.Unlock()
			c.deliver(nil, 0)
			c.mu.Lock()
			continue
		}
		if c.eofOwed && !c.paused {
			if len(c.late) > 0 {
				late := c.late
				c.late = nil
				c.mu.Unlock()
				c.deliver(late, 0)
				c.mu.Lock()
				continue
			}
			// Input netpoll read before the end of stream is delivered first, by the netpoll
			// task that is waiting for the owner (take) or on its way.
			if c.nc.Reader().Len() == 0 {
				c.eofOwed = false
				reset := c.eofReset
				c.mu.Unlock()
				c.endOfInput(reset)
				c.mu.Lock()
				continue
			}
		}
		break
	}
	c.busy = false
	c.drained.Broadcast() // a netpoll task or onClosed may wait for the owner
	due := c.closeDue
	c.closeDue = false
	c.mu.Unlock()
	if due {
		c.nc.Close()
	}
	if closeNow {
		c.finish()
	}
}

// onClosed is netpoll's close callback: it runs once, never during onRequest, and before
// netpoll closes the descriptor.
func (c *conn) onClosed(netpoll.Connection) error {
	// A dialed connection's OnOpen is the dial goroutine's, which owns the connection until it
	// has delivered it; the wait for the owner below waits for that.
	if !c.dialed && !c.opened {
		c.serveOrphan()
	}
	c.mu.Lock()
	if c.eof {
		// The adapter may have registered the descriptor again (watchErrors) where netpoll's
		// close would not detach it; detaching twice does nothing.
		forgetRegistration(c.nc)
	}
	st, cause, asked := c.state, c.cause, c.closeReq
	c.state = stateClosed
	c.dropPostsLocked()
	timers := c.timers
	c.timers = nil
	if !c.flushing {
		c.out.Reset()
		c.outChanged()
	}
	if c.wconn != nil {
		c.wconn.Close() // ends a flusher blocked on the peer; it then drops the queue
	}
	if c.drainTimer != nil {
		c.drainTimer.Stop()
	}
	// A posted function running on another goroutine ends first: OnClose never overlaps it.
	for c.busy {
		c.drained.Wait()
	}
	c.mu.Unlock()
	for _, t := range timers {
		t.cancel()
	}
	c.carry = nil
	if st == stateOpen && !asked {
		cause = sockstate.HangupCause(c.fd, c.wdone) // netpoll closes an open connection only when the peer hung up
		if c.b.stopping.Load() {
			cause = reactor.ErrServerClosed
		}
	}
	c.drained.Broadcast()
	c.callClose(cause)
	c.b.forget(c)
	return nil
}

// serveOrphan serves a connection netpoll closes before it ran OnConnect, which it then never
// does: a peer that sends a request and half-closes at once is hung up on by netpoll's poller
// before the connection's first task starts. The descriptor is still open here and the input
// still buffered, so the handler gets the connection as any backend reading to EOF would give
// it: opened, then the input, then (in onClosed) closed; what it writes is sent if the socket
// takes it at once.
func (c *conn) serveOrphan() {
	c.open()
	if c.nc.Reader().Len() > 0 {
		c.onRequest()
	}
}

func (c *conn) callOpen() error { return backendkit.CallOpen(c.b.cfg.Logger, c.h, c) }

func (c *conn) callData(in []byte) (int, reactor.Action, error) {
	return backendkit.CallData(c.b.cfg.Logger, c.h, c, in)
}

// callClose delivers OnClose, counting the close when the connection was open (a dial that
// failed is counted by dialFailed, not as a close).
func (c *conn) callClose(cause error) {
	if c.opened {
		c.st.Closed(cause, time.Since(c.born))
	}
	if backendkit.CallClose(c.b.cfg.Logger, c.h, c, cause) {
		c.st.HandlerPanic()
	}
}

// writev writes bufs with one writev(2) on the non-blocking descriptor. c.mu held.
func (c *conn) writev(bufs [][]byte) (int, error) {
	c.iov = c.iov[:0]
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		v := syscall.Iovec{Base: &b[0]}
		v.SetLen(len(b))
		c.iov = append(c.iov, v)
	}
	if len(c.iov) == 0 {
		return 0, nil
	}
	// RawSyscall: the descriptor is non-blocking, so the call never waits, and skipping the
	// scheduler's enter/exit bookkeeping is measurably cheaper on a hot path that does one
	// writev per reply (netpoll sends the same way).
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITEV, uintptr(c.fd), uintptr(unsafe.Pointer(&c.iov[0])), uintptr(len(c.iov)))
	// Drop the references so the scratch does not pin sent chunks.
	clear(c.iov)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
