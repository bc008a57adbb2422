package stdnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reactorlab/reactor/internal/backoff"
	"github.com/reactorlab/reactor/internal/lifecycle"
	"github.com/reactorlab/reactor/internal/ratelog"
	"github.com/reactorlab/reactor/internal/reuseport"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

// Name is the backend name users type.
const Name = "std"

const (
	// initialReadBuffer is a new connection's read buffer: enough for a request or a chat line,
	// small enough that idle connections stay cheap.
	initialReadBuffer = 4 << 10
	// closeLinger bounds how long a closing connection keeps draining the peer's input after
	// shutting down its write side.
	closeLinger = 500 * time.Millisecond
	// closeFlushTimeout bounds how long a closing connection waits for its peer to take the
	// pending output; a peer that never reads would otherwise hold it open forever.
	closeFlushTimeout = 5 * time.Second
	// maxWritev bounds the slices handed to one writev (IOV_MAX is 1024 on Linux).
	maxWritev = 256
)

// Info describes the backend.
func Info() reactor.Info {
	return reactor.Info{
		Name:        Name,
		Model:       "goroutine per connection on the net package (runtime netpoller)",
		Progression: "thread per connection / coroutines",
		Available:   true,
		Unsupported: []string{"EdgeTriggered"},
	}
}

// New returns a backend for cfg. It fails with reactor.ErrNotSupported for edge-triggered
// readiness, which has no meaning in this model.
func New(cfg reactor.Config) (reactor.Backend, error) {
	if cfg.EdgeTriggered {
		return nil, fmt.Errorf("std: edge-triggered readiness: %w (the runtime's netpoller is not configurable)", reactor.ErrNotSupported)
	}
	return &backend{cfg: cfg.WithDefaults()}, nil
}

type backend struct {
	cfg   reactor.Config
	h     reactor.Handler
	ln    net.Listener
	wg    sync.WaitGroup // the accept goroutine, every dialer, every reader and every flusher
	life  lifecycle.State
	conns lifecycle.Conns[*conn] // accepted or being dialed, until their reader exits

	acceptLog ratelog.Limiter // accept failures, said at most once a second
	statSeq   atomic.Uint32   // spreads connections over the shards of cfg.Stats
}

func (b *backend) Info() reactor.Info { return Info() }

func (b *backend) Start(h reactor.Handler) (net.Addr, error) {
	if err := b.life.Start(); err != nil {
		return nil, err
	}
	defer b.life.Started()
	ln, err := reuseport.ListenTCP(b.cfg.Addr, b.cfg.ReusePort)
	if err != nil {
		b.life.Finish(err)
		return nil, err
	}
	b.h, b.ln = h, ln
	b.wg.Add(1)
	go b.accept()
	return ln.Addr(), nil
}

// accept runs until the listener is closed (by Shutdown) or fails for good.
func (b *backend) accept() {
	defer b.wg.Done()
	pace := backoff.Accept{Logger: b.cfg.Logger, Msg: "std: accept failed; retrying", Limit: &b.acceptLog}
	for {
		nc, err := b.ln.Accept()
		if err != nil {
			if b.life.Stopping() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && !errors.Is(err, net.ErrClosed) {
				// Out of descriptors and the like: wait and try again rather than spin or die.
				b.cfg.Stats.Shard(0).AcceptError()
				pace.Failed(err, nil)
				continue
			}
			b.fail(err)
			return
		}
		pace.Succeeded()
		c := newConn(b, b.h)
		c.attach(nc.(*net.TCPConn))
		if !b.conns.Add(c) {
			nc.Close()
			continue
		}
		c.st.Accepted()
		b.wg.Add(1)
		go c.serve()
	}
}

// fail stops the backend after the listener broke on its own.
func (b *backend) fail(err error) {
	b.cfg.Logger.Error("std: listener failed; stopping", "err", err)
	if !b.life.Failed() {
		return
	}
	for _, c := range b.conns.Close() {
		c.Abort(err)
	}
	go func() {
		// Exits once every connection goroutine has; Shutdown, if called later, waits for it.
		b.wg.Wait()
		b.life.Finish(err)
	}()
}

