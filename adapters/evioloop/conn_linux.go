package evioloop

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tidwall/evio"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

// Requests in conn.flags, made from any goroutine and acted on by the connection's loop.
const (
	flagAsync = 1 << iota // conn.async holds bytes
	flagClose             // flush, then close: Close, a Close action, Shutdown
	flagAbort             // drop the output and close now: Abort, a limit, a panic
	flagStall             // the close-stall timer fired: check the flush made progress
	flagPost              // conn.posts holds functions
	flagWShut             // CloseWrite: flush, then shut the write side down; no more writes
)

// closeStall is how long a closing connection's flush may go without progress before it is
// given up and the connection aborted: a peer that never reads would otherwise keep it open
// for ever, since evio writes what it holds before it closes.
const closeStall = 2 * time.Second

// closeLinger bounds how long a closing connection whose output is all written keeps reading,
// and discarding, the peer's input while it waits for the peer's FIN.
const closeLinger = 500 * time.Millisecond

// maxRetained bounds the buffers a connection keeps between callbacks: enough for a read's
// worth of echo, so steady traffic allocates nothing, while a burst's larger buffers are let go.
const maxRetained = 64 << 10

// conn is one connection: the reactor.Conn the handler sees, kept in the evio connection's
// context.
type conn struct {
	b             *backend
	h             reactor.Handler
	onDrain       func(reactor.Conn) // h's OnDrain, if h is a reactor.Drainer
	hc            reactor.HalfCloser // h, if it is one: the adapter reads the socket itself
	bell          *doorbell          // the doorbell of the connection's loop, for Dial
	st            *reactor.StatShard // Config.Stats' shard of the connection's loop; nil: not counting
	ec            evio.Conn
	fd            int
	local, remote net.Addr
	flags         atomic.Uint32

	// Owned by the loop: touched only in evio's callbacks for this connection.
	ctx       any
	tail      []byte    // input the handler has not consumed yet
	out       []byte    // output of the current callback, handed to evio when it returns
	closeSent bool      // evio was told to close; every later callback must say so again
	lingering time.Time // the write side is shut down; evio is told to close at this time
	aborted   bool      // the socket was readied for a reset
	wshut     bool      // the write side is shut down, as CloseWrite asked
	eof       bool      // readSelf read the peer's end of stream
	eofUnseen bool      // ... which waits, the connection paused, to be told to hc
	gone      bool      // OnClose has run
	stall     *time.Timer
	stallHeld int // what evio held at the last stall check
	epfd      int // the loop's epoll descriptor, for PauseRead
	paused    bool
	readOff   bool // steer took the socket out of the epoll set
	unwatched bool // readSelf removed the socket from the epoll set: a hang-up while paused
	unopened  bool // steer cleared evio's opened flag
	unseen    bool // tail ends with input evio read while paused, which OnData has not seen
	above     bool // pending output was above LowWater: OnDrain is due once it is not
	timers    map[*timer]struct{}
	due       []*timer             // runDue's scratch
	runDueFn  func(reactor.Conn)   // c.runDue, made once: what a timer's firing posts
	postSpare []func(reactor.Conn) // the posts slice being run, kept for reuse
	born      time.Time            // when it opened, when counting
	given     int                  // output handed to evio not yet seen written, when counting (stats_linux.go)
	swept     bool                 // listed in its doorbell's sweep

	// For Buffered, from any goroutine: the callback's output plus what evio held when the
	// loop last looked, and whether evio held any.
	pending atomic.Int64
	inEvio  atomic.Bool

	duePosted atomic.Bool // a run of the due timers is posted

	deferred bool // waiting in backend.deferred; guarded by backend.deferMu

	mu          sync.Mutex
	async       []byte // AsyncWrite's queue, not yet handed to evio
	posts       []func(reactor.Conn)
	wakePending bool  // a Wake is on its way to the loop
	closed      bool  // evio closed the socket: no more Wake, which would touch a closed poller
	cause       error // for OnClose, with flagClose or flagAbort
}

// newConn makes the connection the handler sees for a, which evio has just opened.
func newConn(b *backend, ec evio.Conn, a *accepted) *conn {
	c := a.out // made by Dial
	if c == nil {
		c = &conn{b: b, h: b.h, onDrain: b.onDrain, hc: b.hc, bell: a.bell, st: a.bell.st, local: a.local, remote: ec.RemoteAddr()}
	}
	c.ec, c.fd, c.epfd = ec, a.fd, layout.epollOf(ec)
	return c
}

// open runs OnOpen.
func (c *conn) open() {
	if err := backendkit.CallOpen(c.b.cfg.Logger, c.h, c); err != nil {
		c.Abort(err)
	}
}

