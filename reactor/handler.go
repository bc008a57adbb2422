package reactor

import (
	"context"
	"net"
	"time"
)

// Action is what a handler asks of the backend when a callback returns.
type Action int

const (
	// None keeps the connection open.
	None Action = iota
	// Close flushes what was written, then closes the connection (as Conn.Close).
	Close
)

// String names the action.
func (a Action) String() string {
	switch a {
	case None:
		return "none"
	case Close:
		return "close"
	}
	return "action(?)"
}

// Handler is what a protocol implements. A backend calls its methods from the goroutine that
// owns the connection (an event loop, or the connection's own goroutine), never concurrently for
// one connection; calls for different connections may run in parallel, so state shared across
// connections needs its own locking.
//
// A callback must not block. On a backend with event loops, one loop serves thousands of
// connections, and while a callback waits (on a lock held for long, a channel, a database, a
// sleep, a blocking write to another socket) none of them is served. Hand slow work to a
// goroutine of your own instead and return at once: the goroutine delivers its result with
// Conn.AsyncWrite, and may end the connection with Conn.Close or Conn.Abort, all of which are
// safe from any goroutine. Embed NopHandler to implement only the callbacks you need.
type Handler interface {
	// OnOpen is called once, before any OnData, when a connection is accepted. It may write a
	// greeting or close the connection.
	OnOpen(c Conn)

	// OnData is called with every byte received and not yet consumed. in is lent: it is valid
	// only until OnData returns and must not be retained or modified. The handler returns how
	// many bytes of in it consumed (0 ≤ consumed ≤ len(in)); the rest is presented again, with
	// whatever arrives next, on the following call.
	OnData(c Conn, in []byte) (consumed int, a Action)

	// OnClose is called once when the connection is gone, whatever ended it. err is the cause:
	// nil for a close the handler asked for, io.EOF when the peer closed, ErrServerClosed on
	// shutdown, ErrOutboundFull or ErrInboundFull over a limit, or the I/O error. After OnClose
	// the Conn accepts no more writes.
	OnClose(c Conn, err error)
}

// NopHandler is a Handler that does nothing: OnOpen and OnClose return at once and OnData
// consumes every byte. Embed it in a handler of your own and define only the callbacks you
// need; the zero value is ready to use.
type NopHandler struct{}

// OnOpen does nothing.
func (NopHandler) OnOpen(Conn) {}

// OnData consumes all of in and keeps the connection open.
func (NopHandler) OnData(_ Conn, in []byte) (int, Action) { return len(in), None }

// OnClose does nothing.
func (NopHandler) OnClose(Conn, error) {}