func (b *backend) Shutdown(ctx context.Context) error {
	first, err := b.life.Shutdown(ctx, b.conns.Abort)
	if !first {
		return err
	}
	b.ln.Close()
	for _, c := range b.conns.Close() {
		c.closeGracefully(reactor.ErrServerClosed)
	}

	idle := make(chan struct{})
	go func() {
		// Exits when every goroutine of the backend has; at the latest after the aborts below.
		b.wg.Wait()
		close(idle)
	}()
	select {
	case <-idle:
	case <-ctx.Done():
		err = ctx.Err()
		b.conns.Abort()
		<-idle
	}
	b.life.Finish(reactor.ErrServerClosed)
	return err
}

func (b *backend) Wait() error { return b.life.Wait() }

// conn is one connection. Its reader goroutine runs serve; the fields under mu are shared with
// AsyncWrite, Close, Abort and Post callers, with timers and with the flusher. A dialed
// connection has no socket until its dialer goroutine (dial.go) has connected: nc, local and
// remote are set under mu then, by the goroutine that goes on to be its reader.
type conn struct {
	b          *backend
	h          reactor.Handler
	nc         *net.TCPConn
	local      net.Addr
	remote     net.Addr
	drainer    reactor.Drainer    // the handler, when it wants OnDrain
	halfCloser reactor.HalfCloser // the handler, when it wants OnReadEOF

	// Touched only by the reader goroutine, which runs every callback and posted function.
	ctx      any
	paused   bool
	readEOF  bool      // the peer's end of stream went to the HalfCloser: read no more
	timers   timerHeap // armed, not yet run or stopped
	timerSeq uint64

	pending atomic.Int64 // out.Len(), for Buffered without the lock

	st     *reactor.StatShard // nil without Config.Stats
	opened time.Time          // when accepted or connected, for the lifetime Stats counts

	mu       sync.Mutex
	drained  sync.Cond // signalled as the queue shrinks; the reader waits on it for backpressure
	wake     sync.Cond // signalled for a post or a close; a paused reader waits on it where it cannot wait on the socket (pause_other.go)
	out      backendkit.Outbound
	above    bool                 // out has been past LowWater since the last OnDrain (only with a drainer)
	posts    []func(reactor.Conn) // for the reader to run, in order
	reading  bool                 // the reader is in, or about to enter, Read or a paused wait
	woken    bool                 // a post or a close cut the reader's wait short with a past deadline
	linger   time.Time            // the read deadline once shut down for writing (shutdownLocked)
	vec      [][]byte             // scratch for one writev, refilled each time
	wvec     net.Buffers          // consumed by WriteTo; points into vec
	flushing bool                 // someone is writing out; only they touch the socket's write side
	inline   bool                 // the one flushing is the reader goroutine (flushInline)
	cutWrite bool                 // a post cut the reader's write short with a past write deadline
	wdl      time.Time            // the write deadline the socket should have (none, or a close's)
	writeEnd bool                 // CloseWrite: no more output accepted; shut the write side once out drains
	writeOff bool                 // the write side is shut down (CloseWrite done)
	closing  bool                 // no more output accepted; close once out drains
	closed   bool                 // the socket is closed or shut down for writing
	caused   bool                 // cause below is set
	cause    error                // what OnClose will be told

	// dialing cancels the connecting of a dialed connection (dial.go), until it ends; nil for
	// a connection that has its socket.
	dialing context.CancelCauseFunc
}

// newConn returns a connection served by h, with no socket yet: attach gives it one.
func newConn(b *backend, h reactor.Handler) *conn {
	c := &conn{b: b, h: h, st: b.cfg.Stats.Shard(int(b.statSeq.Add(1))), opened: time.Now()}
	c.drainer, _ = h.(reactor.Drainer)
	c.halfCloser, _ = h.(reactor.HalfCloser)
	c.drained.L = &c.mu
	c.wake.L = &c.mu
	return c
}

// attach gives c its socket. Before c is shared, or under mu.
func (c *conn) attach(nc *net.TCPConn) {
	c.nc, c.local, c.remote = nc, nc.LocalAddr(), nc.RemoteAddr()
}

