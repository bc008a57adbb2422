package tlswrap

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"iter"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// A connection's life: handshaking (or waiting for a handshake slot), open to the inner
// handler, closed.
const (
	stateHandshake uint8 = iota
	stateWaiting
	stateOpen
	stateClosed
)

const (
	// maxPlain is the most plaintext one record carries.
	maxPlain = 16 << 10
	// sealAt is how much plaintext a callback may gather before it is sealed without waiting
	// for the callback to return, so that a large write does not sit twice in memory.
	sealAt = 64 << 10
)

// bufPool lends the buffers a callback decrypts into and gathers writes in, so that an idle
// connection holds neither.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4*maxPlain); return &b }}

// conn is one TLS connection: the state the wrapper keeps on the backend's connection, and the
// reactor.Conn the inner handler sees. Every field without a note belongs to the connection's
// owner.
type conn struct {
	h  *Handler
	c  reactor.Conn // the backend's connection, carrying ciphertext
	tc *tls.Conn
	tr transport

	state     uint8
	stopTimer func() bool // the handshake's deadline

	// The handshake coroutine, while one runs: next resumes it, stop ends it, yield is its
	// side of the switch (the transport suspends it there when it needs more ciphertext).
	next   func() (struct{}, bool)
	stop   func()
	yield  func(struct{}) bool
	hsDone bool
	hsErr  error
	held   []byte // ciphertext that arrived while waiting for a handshake slot

	slot atomic.Bool // holds one of the Handler's handshake slots
	gone atomic.Bool // closed: a queued slot passes it by

	ctx     any
	inCB    bool        // a callback of the inner handler runs: Write gathers
	paused  bool        // the inner handler paused reading
	readEOF bool        // the peer's end of input (close_notify or FIN) was handled
	wclosed bool        // CloseWrite was called
	cause   error       // what OnClose reports when the backend says nil
	pin     []byte      // decrypted input the inner handler has not consumed
	cin     []byte      // ciphertext crypto/tls has not read yet (while the inner handler is paused)
	closing atomic.Bool // Close, Abort, or the end: writes are refused
	shut    atomic.Bool // CloseWrite was called: AsyncWrite is refused
	outN    atomic.Int64

	// sealMu orders every use of the TLS connection's record layer — sealing, reading,
	// alerts — with the hand-over of the ciphertext to the backend, so that records reach the
	// backend in the order of their sequence numbers whichever goroutine sealed them.
	sealMu   sync.Mutex
	out      []byte  // plaintext gathered by the running callback, from bufPool
	outBuf   *[]byte // out's pooled buffer
	notified bool    // our close_notify is sent
}

func newConn(h *Handler, c reactor.Conn) *conn {
	t := &conn{h: h, c: c}
	t.tr.t = t
	t.tc = tls.Server(&t.tr, h.tls)
	return t
}

// onData takes ciphertext: it feeds the handshake, or decrypts records for the inner handler.
func (t *conn) onData(in []byte) (int, reactor.Action) {
	switch t.state {
	case stateHandshake:
		if t.next == nil && !t.slot.Load() {
			if !t.h.acquire(t) {
				// Wait, paused, for a slot; the bytes are held here so that the handshake
				// can start when the slot comes, without waiting for more input.
				t.state = stateWaiting
				t.held = append(t.held, in...)
				t.c.PauseRead()
				return len(in), reactor.None
			}
			t.slot.Store(true)
		}
		return t.handshake(in)
	case stateWaiting:
		// A backend may deliver what it read before the pause took effect.
		if len(t.held)+len(in) > t.h.maxIn {
			return len(in), t.failHandshake(reactor.ErrInboundFull)
		}
		t.held = append(t.held, in...)
		return len(in), reactor.None
	case stateOpen:
		return len(in), t.decrypt(in, false)
	}
	return len(in), reactor.None
}