// read handles bytes evio read. evio reads only when it holds no output for the connection.
func (c *conn) read(in []byte) ([]byte, evio.Action) {
	c.st.Received(len(in))
	c.resetOut()
	c.pending.Store(0)
	c.wrote(0)
	if c.paused && !c.closing() {
		// Read in spite of the pause (see steer): kept, unseen, for ResumeRead. Reading is
		// taken off again as the callback returns.
		c.tail = append(c.tail, in...)
		c.unseen = true
		c.readOff = false
		if len(c.tail) > c.b.cfg.MaxInbound {
			c.Abort(reactor.ErrInboundFull)
		}
		return c.settle(0, false)
	}
	return c.input(in, 0, false)
}

// input presents tail and in to OnData; held is what evio holds, woke as for settle.
func (c *conn) input(in []byte, held int, woke bool) ([]byte, evio.Action) {
	c.present(in)
	return c.settle(held, woke)
}

// present calls OnData with tail and in, and keeps what it does not consume.
func (c *conn) present(in []byte) {
	if c.closing() {
		c.unseen = false // the input is dropped
		return
	}
	c.unseen = false
	if c.flags.Load()&flagAsync != 0 {
		// Queued before this input arrived, so sent before the handler's reply.
		c.takeAsync()
	}
	buf := in
	if len(c.tail) > 0 {
		c.tail = append(c.tail, in...)
		buf = c.tail
	}
	n, a, perr := backendkit.CallData(c.b.cfg.Logger, c.h, c, buf)
	switch {
	case perr != nil:
		c.Abort(perr)
	default:
		c.keepTail(buf, n)
		if len(c.tail) > c.b.cfg.MaxInbound {
			c.Abort(reactor.ErrInboundFull)
		} else if a == reactor.Close {
			c.requestClose(nil, false)
		}
	}
}

// keepTail keeps buf[n:] for the next call. buf is either evio's read buffer, which is reused
// after the callback, or c.tail itself.
func (c *conn) keepTail(buf []byte, n int) {
	if len(c.tail) > 0 {
		c.tail = c.tail[:copy(c.tail, buf[n:])]
	} else if n < len(buf) {
		c.tail = append(c.tail[:0], buf[n:]...)
	}
	if len(c.tail) == 0 && cap(c.tail) > maxRetained {
		c.tail = nil
	}
}

// woken handles a Data call that Wake asked for (evio passes no input): it hands over queued
// output when evio's own buffer is empty, and acts on Close and Abort requests.
func (c *conn) woken() ([]byte, evio.Action) {
	c.mu.Lock()
	c.wakePending = false
	c.mu.Unlock()
	c.resetOut()
	held := pendingOut(c.ec)
	c.pending.Store(int64(held))
	c.wrote(held)
	if !c.paused && (c.unseen || c.eofUnseen) {
		// What was read while paused, now that reading is resumed.
		if c.unseen {
			c.present(nil)
		}
		if c.eofUnseen && !c.paused {
			c.endOfStream()
		}
	}
	return c.settle(held, true)
}

// settle ends a callback: it runs what was posted and the drain notice, which come between
// callbacks, then tells evio what to send and do, and steers its reading. held is how much
// output evio still holds for the connection; woke as for steer.
func (c *conn) settle(held int, woke bool) ([]byte, evio.Action) {
	if !c.closing() {
		if c.flags.Load()&flagPost != 0 {
			c.runPosts()
		}
		c.checkDrain(held)
	}
	out, act := c.decide(held)
	c.handOver(out)
	c.account(held, out)
	if c.above && held+len(out) > 0 {
		c.b.deferConn(c) // to see evio's output fall below LowWater
	}
	if act == evio.None {
		c.steer(held, out, woke)
	} else {
		c.reopen() // evio must act on it, not take an event for the first
	}
	return out, act
}