// serve is the reader goroutine: it makes every handler call for the connection and exits
// when the connection is gone.
func (c *conn) serve() {
	defer c.b.wg.Done()
	defer c.b.conns.Remove(c)
	h := c.h
	if err := backendkit.CallOpen(c.b.cfg.Logger, h, c); err != nil {
		c.Abort(err)
	} else {
		c.flushInline()
	}
	buf := make([]byte, 0, min(initialReadBuffer, c.b.cfg.ReadBufferSize))
	var rerr error
	for {
		if c.runPosts() {
			// Paused, or past the end of input: read nothing, but see a reset, until a post or a
			// close wakes us.
			err := c.awaitError()
			if err = c.readDone(err); err != nil {
				rerr = err
				break
			}
			continue
		}
		if len(buf) == cap(buf) {
			if cap(buf) >= c.b.cfg.MaxInbound {
				c.Abort(reactor.ErrInboundFull)
				break
			}
			buf = growBuffer(buf, c.b.cfg.MaxInbound)
		}
		free := cap(buf) - len(buf)
		n, err := c.nc.Read(buf[len(buf):cap(buf)])
		c.st.Received(n)
		err = c.readDone(err)
		if n > 0 && c.acceptingInput() {
			data := buf[:len(buf)+n]
			consumed, action, perr := backendkit.CallData(c.b.cfg.Logger, h, c, data)
			switch {
			case perr != nil:
				c.Abort(perr)
			default:
				buf = buf[:copy(buf[:cap(buf)], data[consumed:])]
				if action == reactor.Close {
					c.closeGracefully(nil)
				}
				if n == free && cap(buf) < c.b.cfg.ReadBufferSize {
					// The read filled the buffer: a bulk sender. Read bigger next time.
					buf = growBuffer(buf, c.b.cfg.ReadBufferSize)
				}
			}
			c.flushInline()
		}
		if err == io.EOF && c.halfCloser != nil && c.acceptingInput() {
			// The peer has finished sending; this side may go on writing.
			buf = buf[:0]
			c.onReadEOF()
			continue
		}
		if err != nil {
			rerr = err
			break
		}
	}
	c.finish(rerr)
	c.stopTimers()
	c.st.Closed(c.cause, time.Since(c.opened))
	if backendkit.CallClose(c.b.cfg.Logger, h, c, c.cause) {
		c.st.HandlerPanic()
	}
}

// onReadEOF tells the HalfCloser that the peer's input has ended. From then on the reader reads
// no more: it waits for posts, timers and the close as a paused reader does, and reads again
// only once the connection is closing, to find the end again and finish.
func (c *conn) onReadEOF() {
	c.readEOF = true
	action, err := backendkit.CallReadEOF(c.b.cfg.Logger, c.halfCloser, c)
	c.mu.Lock()
	writeEnd := c.writeEnd
	c.mu.Unlock()
	switch {
	case err != nil:
		c.Abort(err)
	case action == reactor.Close || writeEnd:
		// Both directions are over: what is left is to flush and close.
		c.closeGracefully(nil)
	}
	c.flushInline()
}

func growBuffer(buf []byte, limit int) []byte {
	nb := make([]byte, len(buf), min(2*cap(buf), max(limit, cap(buf)+1)))
	copy(nb, buf)
	return nb
}

// readDone ends a Read or a paused wait. When wakeReaderLocked cut it short, it puts back the
// deadline the reader should have, and a timeout is no failure: it returns err without it.
func (c *conn) readDone(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reading = false
	if c.woken {
		c.woken = false
		c.nc.SetReadDeadline(c.linger)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
	}
	return err
}

// acceptingInput reports whether input still goes to the handler; a closing connection only
// drains what the peer sends.
func (c *conn) acceptingInput() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closing && !c.closed
}

// wakeReaderLocked cuts short the reader's Read or paused wait, by a deadline in the past, so
// that it runs posts or sees the connection closing.
func (c *conn) wakeReaderLocked() {
	if c.reading && !c.woken {
		c.woken = true
		c.nc.SetReadDeadline(aLongTimeAgo)
	}
	if c.inline && !c.cutWrite {
		// The reader is writing to a peer that does not read: cut that write short too.
		c.cutWrite = true
		c.nc.SetWriteDeadline(aLongTimeAgo)
	}
	c.wake.Signal()
	c.drained.Broadcast() // a reader waiting for output to drain runs posts meanwhile
}