// decrypt runs the pump over the ciphertext kept from before followed by in, and keeps what
// crypto/tls did not read (it stops reading when the inner handler pauses). The ciphertext is
// kept here, not left to the backend as an unconsumed tail, because a backend presents a tail
// again only with new bytes: after the peer's last bytes and its end of stream, the records in
// the tail would never be decrypted.
func (t *conn) decrypt(in []byte, force bool) reactor.Action {
	if len(t.cin) > 0 {
		t.cin = append(t.cin, in...)
		in = t.cin
	}
	t.tr.in, t.tr.off = in, 0
	a := t.pump(force)
	rest := in[t.tr.off:]
	t.tr.in, t.tr.off = nil, 0
	switch {
	case len(rest) == 0 || t.closing.Load():
		t.cin = nil
	case len(rest) > t.h.maxIn:
		t.cin = nil
		t.closing.Store(true)
		t.c.Abort(reactor.ErrInboundFull)
	default:
		// rest may lie in cin itself: copy moves it to the front.
		t.cin = append(t.cin[:0], rest...)
	}
	return a
}

// handshake resumes the handshake with in, and, once it is done, opens the connection to the
// inner handler and decrypts what followed the handshake in the same read.
func (t *conn) handshake(in []byte) (int, reactor.Action) {
	t.tr.in, t.tr.off = in, 0
	defer func() { t.tr.in, t.tr.off = nil, 0 }()
	if t.next == nil {
		t.next, t.stop = iter.Pull(t.runHandshake)
	}
	t.next()
	t.flushHandshake()
	if !t.hsDone {
		return t.tr.off, reactor.None
	}
	t.endCoroutine()
	if t.hsErr != nil {
		return len(in), t.failHandshake(t.hsErr)
	}
	t.stopTimer()
	t.h.ok.Add(1)
	t.tr.direct = true
	t.tr.wbuf = nil // an idle connection keeps no buffer of its own
	t.state = stateOpen
	t.enter()
	t.h.inner.OnOpen(t)
	t.leave()
	if t.closing.Load() {
		return len(in), reactor.None // Close posted its close_notify
	}
	return len(in), t.decrypt(in[t.tr.off:], false)
}

// runHandshake is the coroutine's body.
func (t *conn) runHandshake(yield func(struct{}) bool) {
	t.yield = yield
	t.hsErr = t.tc.Handshake()
	t.hsDone = true
	t.yield = nil
}

// endCoroutine ends the handshake's coroutine, if one runs, and gives back its slot.
func (t *conn) endCoroutine() {
	if t.stop != nil {
		t.stop()
		t.next, t.stop, t.yield = nil, nil, nil
	}
	if t.slot.Swap(false) {
		t.h.release()
	}
}

// flushHandshake sends what the handshake wrote (its flights, or an alert).
func (t *conn) flushHandshake() {
	if len(t.tr.wbuf) > 0 {
		t.c.Write(t.tr.wbuf)
		t.tr.wbuf = t.tr.wbuf[:0]
	}
}

// failHandshake ends a handshake that failed for err: the cause is counted and logged, plain
// HTTP gets its answer, and the connection closes (after crypto/tls's alert, if it sent one).
func (t *conn) failHandshake(err error) reactor.Action {
	t.endCoroutine()
	t.flushHandshake()
	t.tr.wbuf = nil
	t.held = nil
	t.state = stateClosed
	t.gone.Store(true)
	t.h.failed.Add(1)
	var rhe tls.RecordHeaderError
	if errors.As(err, &rhe) && rhe.Conn != nil && looksLikeHTTP(rhe.RecordHeader[:]) {
		err = ErrPlainHTTP
		if t.h.plainHTTP {
			t.c.Write(plainHTTPAnswer)
		}
	}
	t.h.logFailure("tls handshake failed", t.c, err)
	return reactor.Close
}