// decide says what evio is told as a callback returns: the bytes to send and the action.
// evio replaces the output it holds with whatever a wake returns, so nothing is handed over
// while it holds some; the connection then waits for the next PreWrite to wake it again.
func (c *conn) decide(held int) ([]byte, evio.Action) {
	f := c.flags.Load()
	if f&flagStall != 0 {
		c.flags.And(^uint32(flagStall))
		if held > 0 && held >= c.stallHeld {
			c.mu.Lock()
			c.abortLocked(nil) // keeps the cause the close was asked with
			c.mu.Unlock()
			f = c.flags.Load()
		} else if held > 0 {
			c.stallHeld = held
			c.stall.Reset(closeStall)
		}
	}
	if f&flagAbort != 0 && !c.aborted {
		c.closeSent, c.aborted = true, true
		c.reset()
		return nil, evio.Close
	}
	if c.closeSent {
		return nil, evio.Close
	}
	if !c.lingering.IsZero() {
		if !c.eof && time.Now().Before(c.lingering) {
			return nil, evio.None // evio (or readSelf) goes on reading; the input is dropped
		}
		c.closeSent = true
		return nil, evio.Close
	}
	if held > 0 {
		if len(c.out) > 0 {
			// Written by a posted function, OnDrain or OnData while evio holds output.
			c.requeue()
			f = c.flags.Load()
		}
		if f&(flagAsync|flagClose) != 0 || f&flagWShut != 0 && !c.wshut {
			// More to hand over, or a close or CloseWrite that must wait until evio has
			// written it all.
			c.b.deferConn(c)
		}
		if f&flagClose != 0 {
			c.watchClose(held)
		}
		return nil, evio.None
	}
	if f&flagAsync != 0 {
		c.takeAsync()
	}
	if f&flagClose != 0 {
		if len(c.out) > 0 {
			// Not evio.Close with it: evio would close as soon as it has written the bytes.
			c.b.deferConn(c)
			c.watchClose(len(c.out))
			return c.out, evio.None
		}
		if c.eof {
			// The peer has sent everything and it has all been read: no reset to fear.
			c.closeSent = true
			return nil, evio.Close
		}
		return c.linger()
	}
	if f&flagWShut != 0 && !c.wshut {
		if len(c.out) > 0 {
			c.b.deferConn(c) // to shut the write side down once evio has written it
			return c.out, evio.None
		}
		return c.shutWrite()
	}
	return c.out, evio.None
}

