//go:build linux

package gnetloop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/reactorlab/reactor/internal/netaddr"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

const (
	// maxWritev bounds the slices handed to one Writev (IOV_MAX is 1024 on Linux).
	maxWritev = 512
	// closeLinger bounds how long a graceful close waits for gnet's outbound buffer to drain
	// before closing anyway: a peer that stopped reading must not hold a closing connection.
	closeLinger = 5 * time.Second
	// lingerFirst and lingerMax are the first and the longest pause between two checks of a
	// draining connection; gnet says nothing when its buffer empties, so the loop looks again.
	lingerFirst = time.Millisecond
	lingerMax   = 50 * time.Millisecond
	// drainLinger bounds how long a connection that sent FIN waits for the peer's.
	drainLinger = 500 * time.Millisecond
)

// Connection states. Transitions happen under conn.mu; reads may use the atomic alone.
const (
	stateOpen     int32 = iota
	stateClosing        // flush, then close (Close, a Close action, Shutdown)
	stateAborting       // drop output, reset the connection
	stateClosed         // OnClose ran or is running
)

// conn is one gnet connection as the handler sees it. Fields marked "loop" are touched only on
// the connection's event loop; the others are shared under mu or atomic.
type conn struct {
	b      *backend
	hs     *handlers // what serves the connection
	gc     gnet.Conn
	loop   gnet.EventLoop
	task   gnet.Runnable // run, made once so that scheduling it allocates no method value
	local  net.Addr
	remote net.Addr

	// Config.Stats (stats_linux.go): the shard of the connection's loop, nil when not
	// counting, set before the handler sees the connection; and, only when counting, when it
	// opened (since backend.epoch) and how much input gnet held when the adapter last looked.
	st     *reactor.StatShard
	born   time.Duration // loop
	inSeen int           // loop

	ctx     any                     // loop: the handler's SetContext value
	out     backendkit.Outbound     // loop: bytes Written during the current callback
	sending backendkit.Outbound     // loop: AsyncWrite bytes taken over by run
	running []func(reactor.Conn)    // loop: posted functions taken over by run
	timers  backendkit.PostedTimers // loop: live AfterFunc timers, stopped at close
	// runTimers and post are runDue and Post, made once so that the timers' posts allocate
	// no method value.
	runTimers func(reactor.Conn)
	post      func(func(reactor.Conn)) error

	opened    bool // loop: OnOpen was delivered, so OnClose is owed
	paused    bool // loop: PauseRead is in effect
	holding   bool // loop: the socket is out of gnet's read interest (hold)
	held      bool // loop: input arrived while paused, unseen by the handler
	redeliver bool // loop: ResumeRead owes the handler the held input
	above     bool // loop: pending output went above LowWater; OnDrain is owed

	// CloseWrite and the peer's end of stream (halfclose_linux.go).
	shutDone bool   // loop: FIN was sent (shutdown SHUT_WR)
	detached bool   // loop: gnet closed its side at the peer's end of stream; end.fd is the adapter's
	end      *ended // loop: made when first needed (CloseWrite waiting for gnet, or detached)
	hupErr   error  // loop: the reset detach found pending at gnet's close, for OnClose

	watchWait time.Duration // loop: the drain timer's current period
	watchLast int           // loop: pending output when the drain timer was last armed
	watching  atomic.Bool   // the drain timer is armed
	aboveSeen atomic.Bool   // a write took the pending output above LowWater (noteAbove)

	state       atomic.Int32
	gnetPending atomic.Int64 // gnet's OutboundBuffered as last seen on the loop
	queuedBytes atomic.Int64 // bytes in out, sending and pend: accepted, not yet handed to gnet

	// queued says pend holds bytes, so that Write can tell without the lock. Set and cleared
	// under mu.
	queued atomic.Bool
	// wshut says CloseWrite was called: writes fail, FIN follows the output. Set under mu.
	wshut atomic.Bool

	mu          sync.Mutex
	pend        backendkit.Outbound  // AsyncWrite bytes waiting for run
	posts       []func(reactor.Conn) // functions Posted, waiting for run
	watch       *time.Timer          // rechecks pending output above LowWater (drainCheck)
	retry       *time.Timer          // rechecks output gnet says nothing of (armRetry)
	scheduled   bool                 // a run task is queued on the loop
	closeReq    atomic.Bool          // a graceful close was asked for; the loop applies it. Set under mu
	cause       error                // what OnClose is told, once a close was asked for
	linger      *time.Timer          // rechecks a closing connection whose gnet buffer is not empty
	lingerWait  time.Duration
	lingerUntil time.Time
	drainUntil  time.Time // set once FIN was sent: the close follows the peer's, or this time
}