// Conn is one connection as a handler sees it. Each method says whether it may be called from
// another goroutine; the others belong to the connection's own callbacks.
type Conn interface {
	// Write copies p into the connection's outbound buffer; the backend flushes it after the
	// current callback returns. Only from the connection's own callbacks. p goes out after
	// every byte written to the connection before the call — by Write, or by an AsyncWrite
	// that happened before it, even one still queued for the owner — and before what is
	// written after it. It fails with ErrConnClosed once the connection is closing, and with
	// ErrOutboundFull when p takes the pending output past Config.MaxOutbound (the connection
	// is then aborted).
	Write(p []byte) (int, error)

	// AsyncWrite queues a copy of p for the connection and wakes its owner to send it. Safe from
	// any goroutine. It shares Write's order: p goes out after every Write and AsyncWrite that
	// happened before the call, and before those it happens before (a Write in a callback
	// that learnt of it, a later AsyncWrite of the same goroutine). It never blocks on the
	// peer. Errors as for Write.
	AsyncWrite(p []byte) error

	// Close flushes the output written so far, then closes the connection; OnClose follows with
	// a nil cause. Safe from any goroutine; later calls do nothing.
	Close() error

	// Abort drops pending output and closes the connection at once with a reset (TCP RST, as
	// with SO_LINGER 0), so that the peer learns the stream was cut rather than ended; OnClose
	// follows with cause (or ErrConnClosed when cause is nil). Safe from any goroutine.
	Abort(cause error)

	// CloseWrite flushes the output written so far, then shuts down the sending half of the
	// connection (TCP FIN): the peer reads end of stream, while this side may go on receiving.
	// Later writes fail with ErrConnClosed. Once the peer's end of stream has been seen too (a
	// Handler that implements HalfCloser) the connection closes, OnClose following with a nil
	// cause. Only from the connection's own callbacks; later calls do nothing.
	CloseWrite() error

	// Dial opens an outbound TCP connection to addr (host:port; a host name is resolved off
	// the owner) and serves it with h like an accepted connection: OnOpen once connected, then
	// OnData and OnClose. Where the backend has event loops the new connection belongs to c's
	// loop, so that c's callbacks and h's never run at the same time (a proxy's two halves never
	// cross threads); where each connection has a goroutine, it gets its own. When the
	// connection cannot be made — refused, unreachable, no such host, Config.DialTimeout or ctx's
	// deadline passed, ctx cancelled, the server shutting down — h.OnClose is called with an
	// error that wraps both ErrDialFailed and the cause (errors.Is(err, syscall.ECONNREFUSED),
	// context.DeadlineExceeded, ErrServerClosed …), and OnOpen never is. ctx bounds the
	// connecting only, not the connection's life. Dial returns an error, and h is never called,
	// only when the dial cannot begin: a malformed addr, ErrConnClosed once c is closing, or
	// ErrNotSupported. Only from c's own callbacks. The new connection lives on its own: it
	// outlives c unless closed, and Shutdown closes it like any other.
	Dial(ctx context.Context, addr string, h Handler) error

	// LocalAddr is the server's end. Safe from any goroutine.
	LocalAddr() net.Addr

	// RemoteAddr is the peer's end. Safe from any goroutine.
	RemoteAddr() net.Addr

	// Context returns the value set by SetContext, or nil. Only from the connection's own
	// callbacks.
	Context() any

	// SetContext stores per-connection protocol state. Only from the connection's own callbacks.
	SetContext(v any)

	// Post runs f on the connection's owner — its event loop, or its goroutine — never while
	// one of its callbacks runs. Safe from any goroutine; it is how other goroutines reach the
	// owner-only methods (Context, SetContext, Write, AfterFunc, PauseRead …), which f may
	// call. Functions posted to one connection run in the order Post was called, and what f
	// writes goes out after every Write and AsyncWrite that happened before the Post. It
	// returns ErrConnClosed once the connection is closing or closed (f then never runs); a
	// connection that closes with f still queued drops it.
	Post(f func(Conn)) error

	// AfterFunc arranges for f to run on the connection's owner once d has passed — never
	// earlier, and on an idle owner within a few milliseconds after — unless stop is called
	// first or the connection closes: a connection's timers are stopped when it closes, and
	// never fire after OnClose. stop reports whether it prevented f from running. Both
	// AfterFunc and stop are only for the connection's own callbacks (functions run by Post
	// and by AfterFunc included); after close, AfterFunc returns a stop that does nothing.
	// A connection's timers that are due together run in the order of their deadlines.
	AfterFunc(d time.Duration, f func(Conn)) (stop func() bool)

	// PauseRead stops delivering input: OnData is not called, and the backend stops reading
	// the socket, so that the kernel's receive window fills and the peer is slowed down while
	// the server's memory stays flat. ResumeRead undoes it; input that waited is delivered,
	// in order, with what follows. While paused, the peer's end of stream may go unnoticed
	// until reading resumes; errors still close the connection. Both are only for the
	// connection's own callbacks, and idempotent.
	PauseRead()
	ResumeRead()

	// Buffered is the number of output bytes accepted (Write, AsyncWrite) and not yet handed
	// to the kernel. Safe from any goroutine. It is a snapshot: the kernel may take bytes at
	// any moment, so the figure may be a little high, even inside a callback.
	Buffered() int
}

// HalfCloser is an optional interface of a Handler, for protocols that go on writing after the
// peer has finished sending: a proxy relaying a half-close, a reply that follows the client's
// FIN. Without it, the peer's end of stream closes the connection once its pending output is
// flushed, OnClose following with io.EOF. With it, the backend calls OnReadEOF instead, after
// the last OnData, and the connection stays open for writing until the handler ends it: Close,
// CloseWrite (which then closes it, OnClose following with a nil cause) or a returned Close.
// Input still unconsumed at end of stream is dropped. OnReadEOF runs on the connection's owner
// like every callback; a paused connection (PauseRead) sees it only once reading resumes.
type HalfCloser interface {
	OnReadEOF(c Conn) Action
}

// Drainer is an optional interface of a Handler. A backend calls OnDrain on the connection's
// owner when the connection's pending output (Buffered), having been above Config.LowWater,
// falls to or below it: the moment to resume producing, e.g. to resume reading another
// connection that was paused because this one fell behind (other.Post(func(c Conn) {
// c.ResumeRead() }), since ResumeRead belongs to that connection's owner).
type Drainer interface {
	OnDrain(c Conn)
}

// SharedWriter is an optional interface of a Conn whose backend can queue bytes by reference.
// AsyncWriteShared is AsyncWrite without the copy: p is shared and immutable — once passed,
// neither the caller nor anyone else may modify it, ever — and the same p may be passed to any
// number of connections, so that a broadcast encodes its line once and every recipient's queue
// points at it. The backend keeps p until its bytes are sent; the garbage collector frees it
// once no connection holds it. Safe from any goroutine; order, limits and errors are
// AsyncWrite's. Call it through AsyncWriteShared, which falls back to AsyncWrite (a copy) on a
// Conn without it.
type SharedWriter interface {
	AsyncWriteShared(p []byte) error
}

// AsyncWriteShared queues p on c by reference where c's backend can (SharedWriter), else with
// AsyncWrite. Either way p must not be modified after the call.
func AsyncWriteShared(c Conn, p []byte) error {
	if s, ok := c.(SharedWriter); ok {
		return s.AsyncWriteShared(p)
	}
	return c.AsyncWrite(p)
}