// plainHTTPAnswer is what a plain HTTP request to the TLS port gets, when the inner handler
// speaks HTTP (nginx answers the same way).
var plainHTTPAnswer = []byte("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 50\r\nConnection: close\r\n\r\nThis port speaks HTTPS: the request was plain HTTP\n")

// looksLikeHTTP reports whether a record header is the start of an HTTP request line.
func looksLikeHTTP(hdr []byte) bool {
	for _, m := range []string{"GET /", "HEAD ", "POST ", "PUT /", "DELET", "OPTIO", "PATCH", "CONNE", "TRACE"} {
		if string(hdr) == m {
			return true
		}
	}
	return false
}

// handshakeTimeout is the handshake's deadline, armed by OnOpen.
func handshakeTimeout(c reactor.Conn) {
	t := c.Context().(*conn)
	if t.state == stateHandshake || t.state == stateWaiting {
		t.failHandshake(ErrHandshakeTimeout)
		c.Close()
	}
}

// resumeHandshake is posted to a connection that waited for a handshake slot and now holds
// one.
func resumeHandshake(c reactor.Conn) {
	t := c.Context().(*conn)
	if t.state != stateWaiting || !t.slot.Load() {
		return
	}
	t.state = stateHandshake
	held := t.held
	t.held = nil
	c.ResumeRead()
	if _, a := t.handshake(held); a == reactor.Close {
		c.Close()
	}
}

// pump decrypts the records the transport holds and hands the plaintext to the inner handler,
// until the ciphertext runs out, the inner handler pauses or closes, or an error ends the
// connection. force presents the plaintext kept from before even when nothing new comes.
func (t *conn) pump(force bool) reactor.Action {
	if t.readEOF {
		t.tr.off = len(t.tr.in) // nothing counts after the end of input
		return reactor.None
	}
	sp := bufPool.Get().(*[]byte)
	defer bufPool.Put(sp)
	// buf is the pooled buffer, unless the input kept from before is larger: then that is
	// used in place (own), so that a large body arriving in pieces is not copied again and
	// again.
	kept := t.pin
	var buf []byte
	own := cap(kept) > cap(*sp)
	if own {
		buf = kept
	} else {
		buf = append((*sp)[:0], kept...)
	}
	t.pin = nil
	fresh := force && len(buf) > 0
	a := reactor.None
	var rerr error
	for t.readable() {
		if len(buf) == cap(buf) {
			if fresh {
				buf, a = t.deliver(buf)
				fresh = false
				continue
			}
			if len(buf) >= t.h.maxIn {
				rerr = reactor.ErrInboundFull
				break
			}
			buf = slices.Grow(buf, max(maxPlain, len(buf)))
			own = true
		}
		t.sealMu.Lock()
		n, err := t.tc.Read(buf[len(buf):cap(buf)])
		t.sealMu.Unlock()
		buf = buf[:len(buf)+n]
		fresh = fresh || n > 0
		if err != nil {
			rerr = err
			break
		}
	}
	if fresh && t.readable() {
		buf, a = t.deliver(buf)
	}
	switch {
	case len(buf) == 0:
	case own:
		t.pin = buf
	default:
		t.pin = append(kept[:0], buf...)
	}
	switch {
	case a == reactor.Close || rerr == nil || errors.Is(rerr, errWouldBlock):
	case rerr == io.EOF: // the peer's close_notify, or its FIN at a record boundary
		// A paused handler hears of the end only after the plaintext that waits for it:
		// crypto/tls keeps answering io.EOF, so the pump that ResumeRead posts finds it again.
		if !t.paused {
			a = t.endOfInput()
		}
	case rerr == reactor.ErrInboundFull:
		t.closing.Store(true)
		t.c.Abort(reactor.ErrInboundFull)
	default: // a bad record: crypto/tls has sent its alert
		t.h.logFailure("tls record refused", t.c, rerr)
		t.cause = rerr
		t.closing.Store(true)
		a = reactor.Close
	}
	return a
}