// handlers is a Handler with the optional interfaces it implements, looked up once: the
// backend's, shared by every accepted connection, or one dial's.
type handlers struct {
	h  reactor.Handler
	hc reactor.HalfCloser // h, where it is one
	dr reactor.Drainer    // h, where it is one
}

func newHandlers(h reactor.Handler) *handlers {
	hs := &handlers{h: h}
	hs.hc, _ = h.(reactor.HalfCloser)
	hs.dr, _ = h.(reactor.Drainer)
	return hs
}

// newConn makes a connection served by hs on loop; attach gives it its gnet connection.
func newConn(b *backend, loop gnet.EventLoop, hs *handlers) *conn {
	c := &conn{b: b, hs: hs, loop: loop, st: b.shard(loop)}
	c.task = gnet.RunnableFunc(c.run)
	return c
}

// attach binds c to gc, as gnet opens it on c's loop, before the handler sees c.
func (c *conn) attach(gc gnet.Conn) {
	c.gc = gc
	c.local, c.remote = netaddr.Clone(gc.LocalAddr()), netaddr.Clone(gc.RemoteAddr())
}

// Write implements reactor.Conn. Only from the connection's own callbacks (its loop).
// AsyncWrite bytes queued before it and not yet sent by run go out first.
func (c *conn) Write(p []byte) (int, error) {
	if c.state.Load() != stateOpen || c.wshut.Load() {
		return 0, reactor.ErrConnClosed
	}
	if c.queued.Load() {
		c.takeQueued()
	}
	if c.out.Len()+int(c.gnetPending.Load())+len(p) > c.b.cfg.MaxOutbound {
		c.Abort(reactor.ErrOutboundFull)
		return 0, reactor.ErrOutboundFull
	}
	c.out.Write(p)
	c.noteAbove(c.queuedBytes.Add(int64(len(p))))
	c.st.Buffer(len(p))
	return len(p), nil
}

// takeQueued moves what AsyncWrite queued behind the callback's output, which settle sends
// before any later run task: a Write then follows every AsyncWrite that happened before it.
// Loop only.
func (c *conn) takeQueued() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.pend.Buffers(0) {
		c.out.Write(b)
	}
	c.pend.Reset()
	c.queued.Store(false)
}

// AsyncWrite implements reactor.Conn. Safe from any goroutine.
func (c *conn) AsyncWrite(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Load() != stateOpen || c.wshut.Load() {
		return reactor.ErrConnClosed
	}
	if c.pend.Len()+int(c.gnetPending.Load())+len(p) > c.b.cfg.MaxOutbound {
		c.abortLocked(reactor.ErrOutboundFull)
		return reactor.ErrOutboundFull
	}
	c.pend.Write(p)
	c.noteAbove(c.queuedBytes.Add(int64(len(p))))
	c.st.Buffer(len(p))
	c.queued.Store(true)
	c.schedule()
	return nil
}

// Post implements reactor.Conn. Safe from any goroutine. f joins the queue that AsyncWrite
// fills and the loop's run task empties, behind the bytes queued before it.
func (c *conn) Post(f func(reactor.Conn)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Load() != stateOpen || c.closeReq.Load() {
		return reactor.ErrConnClosed
	}
	c.posts = append(c.posts, f)
	c.schedule()
	return nil
}

// Close implements reactor.Conn. Safe from any goroutine.
func (c *conn) Close() error {
	c.closeWith(nil, true)
	return nil
}

// closeWith asks for a graceful close that will report cause. The loop applies it between
// callbacks (applyClose), so a close from another goroutine never cuts the output of a
// callback in progress in half. With wake set it schedules the loop to act; callers already
// on the loop settle the connection themselves.
func (c *conn) closeWith(cause error, wake bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Load() != stateOpen || c.closeReq.Load() {
		return
	}
	c.cause = cause
	c.closeReq.Store(true)
	if wake {
		c.schedule()
	}
}

