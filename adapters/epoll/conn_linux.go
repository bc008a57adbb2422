//go:build linux

package epoll

import (
	"net"
	"sync"
	"sync/atomic"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

// Connection states, owned by the loop.
const (
	stateOpen       uint8 = iota // reading and writing
	stateClosing                 // no more reading; flushing what was written, then closing
	stateLingering               // output sent, FIN sent, OnClose called; discarding input until the peer's FIN
	stateClosed                  // descriptor closed, OnClose called
	stateConnecting              // dialed, not connected yet (dial_linux.go); OnOpen not called
)

// Requests another goroutine (or the connection's own callback) leaves for the loop in
// conn.req. They are atomic bits so that Write and AsyncWrite can refuse bytes for a connection
// that is on its way out without taking a lock.
const (
	reqClose     uint32 = 1 << iota // Close: flush, then close
	reqAbort                        // Abort or a broken high-water mark: close now
	reqClosed                       // the loop has closed the connection
	reqWriteShut                    // CloseWrite: no more output, though the connection is not closing

	reqEnding = reqClose | reqAbort | reqClosed // the connection is on its way out
)

// CloseWrite's progress, in conn.shut.
const (
	shutAsked uint8 = 1 + iota // CloseWrite was called: FIN once the output is sent
	shutDone                   // the write side is shut down
)

// conn is one connection, accepted or dialed. It is kept small on purpose — an idle connection
// costs its struct (208 bytes, pinned by TestConnSize), its slot in the loop's table and one
// tiny array inside out — and holds no buffer while idle: unconsumed input (in) and pending
// output (out's chunks) come from pools and go back as soon as they drain.
//
// The fields of four bytes and less come in pairs that fill a word each (fd and slot, eight
// flags, events and req); the two flags of half-closing share a word with room for six bytes
// more. Abort's cause waits in the loop (loop.aborts), not here: aborts are rare.
//
// Fields marked "loop" are touched only by the goroutine of the loop that owns the connection.
type conn struct {
	l    *loop    // owner; fixed at accept or Dial
	h    *handler // what serves it: the server's handler, or the one given to Dial
	fd   int32    // loop; a descriptor is a C int
	slot int32    // loop: index in l.conns, carried in the epoll event

	state   uint8 // loop
	paused  bool  // loop: reading stopped while our own output is above the high-water half
	blocked bool  // loop: the socket's send buffer was full; waiting for EPOLLOUT
	dirty   bool  // loop: in l.dirty, to be settled at the end of the round

	// held is the handler's PauseRead and paused the loop's own backpressure: two reasons
	// apart, so that lifting one does not lift the other.
	held     bool // loop: reading stopped by PauseRead
	resumed  bool // loop: ResumeRead since the last settle: re-arm (edge-triggered) and deliver waiting input
	above    bool // loop: pending output was above Config.LowWater at a flush (Drainer handlers only)
	drainDue bool // loop: pending output fell to LowWater or below; OnDrain at the end of the round

	shut uint8 // loop: CloseWrite's progress (shutAsked, shutDone)
	eof  bool  // loop: the peer's end of stream went to a HalfCloser; reading has stopped for good
	ring uint8 // loop: io_uring requests in flight (ring* bits, uring_linux.go)

	events uint32        // loop: interest registered with epoll (level-triggered mode)
	req    atomic.Uint32 // req* bits; set under l.mu

	timers *timer // loop: the connection's AfterFunc timers, stopped when it closes

	in       *[]byte             // loop: unconsumed input, nil when there is none
	out      backendkit.Outbound // loop: pending output
	ctx      any                 // loop: SetContext's value
	closeErr error               // loop: cause for OnClose once a graceful close completes

	// backlog counts the bytes accepted for sending and not yet sent: Writes and AsyncWrites
	// alike, including AsyncWrite bytes still waiting in the loop's inbox. The high-water mark
	// is checked against it; it is atomic because AsyncWrite reads it from other goroutines.
	backlog atomic.Int64

	remote, local sockAddr // fixed at accept or connect
}

var (
	_ reactor.Conn         = (*conn)(nil)
	_ reactor.SharedWriter = (*conn)(nil)
)

// Write copies p into the connection's outbound queue; the loop sends it when the current
// callback returns. Only from the connection's own callbacks. Past Config.MaxOutbound it
// returns ErrOutboundFull and the connection is aborted once the callback returns. Bytes
// AsyncWritten to the connection before it and still in the loop's inbox go out first.
func (c *conn) Write(p []byte) (int, error) {
	if c.state != stateOpen || c.req.Load() != 0 {
		return 0, reactor.ErrConnClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	backlog := c.backlog.Load()
	if int(backlog)+len(p) > c.l.maxOutbound {
		c.l.request(c, reqAbort, reactor.ErrOutboundFull)
		return 0, reactor.ErrOutboundFull
	}
	if backlog != int64(c.out.Len()) {
		// The backlog counts AsyncWrite bytes from the moment they enter the inbox, out only
		// once the loop has moved them: some are still on their way, and p must follow them.
		c.l.takeInboxed(c)
	}
	c.out.Write(p)
	c.backlog.Add(int64(len(p)))
	c.l.st.Buffer(len(p))
	return len(p), nil
}

// AsyncWrite copies p into the owning loop's inbox and wakes the loop if it sleeps; the loop
// moves the bytes to the connection's outbound queue and sends them. Safe from any goroutine;
// the caller may reuse p as soon as it returns. AsyncWrites to one connection are sent in the
// order they were made.
func (c *conn) AsyncWrite(p []byte) error {
	if c.req.Load() != 0 {
		return reactor.ErrConnClosed
	}
	if len(p) == 0 {
		return nil
	}
	return c.l.postWrite(c, p)
}

// AsyncWriteShared is AsyncWrite by reference (reactor.SharedWriter): the inbox and then the
// outbound queue hold p itself, which must never be modified again, so that a line broadcast
// to many connections exists once. Safe from any goroutine.
func (c *conn) AsyncWriteShared(p []byte) error {
	if c.req.Load() != 0 {
		return reactor.ErrConnClosed
	}
	if len(p) == 0 {
		return nil
	}
	return c.l.postShared(c, p)
}

// Close flushes the output written so far, then closes; OnClose follows with a nil cause.
// Safe from any goroutine; later calls do nothing.
func (c *conn) Close() error {
	c.l.request(c, reqClose, nil)
	return nil
}

// Abort drops pending output and closes at once (with a TCP reset); OnClose follows with
// cause, or ErrConnClosed when cause is nil. Safe from any goroutine.
func (c *conn) Abort(cause error) {
	if cause == nil {
		cause = reactor.ErrConnClosed
	}
	c.l.request(c, reqAbort, cause)
}

// Post queues f for the loop, behind every task posted before it (AsyncWrite bytes
// included), and wakes the loop if it sleeps. Safe from any goroutine. The loop runs f between
// callbacks and then settles the connection as after one. It does not allocate: the inbox
// holds the func value.
func (c *conn) Post(f func(reactor.Conn)) error {
	if c.req.Load()&reqEnding != 0 {
		return reactor.ErrConnClosed
	}
	return c.l.postFunc(c, f)
}

// CloseWrite sends the output written so far, AsyncWrites made before it included, then shuts
// down the sending half of the connection (TCP FIN); reading goes on. Later writes fail with
// ErrConnClosed. Once a HalfCloser handler has had the peer's end of stream too, the connection
// closes with a nil cause. Only from the connection's own callbacks; later calls, and calls on
// a closing connection, do nothing.
func (c *conn) CloseWrite() error {
	if c.state != stateOpen || c.req.Load() != 0 {
		return nil
	}
	c.l.closeWrite(c)
	return nil
}

// PauseRead stops reading from the socket: level-triggered, the loop drops its interest in
// input; edge-triggered, it leaves input events unanswered. Only from the connection's own
// callbacks.
func (c *conn) PauseRead() {
	if c.held || c.state == stateClosed {
		return // a closed connection (OnClose) reads nothing, and release counted its pause out
	}
	c.held = true
	c.l.hold()
	c.l.markDirty(c) // the interest changes when the connection is settled
}

// ResumeRead reads again: the loop restores the input interest, or re-arms an edge-triggered
// socket so that input that waited is reported, and presents input left unconsumed. Only from
// the connection's own callbacks.
func (c *conn) ResumeRead() {
	if !c.held {
		return
	}
	c.held, c.resumed = false, !c.eof // at its end of stream, there is nothing to resume
	c.l.nheld--
	c.l.markDirty(c)
}

// reading reports whether the loop reads from c: open, paused for neither reason, and not yet
// at its end of stream.
func (c *conn) reading() bool { return c.state == stateOpen && !c.paused && !c.held && !c.eof }

// Buffered is the output accepted and not yet sent, AsyncWrite bytes still in the inbox
// included. Safe from any goroutine.
func (c *conn) Buffered() int { return int(c.backlog.Load()) }

// LocalAddr returns a new *net.TCPAddr for the server's end. Safe from any goroutine.
func (c *conn) LocalAddr() net.Addr { return c.local.tcpAddr() }

// RemoteAddr returns a new *net.TCPAddr for the peer's end. Safe from any goroutine.
func (c *conn) RemoteAddr() net.Addr { return c.remote.tcpAddr() }

// Loop reports the index, from 0, of the event loop that owns the connection, for handlers
// that show which loop served them (echo's TagLoop). Safe from any goroutine.
func (c *conn) Loop() int { return c.l.index }

// Context returns SetContext's value. Only from the connection's own callbacks.
func (c *conn) Context() any { return c.ctx }

// SetContext stores per-connection protocol state. Only from the connection's own callbacks.
func (c *conn) SetContext(v any) { c.ctx = v }

// tailPool recycles the buffers that hold a connection's unconsumed input between reads, so a
// connection keeps one only while a message is split across reads.
var tailPool = sync.Pool{New: func() any { b := make([]byte, 0, tailSize); return &b }}

const (
	tailSize    = 4 << 10  // fits a typical partial HTTP request
	tailPoolMax = 64 << 10 // larger tails (a big body in flight) are left to the collector
)

// keepTail stores rest as the connection's unconsumed input. rest may alias *c.in.
func (c *conn) keepTail(rest []byte) {
	if c.in == nil {
		c.in = tailPool.Get().(*[]byte)
		*c.in = append((*c.in)[:0], rest...)
		return
	}
	*c.in = (*c.in)[:copy(*c.in, rest)]
}

// dropTail gives the unconsumed-input buffer back.
func (c *conn) dropTail() {
	if c.in == nil {
		return
	}
	if cap(*c.in) <= tailPoolMax {
		*c.in = (*c.in)[:0]
		tailPool.Put(c.in)
	}
	c.in = nil
}