// readable says whether input may go on to the inner handler.
func (t *conn) readable() bool {
	return t.state == stateOpen && !t.paused && !t.readEOF && !t.closing.Load()
}

// deliver presents buf to the inner handler and returns what it left, moved to buf's front.
func (t *conn) deliver(buf []byte) ([]byte, reactor.Action) {
	t.enter()
	n, a := t.h.inner.OnData(t, buf)
	t.leave()
	n = max(0, min(n, len(buf)))
	if a == reactor.Close {
		t.closing.Store(true)
		t.sendCloseNotify()
	}
	return buf[:copy(buf, buf[n:])], a
}

// deliverPending is posted by ResumeRead: input decrypted, or received, while the inner handler
// was paused goes to it now, since the backend has nothing left to present.
func deliverPending(c reactor.Conn) {
	t := c.Context().(*conn)
	if !t.readable() {
		return
	}
	if t.decrypt(nil, true) == reactor.Close {
		c.Close()
	}
}

// endOfInput handles the peer's end of input: a HalfCloser hears of it, any other handler's
// connection closes with io.EOF.
func (t *conn) endOfInput() reactor.Action {
	t.readEOF = true
	if hc := t.h.halfClose; hc != nil {
		t.enter()
		a := hc.OnReadEOF(t)
		t.leave()
		if a == reactor.Close {
			t.closing.Store(true)
			t.sendCloseNotify()
		}
		return a
	}
	t.cause = io.EOF
	t.closing.Store(true)
	t.sendCloseNotify()
	return reactor.Close
}

// onReadEOF is the peer's TCP end of stream.
func (t *conn) onReadEOF() reactor.Action {
	switch t.state {
	case stateHandshake, stateWaiting:
		return t.failHandshake(ErrPeerClosedHandshake)
	case stateOpen:
		if t.readEOF {
			return reactor.None // a HalfCloser already heard of it with the close_notify
		}
		// crypto/tls reads the end from the transport: at a record boundary it is an end
		// without close_notify, which it accepts (and so does this); inside a record it is a
		// truncated stream, refused. Plaintext still waiting for the inner handler goes first.
		t.tr.eof = true
		return t.decrypt(nil, true)
	}
	return reactor.Close
}

// onClose ends the connection: a handshake under way stops, an open connection tells the inner
// handler.
func (t *conn) onClose(err error) {
	t.closing.Store(true)
	t.gone.Store(true)
	switch t.state {
	case stateHandshake, stateWaiting:
		t.endCoroutine()
		t.h.failed.Add(1)
		if err == nil {
			err = ErrPeerClosedHandshake
		}
		t.h.logFailure("tls handshake failed", t.c, err)
	case stateOpen:
		if err == nil {
			err = t.cause
		}
		t.state = stateClosed
		t.h.inner.OnClose(t, err)
	}
	t.state = stateClosed
	t.pin, t.held, t.cin = nil, nil, nil
	// A backend may run OnClose inside the AsyncWrite that overflowed the connection (netpoll
	// does), with this goroutine holding sealMu already: the gather buffer goes back to the
	// pool only when the lock is free, else to the garbage collector.
	if t.sealMu.TryLock() {
		t.releaseOutLocked()
		t.sealMu.Unlock()
	}
}

// enter begins a callback of the inner handler: writes gather from here.
func (t *conn) enter() { t.inCB = true }

// leave ends a callback of the inner handler: what it wrote is sealed and sent. An error here
// has already closed the connection (the backend aborts on ErrOutboundFull).
func (t *conn) leave() {
	t.inCB = false
	t.sealMu.Lock()
	t.sealOutLocked()
	t.sealMu.Unlock()
}

// sealOutLocked seals the gathered plaintext and returns its buffer to the pool.
func (t *conn) sealOutLocked() error {
	if t.outBuf == nil {
		return nil
	}
	err := t.sealLocked(t.out, false)
	t.releaseOutLocked()
	return err
}