// applyClose turns an asked-for close into the closing state. Loop only.
func (c *conn) applyClose() {
	if !c.closeReq.Load() {
		return // the common case, without the lock
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Load() == stateOpen {
		c.state.Store(stateClosing)
	}
}

// Abort implements reactor.Conn. Safe from any goroutine.
func (c *conn) Abort(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.abortLocked(cause)
}

func (c *conn) abortLocked(cause error) {
	if st := c.state.Load(); st == stateAborting || st == stateClosed {
		return
	}
	if cause == nil {
		cause = reactor.ErrConnClosed
	}
	c.cause = cause
	c.state.Store(stateAborting)
	c.drop(&c.pend)
	c.queued.Store(false)
	c.schedule()
}

// LocalAddr implements reactor.Conn. Safe from any goroutine.
func (c *conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr implements reactor.Conn. Safe from any goroutine.
func (c *conn) RemoteAddr() net.Addr { return c.remote }

// Context implements reactor.Conn. Only from the connection's own callbacks.
func (c *conn) Context() any { return c.ctx }

// SetContext implements reactor.Conn. Only from the connection's own callbacks.
func (c *conn) SetContext(v any) { c.ctx = v }

// schedule queues run on the connection's loop unless it is queued already. c.mu held: while
// the state is not closed, the connection's loop runs, so Execute is safe: gnet closes the
// connections it knows before its loops end, and Shutdown waits for those detached from it
// (halfclose_linux.go) before it stops the engine. An engine that stops on its own refuses
// Execute once stopped; strand then closes the detached connections.
func (c *conn) schedule() {
	if c.scheduled || c.state.Load() == stateClosed {
		return
	}
	if err := c.loop.Execute(context.Background(), c.task); err != nil {
		// The engine is stopping; it closes this connection itself.
		return
	}
	c.scheduled = true
}

// run is the loop task scheduled by AsyncWrite, Post, Close, Abort, ResumeRead and the
// timers. AsyncWrite bytes and posted functions share its one queue: the bytes queued when run
// takes them go out before the functions run, so what a function writes follows every
// AsyncWrite made before its Post.
func (c *conn) run(context.Context) error {
	c.mu.Lock()
	c.scheduled = false
	if c.state.Load() == stateClosed {
		c.mu.Unlock()
		return nil
	}
	c.pend, c.sending = c.sending, c.pend
	c.posts, c.running = c.running, c.posts
	c.queued.Store(false)
	c.mu.Unlock()
	c.sampleOut(0)
	c.flush(&c.sending)
	c.runPosted()
	if c.redeliver {
		c.redeliver = false
		if c.state.Load() == stateOpen && !c.paused {
			c.deliver()
		}
	}
	if c.finish() == gnet.Close {
		c.closeNow()
	}
	return nil
}

// closeNow closes the connection at once, for a task that found it done. Loop only.
func (c *conn) closeNow() {
	if c.detached {
		c.closeDetached()
		return
	}
	_ = c.loop.Close(c.gc)
}

// runPosted calls the functions run took over, in order, as long as the connection stays
// open; once it is closing the rest are dropped. Loop only.
func (c *conn) runPosted() {
	for i, f := range c.running {
		c.running[i] = nil // the function is not kept alive by the reused slice
		c.applyClose()
		if c.state.Load() == stateOpen {
			c.callFunc(f)
		}
	}
	c.running = c.running[:0]
}

// callFunc runs a posted function, a panic costing the connection as a callback's does.
func (c *conn) callFunc(f func(reactor.Conn)) {
	defer c.recoverAbort()
	f(c)
}

// onTraffic lends the buffered input to the handler and keeps what it did not consume.
func (c *conn) onTraffic() gnet.Action {
	gc := c.gc
	c.countIn()
	c.applyClose()
	if c.state.Load() != stateOpen {
		// Closing: no handler call may follow, so the input no longer matters.
		_, _ = gc.Discard(-1)
		c.keptIn()
		return c.finish()
	}
	c.sampleOut(0)
	if c.paused {
		// gnet read behind the pause (see hold); the bytes stay in its inbound buffer.
		c.held = true
		if gc.InboundBuffered() > c.b.cfg.MaxInbound {
			c.Abort(reactor.ErrInboundFull)
		}
		return c.finish()
	}
	c.deliver()
	return c.finish()
}

// deliver lends the buffered input to the handler, keeps what it did not consume and applies
// its verdict. Loop only, on an open connection.
func (c *conn) deliver() {
	if c.detached {
		c.deliverEOF() // what arrived before the end of stream, then the end
		return
	}
	gc := c.gc
	in, err := gc.Peek(-1)
	if err != nil || len(in) == 0 {
		return
	}
	consumed, action, perr := c.callData(in)
	switch {
	case perr != nil:
		c.Abort(perr)
	case consumed < 0 || consumed > len(in):
		c.Abort(fmt.Errorf("gnet: handler consumed %d of %d bytes", consumed, len(in)))
	default:
		// Discard(0) would drop everything gnet holds, so only a positive count is passed.
		if consumed > 0 {
			_, _ = gc.Discard(consumed)
			c.keptIn()
		}
		if gc.InboundBuffered() > c.b.cfg.MaxInbound {
			c.Abort(reactor.ErrInboundFull)
		} else if action == reactor.Close {
			c.closeWith(nil, false)
		}
	}
}

// afterCallback finishes OnOpen: it sends what the handler wrote and applies its verdict.
func (c *conn) afterCallback(a reactor.Action) gnet.Action {
	if a == reactor.Close {
		c.closeWith(nil, false)
	}
	return c.finish()
}

// finish runs on the loop after every callback and task: settle, OnDrain when the pending
// output has fallen to LowWater (and settle again for what OnDrain wrote), and, while paused,
// the socket kept out of gnet's reads, as the writes may have brought it back in. While
// counting, output gnet holds is looked at again on the drain timer, as gnet says nothing when
// it sends it (stats_linux.go).
func (c *conn) finish() gnet.Action {
	a := c.settle()
	if a == gnet.None && c.drained() {
		c.callDrain()
		a = c.settle()
		c.drained() // only records whether OnDrain's own output went above LowWater
	}
	if a == gnet.None && c.st != nil && c.state.Load() == stateOpen && !c.detached {
		if held := c.gnetPending.Load(); held > 0 {
			c.watchDrain(int(held))
		}
	}
	if a == gnet.None && c.paused && c.state.Load() == stateOpen && !c.detached {
		c.hold()
		if c.state.Load() == stateAborting {
			return c.settle()
		}
	}
	return a
}

// settle runs on the loop after every callback and task: it sends what was written, enforces
// the outbound limit and tells gnet whether to close the connection now.
func (c *conn) settle() gnet.Action {
	c.applyClose()
	switch c.state.Load() {
	case stateClosed:
		// gnet closed the connection during a write (a reset peer); OnClose has run.
		c.drop(&c.out)
		return gnet.None
	case stateAborting:
		c.drop(&c.out)
		c.drop(&c.sending)
		c.reset()
		return gnet.Close
	}
	c.flush(&c.out)
	if c.state.Load() == stateClosing || c.wshut.Load() && !c.shutDone {
		// AsyncWrites made before the Close or CloseWrite may still wait for their loop task
		// (input that arrived first brought us here); they are sent now, or the FIN below
		// would overtake them (contract point 5). They go after the callback's output: one
		// that happened before a Write of it was moved ahead of that Write already
		// (takeQueued). After CloseWrite no AsyncWrite joins them.
		c.mu.Lock()
		c.pend, c.sending = c.sending, c.pend
		c.queued.Store(false)
		c.mu.Unlock()
		c.flush(&c.sending)
	}
	switch c.state.Load() {
	case stateClosed:
		return gnet.None
	case stateAborting:
		c.reset() // a detached connection's write failed
		return gnet.Close
	}
	pending := c.sampleOut(0)
	if pending > c.b.cfg.MaxOutbound {
		c.Abort(reactor.ErrOutboundFull)
		c.reset()
		return gnet.Close
	}
	switch {
	case c.state.Load() == stateClosing:
		if pending > 0 {
			if !c.armLinger() {
				return gnet.Close
			}
		} else if !c.drain() {
			return gnet.Close
		}
	case c.wshut.Load() && !c.shutDone:
		if pending > 0 {
			c.armRetry(pending)
		} else if !c.shutWrite() {
			return gnet.Close
		}
	case c.detached && pending > 0:
		c.armRetry(pending)
	}
	return gnet.None
}

// reset readies an aborting connection for gnet's close: SO_LINGER 0, so that the close sends
// a reset (RST) instead of FIN, and gnet's outbound buffer emptied, as gnet's close would
// otherwise still write what it holds before closing. Loop only.
func (c *conn) reset() {
	if c.detached {
		_ = unix.SetsockoptLinger(c.end.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
	} else {
		_ = c.gc.SetLinger(0)
	}
	c.discardOut()
}

// drain runs once everything written has reached the socket: it sends FIN (shutdown of the
// write side) and keeps reading, and discarding, what the peer still sends until it closes
// too or drainLinger passes. Closing at once would answer any byte the peer sent meanwhile with
// a reset, and a reset makes the peer's kernel drop our last reply before it is read (a 408
// to a slowloris peer that keeps trickling, say). It reports false when the connection should
// be closed now.
func (c *conn) drain() bool {
	if c.detached {
		return false // the peer's end of stream came already: nothing to wait for
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if c.drainUntil.IsZero() {
		if err := unix.Shutdown(c.gc.Fd(), unix.SHUT_WR); err != nil {
			return false
		}
		c.drainUntil = now.Add(drainLinger)
		if c.linger == nil {
			c.linger = time.AfterFunc(drainLinger, c.recheck)
		} else {
			c.linger.Reset(drainLinger)
		}
		return true
	}
	return now.Before(c.drainUntil)
}

// flush hands q to gnet in as few Writev calls as IOV_MAX allows. gnet writes what the socket
// takes and buffers the rest, so q is always emptied.
func (c *conn) flush(q *backendkit.Outbound) {
	if c.detached {
		c.flushDetached(q)
		return
	}
	for q.Len() > 0 && c.state.Load() != stateClosed {
		bufs := q.Buffers(maxWritev)
		n := 0
		for _, b := range bufs {
			n += len(b)
		}
		var err error
		if len(bufs) == 1 {
			// The common case (a reply or a burst of them fits one chunk): gnet's Write is
			// a plain write(2), where its Writev goes through an allocating iovec list.
			_, err = c.gc.Write(bufs[0])
		} else {
			_, err = c.gc.Writev(bufs)
		}
		if err != nil {
			break // gnet closed the connection, and OnClose said why
		}
		q.Discard(n)
		c.queuedBytes.Add(-int64(n))
		c.sampleOut(n)
	}
	c.drop(q)
}

// drop empties q, which holds output that will not be sent, and uncounts it.
func (c *conn) drop(q *backendkit.Outbound) {
	c.queuedBytes.Add(-int64(q.Len()))
	c.st.Buffer(-q.Len())
	q.Reset()
}

// armLinger schedules another look at a closing connection whose bytes are still in gnet's
// buffer. It reports false once closeLinger has passed: close without them.
func (c *conn) armLinger() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	switch {
	case c.linger == nil:
		c.lingerWait, c.lingerUntil = lingerFirst, now.Add(closeLinger)
		c.linger = time.AfterFunc(c.lingerWait, c.recheck)
	case now.After(c.lingerUntil):
		return false
	default:
		c.lingerWait = min(2*c.lingerWait, lingerMax)
		c.linger.Reset(c.lingerWait)
	}
	return true
}

// recheck runs on the timer's goroutine and hands the check back to the loop.
func (c *conn) recheck() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.schedule()
}

// onClose delivers OnClose once, with the contract's cause.
func (c *conn) onClose(err error) {
	c.mu.Lock()
	st := c.state.Load()
	cause, asked := c.cause, c.closeReq.Load()
	c.state.Store(stateClosed)
	c.drop(&c.pend)
	c.queued.Store(false)
	clear(c.posts) // functions still queued are dropped
	c.posts = c.posts[:0]
	if c.linger != nil {
		c.linger.Stop()
	}
	if c.watch != nil {
		c.watch.Stop()
	}
	if c.retry != nil {
		c.retry.Stop()
	}
	c.mu.Unlock()
	c.drop(&c.out)
	c.drop(&c.sending)
	c.closeOut()
	c.timers.StopAll()
	if st == stateOpen && !asked {
		switch {
		case err == nil && c.b.stopping.Load():
			cause = reactor.ErrServerClosed
		case err == nil:
			cause = nil
		case errors.Is(err, io.EOF):
			cause = io.EOF
		default:
			cause = err
		}
	}
	c.countClose(cause)
	c.callClose(cause)
}

func (c *conn) callOpen() error { return backendkit.CallOpen(c.b.cfg.Logger, c.hs.h, c) }

func (c *conn) callData(in []byte) (int, reactor.Action, error) {
	return backendkit.CallData(c.b.cfg.Logger, c.hs.h, c, in)
}

// callClose calls OnClose; a panic in it, which has no connection left to cost, is counted
// on its own.
func (c *conn) callClose(cause error) {
	if backendkit.CallClose(c.b.cfg.Logger, c.hs.h, c, cause) {
		c.st.HandlerPanic()
	}
}