// reset readies the socket for an abort, which evio.Close then carries out: the zero linger
// turns evio's close into a reset (RST), which also drops what the kernel has not sent. evio
// writes what it holds before it acts on Close, for ever if the peer does not read, so that
// output is dropped too. And since a socket whose peer neither reads nor sends may give evio
// no event to act on, its read side is shut down, which makes it readable at once without
// sending anything. (Shutting the write side down instead would send FIN first: a peer that
// reads it sees a clean end of stream, not the reset.)
func (c *conn) reset() {
	syscall.SetsockoptLinger(c.fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
	if c.ec != nil {
		layout.dropOut(c.ec)
		c.dropGiven()
	}
	syscall.Shutdown(c.fd, syscall.SHUT_RD)
}

// linger ends a graceful close once evio holds no output: it sends FIN and lets evio go on
// reading, the input being dropped, until the peer's FIN closes the connection or closeLinger
// passes. evio closes at once when told to, and closing a socket that holds unread input makes
// the kernel send a reset and drop what it has not sent yet: the end of the last reply.
func (c *conn) linger() ([]byte, evio.Action) {
	if err := syscall.Shutdown(c.fd, syscall.SHUT_WR); err != nil {
		c.closeSent = true
		return nil, evio.Close
	}
	c.lingering = time.Now().Add(closeLinger)
	// The stall timer's wake, once closeLinger has passed, ends the wait.
	if c.stall == nil {
		c.stall = time.AfterFunc(closeLinger, c.stalled)
	} else {
		c.stall.Reset(closeLinger)
	}
	return nil, evio.None
}

// watchClose starts the close-stall timer, once, for a close that waits on a flush of held
// bytes.
func (c *conn) watchClose(held int) {
	if c.stall == nil {
		c.stallHeld = held
		c.stall = time.AfterFunc(closeStall, c.stalled)
	}
}

// stalled runs on the timer's goroutine and asks the loop to check the flush's progress.
func (c *conn) stalled() {
	c.mu.Lock()
	if !c.closed {
		c.flags.Or(flagStall)
		c.wakeLocked()
	}
	c.mu.Unlock()
}

// takeAsync moves AsyncWrite's queue behind the callback's own output.
func (c *conn) takeAsync() {
	c.mu.Lock()
	c.pending.Add(int64(len(c.async)))
	if len(c.out) == 0 {
		c.out, c.async = c.async, c.out[:0]
	} else {
		c.out = append(c.out, c.async...)
		c.async = c.async[:0]
	}
	if cap(c.async) > maxRetained {
		c.async = nil
	}
	c.flags.And(^uint32(flagAsync))
	c.mu.Unlock()
}

// resetOut empties the output buffer at the start of a callback: evio copied what the last
// one returned before it made any other call.
func (c *conn) resetOut() {
	if cap(c.out) > maxRetained {
		c.out = nil
	} else {
		c.out = c.out[:0]
	}
}

// finish runs OnClose once evio has closed the socket.
func (c *conn) finish(err error) {
	c.mu.Lock()
	c.closed = true
	f := c.flags.Load()
	cause := c.cause
	c.st.Buffer(-len(c.async)) // dropped
	c.async, c.posts = nil, nil
	c.mu.Unlock()
	if c.given > 0 {
		c.wrote(pendingOut(c.ec)) // what evio wrote before it closed
		c.dropGiven()             // and what it held then
	}
	c.pending.Store(0)
	c.inEvio.Store(false)
	c.stopTimers()
	switch {
	case f&(flagClose|flagAbort) != 0:
		// Asked for: the cause given with the request (nil for Close).
	case err != nil:
		cause = err
	case c.b.stopped.Load():
		cause = reactor.ErrServerClosed
	default:
		// evio reports a read of zero bytes, the peer's FIN, with no error.
		cause = io.EOF
	}
	c.gone = true
	c.tail, c.out = nil, nil
	if c.stall != nil {
		c.stall.Stop()
	}
	if c.st != nil {
		c.st.Closed(cause, time.Since(c.born))
	}
	if backendkit.CallClose(c.b.cfg.Logger, c.h, c, cause) {
		c.st.HandlerPanic()
	}
}

// requestClose asks for a flush-then-close; wake is false when the caller is the loop itself,
// which acts on it as the callback returns.
func (c *conn) requestClose(cause error, wake bool) {
	c.mu.Lock()
	if !c.closed && c.flags.Load()&(flagClose|flagAbort) == 0 {
		c.cause = cause
		c.flags.Or(flagClose)
		if wake {
			c.wakeLocked()
		}
	}
	c.mu.Unlock()
}

// wake asks the loop for a Data call. Safe from any goroutine.
func (c *conn) wake() {
	c.mu.Lock()
	c.wakeLocked()
	c.mu.Unlock()
}

func (c *conn) wakeLocked() {
	if !c.wakePending && !c.closed {
		c.wakePending = true
		c.ec.Wake()
	}
}

// Write copies p into the output of the current callback, which evio sends when the callback
// returns. Only from the connection's own callbacks. AsyncWrite bytes queued before it go out
// first.
func (c *conn) Write(p []byte) (int, error) {
	f := c.flags.Load()
	if c.gone || c.closeSent || f&(flagClose|flagAbort|flagWShut) != 0 {
		return 0, reactor.ErrConnClosed
	}
	if f&flagAsync != 0 {
		// Callbacks that Write run only while evio holds no output (Opened, or a read), so
		// the queue can join the callback's output here, ahead of p.
		c.takeAsync()
	}
	if len(c.out)+len(p) > c.b.cfg.MaxOutbound {
		c.Abort(reactor.ErrOutboundFull)
		return 0, reactor.ErrOutboundFull
	}
	c.out = append(c.out, p...)
	c.pending.Add(int64(len(p)))
	c.st.Buffer(len(p))
	return len(p), nil
}

// AsyncWrite queues a copy of p and wakes the connection's loop to hand it to evio. Safe from
// any goroutine. The queue is bounded by MaxOutbound; evio holds at most one earlier hand-off
// on top of it.
func (c *conn) AsyncWrite(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.flags.Load()&(flagClose|flagAbort|flagWShut) != 0 {
		return reactor.ErrConnClosed
	}
	if len(c.async)+len(p) > c.b.cfg.MaxOutbound {
		c.abortLocked(reactor.ErrOutboundFull)
		return reactor.ErrOutboundFull
	}
	c.async = append(c.async, p...)
	c.st.Buffer(len(p))
	c.flags.Or(flagAsync)
	c.wakeLocked()
	return nil
}

// Close flushes what was written, then closes. Safe from any goroutine.
func (c *conn) Close() error {
	c.requestClose(nil, true)
	return nil
}

// Abort drops pending output and closes at once. Safe from any goroutine.
func (c *conn) Abort(cause error) {
	if cause == nil {
		cause = reactor.ErrConnClosed
	}
	c.mu.Lock()
	c.abortLocked(cause)
	c.mu.Unlock()
}

// abortLocked asks for an abort with cause; a nil cause keeps the one a close was asked with,
// or is ErrConnClosed.
func (c *conn) abortLocked(cause error) {
	f := c.flags.Load()
	if c.closed || f&flagAbort != 0 {
		return
	}
	switch {
	case cause != nil:
		c.cause = cause
	case f&flagClose == 0:
		c.cause = reactor.ErrConnClosed
	}
	c.flags.Or(flagAbort)
	c.wakeLocked()
}

// LocalAddr is the server's end. Safe from any goroutine.
func (c *conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr is the peer's end. Safe from any goroutine.
func (c *conn) RemoteAddr() net.Addr { return c.remote }

// Context returns the handler's per-connection state. Only from the connection's callbacks.
func (c *conn) Context() any { return c.ctx }

// SetContext stores the handler's per-connection state. Only from the connection's callbacks.
func (c *conn) SetContext(v any) { c.ctx = v }