// finish records why the reader stopped, waits for a flusher still writing, and releases the
// socket and the queue. The peer's EOF ends only its input: a reply queued before it (a close
// the request asked for, an AsyncWrite) must still reach a peer that half-closed, so the socket
// stays open until the flusher is done, for at most closeFlushTimeout.
func (c *conn) finish(rerr error) {
	c.mu.Lock()
	if !c.caused {
		c.caused = true
		if errors.Is(rerr, io.EOF) {
			c.cause = io.EOF
		} else {
			c.cause = rerr
		}
	}
	if c.flushing && !c.closed {
		if !c.closing {
			c.closing = true
			c.setWriteDeadlineLocked(time.Now().Add(closeFlushTimeout))
		}
		for c.flushing {
			c.drained.Wait()
		}
	}
	c.closing, c.closed = true, true
	if !c.flushing {
		c.dropOutputLocked()
	}
	c.posts = nil
	c.drained.Broadcast()
	c.mu.Unlock()
	c.nc.Close()
}

// flushInline writes what the callback left pending, on the reader goroutine. When a flusher
// goroutine is already at it, the reader instead waits until the queue is down to half the
// high-water mark, so that it stops reading (and the peer stops sending) while output piles up.
func (c *conn) flushInline() {
	c.mu.Lock()
	if c.flushing {
		// A post ends the wait too: the reader must run it (a time limit that closes this
		// very connection, say), and comes back here after.
		for c.flushing && !c.closed && c.out.Len() > c.b.cfg.MaxOutbound/2 && len(c.posts) == 0 {
			c.drained.Wait()
		}
		c.mu.Unlock()
		return
	}
	if c.out.Len() == 0 && !(c.closing && !c.closed) && !(c.writeEnd && !c.writeOff) {
		c.mu.Unlock()
		return
	}
	c.flushing, c.inline = true, true
	c.mu.Unlock()
	c.flush()
}

// flush writes until the queue is empty, then closes the write side if a close is pending. The
// caller has set c.flushing; flush clears it.
func (c *conn) flush() {
	c.mu.Lock()
	for c.out.Len() > 0 && !c.closed {
		c.vec = append(c.vec[:0], c.out.Buffers(maxWritev)...)
		c.wvec = c.vec
		c.mu.Unlock()
		// Only the flushing goroutine writes; the slices stay valid because Outbound only
		// appends while we write, and nobody recycles chunks while c.flushing is set.
		n, err := c.wvec.WriteTo(c.nc)
		c.mu.Lock()
		c.out.Discard(int(n))
		c.st.Sent(int(n))
		c.setPendingLocked()
		if c.above && c.out.Len() <= c.b.cfg.LowWater {
			c.above = false
			c.postLocked(c.drainer.OnDrain)
		}
		c.drained.Broadcast()
		if c.cutWrite {
			// A post cut the reader's write short (wakeReaderLocked): the reader goes to run
			// it, and a flusher goroutine carries on with the rest.
			c.cutWrite, c.inline = false, false
			c.nc.SetWriteDeadline(c.wdl)
			if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				c.b.wg.Add(1)
				go func() {
					defer c.b.wg.Done()
					c.flush()
				}()
				c.mu.Unlock()
				return
			}
		}
		if err != nil {
			c.closeLocked(err)
		}
	}
	if c.cutWrite {
		// Cut after the last write had finished: the socket keeps no past deadline.
		c.cutWrite = false
		c.nc.SetWriteDeadline(c.wdl)
	}
	switch {
	case c.closed:
		c.dropOutputLocked()
	case c.closing:
		c.shutdownLocked()
	case c.writeEnd && !c.writeOff:
		c.shutWriteLocked()
	}
	c.flushing, c.inline = false, false
	c.drained.Broadcast()
	c.mu.Unlock()
}

// shutdownLocked ends a graceful close whose output is all sent: the peer gets EOF, and the
// reader drains its input for a while, then sees EOF or the deadline and finishes.
func (c *conn) shutdownLocked() {
	c.closed = true
	c.nc.CloseWrite()
	c.linger = time.Now().Add(closeLinger)
	if !c.woken {
		// Else readDone sets it, in place of the past deadline.
		c.nc.SetReadDeadline(c.linger)
	}
}

// shutWriteLocked ends a CloseWrite whose output is all sent: the peer gets EOF, and the reader
// goes on reading.
func (c *conn) shutWriteLocked() {
	c.writeOff = true
	c.nc.CloseWrite()
}