func (t *conn) releaseOutLocked() {
	if t.outBuf != nil {
		*t.outBuf = t.out[:0]
		bufPool.Put(t.outBuf)
		t.out, t.outBuf = nil, nil
		t.outN.Store(0)
	}
}

// sealLocked encrypts p into records and hands them to the backend's connection: with Write
// on the owner, with AsyncWrite (async) from anywhere else.
func (t *conn) sealLocked(p []byte, async bool) error {
	if len(p) == 0 {
		return nil
	}
	if t.notified {
		return reactor.ErrConnClosed
	}
	t.tr.async = async
	_, err := t.tc.Write(p)
	t.tr.async = false
	return err
}

// gatherLocked adds p to what the running callback writes, sealing once it is large.
func (t *conn) gatherLocked(p []byte, async bool) error {
	if t.outBuf == nil {
		t.outBuf = bufPool.Get().(*[]byte)
		t.out = (*t.outBuf)[:0]
	}
	t.out = append(t.out, p...)
	t.outN.Store(int64(len(t.out)))
	if len(t.out) >= sealAt {
		err := t.sealLocked(t.out, async)
		t.out = t.out[:0]
		t.outN.Store(0)
		return err
	}
	return nil
}

// closeNow is posted by Close: what was written goes out, then the close_notify, then the FIN.
func closeNow(c reactor.Conn) {
	t := c.Context().(*conn)
	if t.state == stateOpen {
		t.sendCloseNotify()
	}
	c.Close()
}

// sendCloseNotify sends what was gathered, then our close_notify alert, once.
func (t *conn) sendCloseNotify() {
	if t.state != stateOpen {
		return
	}
	t.sealMu.Lock()
	defer t.sealMu.Unlock()
	t.sealOutLocked()
	if !t.notified {
		t.notified = true
		t.tc.CloseWrite()
	}
}

// Write gathers p, to be sealed when the callback returns (or seals it now, outside one). See
// reactor.Conn.
func (t *conn) Write(p []byte) (int, error) {
	if t.state != stateOpen || t.wclosed || t.closing.Load() {
		return 0, reactor.ErrConnClosed
	}
	t.sealMu.Lock()
	var err error
	if t.inCB {
		err = t.gatherLocked(p, false)
	} else {
		err = t.sealLocked(p, false)
	}
	t.sealMu.Unlock()
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// AsyncWrite seals p at once and hands the records to the backend's AsyncWrite — or, while a
// callback of the connection gathers its writes, adds p after them. Safe from any goroutine.
// Sealing here rather than on the owner keeps what AsyncWrite accepted even when the
// connection closes before the owner would have run again (Shutdown delivers AsyncWrites, not
// posted functions).
func (t *conn) AsyncWrite(p []byte) error {
	if t.closing.Load() || t.shut.Load() {
		return reactor.ErrConnClosed
	}
	t.sealMu.Lock()
	defer t.sealMu.Unlock()
	if t.outBuf != nil {
		return t.gatherLocked(p, true)
	}
	return t.sealLocked(p, true)
}

// Close sends what was written, then close_notify, then closes. Safe from any goroutine.
func (t *conn) Close() error {
	if t.closing.Swap(true) {
		return nil
	}
	if err := t.c.Post(closeNow); err != nil {
		return t.c.Close()
	}
	return nil
}

// Abort resets the connection at once. Safe from any goroutine.
func (t *conn) Abort(cause error) {
	t.closing.Store(true)
	t.c.Abort(cause)
}

// CloseWrite sends what was written and a close_notify, then half-closes TCP.
func (t *conn) CloseWrite() error {
	if t.wclosed || t.state != stateOpen {
		return nil
	}
	t.shut.Store(true)
	t.sendCloseNotify()
	t.wclosed = true
	return t.c.CloseWrite()
}

// Dial dials plain TCP: see reactor.Conn.
func (t *conn) Dial(ctx context.Context, addr string, h reactor.Handler) error {
	return t.c.Dial(ctx, addr, h)
}

func (t *conn) LocalAddr() net.Addr  { return t.c.LocalAddr() }
func (t *conn) RemoteAddr() net.Addr { return t.c.RemoteAddr() }
func (t *conn) Context() any         { return t.ctx }
func (t *conn) SetContext(v any)     { t.ctx = v }

// Post runs f on the owner, as a callback of the inner handler. Safe from any goroutine.
func (t *conn) Post(f func(reactor.Conn)) error {
	if t.closing.Load() {
		return reactor.ErrConnClosed
	}
	return t.c.Post(func(reactor.Conn) { t.run(f) })
}

// AfterFunc runs f on the owner after d, as a callback of the inner handler.
func (t *conn) AfterFunc(d time.Duration, f func(reactor.Conn)) func() bool {
	if t.state != stateOpen {
		return func() bool { return false }
	}
	return t.c.AfterFunc(d, func(reactor.Conn) { t.run(f) })
}

// run runs f as a callback of the inner handler.
func (t *conn) run(f func(reactor.Conn)) {
	if t.state != stateOpen {
		return
	}
	t.enter()
	f(t)
	t.leave()
}

// PauseRead stops delivering input, and reading.
func (t *conn) PauseRead() {
	t.paused = true
	t.c.PauseRead()
}

// ResumeRead delivers the input that waited, then what follows.
func (t *conn) ResumeRead() {
	if !t.paused {
		return
	}
	t.paused = false
	t.c.ResumeRead()
	t.c.Post(deliverPending)
}

// Buffered counts plaintext not yet sealed and ciphertext not yet sent. Safe from any
// goroutine.
func (t *conn) Buffered() int {
	return t.c.Buffered() + int(t.outN.Load())
}

// errWouldBlock is the transport's answer when the ciphertext runs out after the handshake:
// a temporary error, which crypto/tls leaves the connection usable after.
var errWouldBlock = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "tlswrap: no more ciphertext yet" }
func (wouldBlock) Timeout() bool   { return false }
func (wouldBlock) Temporary() bool { return true }