// closeLocked closes the socket at once; the reader's Read fails and it finishes.
func (c *conn) closeLocked(cause error) {
	if !c.caused {
		c.caused, c.cause = true, cause
	}
	c.closing = true
	if !c.closed {
		c.closed = true
		c.nc.Close() // the reader's Read or paused wait fails
	}
	c.wake.Signal()
}

func (c *conn) closeGracefully(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dialing != nil {
		c.cancelDialLocked(cause)
		return
	}
	if c.closing || c.closed {
		return
	}
	c.closing, c.caused, c.cause = true, true, cause
	c.wakeReaderLocked() // a paused reader goes back to reading, to drain the input and see the end
	c.setWriteDeadlineLocked(time.Now().Add(closeFlushTimeout))
	if c.flushing {
		return // the flusher closes when it is done
	}
	if c.out.Len() == 0 {
		c.shutdownLocked()
		return
	}
	c.startFlusherLocked()
}

// setWriteDeadlineLocked sets the socket's write deadline, unless a post has the write cut
// short right now: the flusher then puts this one in place of the past deadline.
func (c *conn) setWriteDeadlineLocked(t time.Time) {
	c.wdl = t
	if !c.cutWrite {
		c.nc.SetWriteDeadline(t)
	}
}

func (c *conn) startFlusherLocked() {
	c.flushing = true
	c.b.wg.Add(1)
	go func() {
		// Exits when the queue is empty or the socket fails.
		defer c.b.wg.Done()
		c.flush()
	}()
}

// enqueueLocked applies the write rules shared by Write and AsyncWrite.
func (c *conn) enqueueLocked(p []byte) error {
	if c.closing || c.closed || c.writeEnd {
		return reactor.ErrConnClosed
	}
	if c.out.Len()+len(p) > c.b.cfg.MaxOutbound {
		if !c.flushing {
			c.dropOutputLocked()
		}
		c.nc.SetLinger(0) // aborted, as Abort does: the peer gets a reset
		c.closeLocked(reactor.ErrOutboundFull)
		return reactor.ErrOutboundFull
	}
	c.out.Write(p)
	c.setPendingLocked()
	if c.drainer != nil && c.out.Len() > c.b.cfg.LowWater {
		c.above = true
	}
	return nil
}

// dropOutputLocked discards the pending output of a connection that is gone.
func (c *conn) dropOutputLocked() {
	c.out.Reset()
	c.setPendingLocked()
}

// setPendingLocked publishes out's length for Buffered, and its change to Stats.
func (c *conn) setPendingLocked() {
	n := int64(c.out.Len())
	c.st.Buffer(int(n - c.pending.Swap(n)))
}

// Write implements reactor.Conn. Only from the connection's own callbacks: the reader flushes
// after the callback returns.
func (c *conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.enqueueLocked(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// AsyncWrite implements reactor.Conn. Safe from any goroutine.
func (c *conn) AsyncWrite(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.enqueueLocked(p); err != nil {
		return err
	}
	if !c.flushing {
		c.startFlusherLocked()
	}
	return nil
}

// Close implements reactor.Conn. Safe from any goroutine.
func (c *conn) Close() error {
	c.closeGracefully(nil)
	return nil
}

// CloseWrite implements reactor.Conn. Only from the connection's own callbacks: when output is
// pending, the flush that follows the callback (or the flusher goroutine at work) shuts the
// write side down once it has sent it.
func (c *conn) CloseWrite() error {
	if c.readEOF {
		// The peer has finished too: nothing is left to do in either direction.
		c.closeGracefully(nil)
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.closed || c.writeEnd {
		return nil
	}
	c.writeEnd = true
	if !c.flushing && c.out.Len() == 0 {
		c.shutWriteLocked()
	}
	return nil
}

// Abort implements reactor.Conn. Safe from any goroutine.
func (c *conn) Abort(cause error) {
	if cause == nil {
		cause = reactor.ErrConnClosed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dialing != nil {
		c.cancelDialLocked(cause)
		return
	}
	if c.closed {
		return
	}
	if !c.flushing {
		c.dropOutputLocked()
	}
	c.nc.SetLinger(0) // a reset tells the peer this was not an orderly end
	c.caused = false
	c.closeLocked(cause)
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }
func (c *conn) Context() any         { return c.ctx }
func (c *conn) SetContext(v any)     { c.ctx = v }

// Buffered implements reactor.Conn. Safe from any goroutine.
func (c *conn) Buffered() int { return int(c.pending.Load()) }