// errStopped is what the handshake reads once its coroutine is told to stop.
var errStopped = errors.New("tlswrap: handshake stopped")

// transport is the net.Conn crypto/tls runs over: reads come from the bytes OnData lent,
// writes go to the backend's connection (during the handshake, gathered and sent when the
// coroutine suspends).
type transport struct {
	t      *conn
	in     []byte
	off    int
	wbuf   []byte
	eof    bool // the peer's TCP end of stream came: reads past in end
	direct bool // the handshake is over: writes go to the backend's connection
	async  bool // and the sealer is not the owner: by AsyncWrite; under sealMu
}

func (tr *transport) Read(p []byte) (int, error) {
	for tr.off == len(tr.in) {
		if tr.eof {
			return 0, io.EOF
		}
		t := tr.t
		if t.yield == nil {
			return 0, errWouldBlock
		}
		if !t.yield(struct{}{}) {
			t.yield = nil
			return 0, errStopped
		}
	}
	n := copy(p, tr.in[tr.off:])
	tr.off += n
	return n, nil
}

func (tr *transport) Write(p []byte) (int, error) {
	switch {
	case !tr.direct:
		tr.wbuf = append(tr.wbuf, p...)
		return len(p), nil
	case tr.async:
		if err := tr.t.c.AsyncWrite(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return tr.t.c.Write(p)
}

func (tr *transport) Close() error                     { return nil }
func (tr *transport) LocalAddr() net.Addr              { return tr.t.c.LocalAddr() }
func (tr *transport) RemoteAddr() net.Addr             { return tr.t.c.RemoteAddr() }
func (tr *transport) SetDeadline(time.Time) error      { return nil }
func (tr *transport) SetReadDeadline(time.Time) error  { return nil }
func (tr *transport) SetWriteDeadline(time.Time) error { return nil }
