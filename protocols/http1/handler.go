package http1

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// Defaults for the zero fields of Config.
const (
	DefaultMaxRequestLine = 8 << 10
	DefaultMaxHeaderBytes = 16 << 10
	DefaultMaxBody        = 1 << 20
)

// Config bounds what one request may hold. The zero value works: every zero or negative field
// means its default. A backend's reactor.Config.MaxInbound must leave room for the largest
// request these allow (MaxRequestLine + MaxHeaderBytes + MaxBody), or big bodies hit the
// backend's limit, and an abrupt close, before they can get their 413.
type Config struct {
	// MaxRequestLine bounds the request line, CRLF included. Longer lines get 414 URI Too Long
	// when the target is to blame, else 400. Default DefaultMaxRequestLine (8 KiB).
	MaxRequestLine int

	// MaxHeaderBytes bounds the header block after the request line, the empty line ending it
	// included, and likewise the trailer section of a chunked body. Longer ones get 431.
	// Default DefaultMaxHeaderBytes (16 KiB).
	MaxHeaderBytes int

	// MaxBody bounds a request body, counted after chunked decoding. A larger Content-Length,
	// or chunks adding up past it, get 413. Default DefaultMaxBody (1 MiB).
	MaxBody int

	// Each time limit strikes once it has passed, never early: a timer of the connection's
	// own (reactor.Conn.AfterFunc) keeps them, so it strikes within the backend's timer
	// latency after.

	// IdleTimeout closes a keep-alive connection that has no request in progress for this
	// long, without a reply. Default DefaultIdleTimeout (60s); negative: never.
	IdleTimeout time.Duration

	// HeaderTimeout bounds the time from a request's first byte to the end of its header
	// block; past it the client gets 408 and the connection closes. This is what stops a
	// slowloris peer, which keeps a request open by sending a byte now and then. Default
	// DefaultHeaderTimeout (10s); negative: never.
	HeaderTimeout time.Duration

	// BodyTimeout bounds the time from the end of the header block to the end of the body;
	// past it the client gets 408 and the connection closes. Default DefaultBodyTimeout (30s);
	// negative: never.
	BodyTimeout time.Duration

	// Timing keeps the histogram of request latency in Stats, at the cost of one more clock
	// read per OnData call. Replies by status are counted whether or not it is set.
	Timing bool

	// AccessLog, when set, gets a line per request (remote address, method, path, status,
	// time taken), at most AccessLogPerSecond a second: a line past that is left out, and the
	// next second's first line says how many were. Default: no access log.
	AccessLog *slog.Logger

	// AccessLogPerSecond bounds the access log. Default DefaultAccessLogPerSecond.
	AccessLogPerSecond int
}

// DefaultAccessLogPerSecond is the access log's default bound: enough to follow a few clients
// by eye, too few to cost a server under load more than a sliver of a core.
const DefaultAccessLogPerSecond = 100

func (c Config) limits() limits {
	l := limits{requestLine: c.MaxRequestLine, header: c.MaxHeaderBytes, body: c.MaxBody}
	if l.requestLine <= 0 {
		l.requestLine = DefaultMaxRequestLine
	}
	if l.header <= 0 {
		l.header = DefaultMaxHeaderBytes
	}
	if l.body <= 0 {
		l.body = DefaultMaxBody
	}
	return l
}

// Handler serves the routes of this package over HTTP/1.x; it implements reactor.Handler.
// One Handler serves any number of connections on any number of loops at once. Make it with
// New and stop it with Close; the zero Handler is not usable.
type Handler struct {
	lim limits
	tmo timeouts

	// clock reads the monotonic time for the time limits: at most once per OnData call, not
	// per request. Tests replace it with their fake clock.
	clock func() int64
	start time.Time
	// wake is expire as a func value made once, so that arming a timer allocates no closure.
	wake func(reactor.Conn)

	// Counts for Served; requests is added to once per OnData call, not per request.
	opened, requests atomic.Uint64
	counts           counts     // for Stats
	timed            bool       // Config.Timing
	access           *accessLog // nil: no access log
	unixSecond       atomic.Int64

	// exchanges recycles the state of requests in progress (*exchange), so that a connection
	// holds one only from a request's first byte until it has been answered.
	exchanges sync.Pool

	// date holds the current Date header value and the fixed replies that carry it. A
	// goroutine of the Handler replaces it every second, so requests only load a pointer
	// instead of formatting the time or assembling a reply.
	date atomic.Pointer[dated]
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New returns a Handler with cfg's limits and starts its goroutine, which refreshes the Date
// once a second until Close.
func New(cfg Config) *Handler {
	h := newStillHandler(cfg)
	go h.runDate()
	return h
}

// newStillHandler makes a Handler without its goroutine, so its Date stands still; tests that
// drive time by hand use it.
func newStillHandler(cfg Config) *Handler {
	h := &Handler{
		lim:   cfg.limits(),
		tmo:   cfg.timeouts(),
		start: time.Now(),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	h.clock = h.monotonic
	h.wake = h.expire
	h.timed = cfg.Timing
	if cfg.AccessLog != nil {
		h.access = &accessLog{log: cfg.AccessLog, perSecond: int64(cfg.AccessLogPerSecond)}
		if h.access.perSecond <= 0 {
			h.access.perSecond = DefaultAccessLogPerSecond
		}
	}
	h.exchanges.New = func() any { return &exchange{p: newParser(h.lim)} }
	h.setDate(h.start)
	return h
}

// Served reports how many connections the Handler has opened and how many requests it has
// answered (refusals of bad input not counted). Safe from any goroutine.
func (h *Handler) Served() (conns, requests uint64) {
	return h.opened.Load(), h.requests.Load()
}

// Close stops the Date goroutine and returns once it has exited. Connections still being
// served keep working with a Date that no longer advances. Safe from any goroutine; later
// calls return at once.
func (h *Handler) Close() {
	h.once.Do(func() { close(h.stop) })
	<-h.done
}

// conn is the per-connection state, kept with Conn.SetContext: where the connection stands for
// the time limits, and the request in progress, if any. It is small on purpose (24 bytes)
// because an idle keep-alive connection keeps nothing else here: the parser and what has been
// decided about a request (an exchange, 248 bytes) come from the Handler's pool with the
// request's first bytes and go back once it has been answered and no byte of a next one waits.
type conn struct {
	phase uint8     // waitIdle, waitHead, waitBody or timedOut
	since int64     // when the phase began, or the last request completed, on h.clock
	ex    *exchange // the request in progress; nil while idle between requests
}

// exchange is one request in progress: the parser's progress through it and what has been
// decided about it so far. It holds offsets and pointers to this package's own tables, never
// the connection's bytes, so that one back in the pool refers to nothing of its last
// connection.
type exchange struct {
	start     int64 // when the request began, on h.clock, for the latency histogram
	p         parser
	checked   bool     // the header block was routed and its expectations checked
	continued bool     // 100 Continue was sent for this request
	rt        *route   // where the current request goes, once checked
	miss      *refusal // 404 or 405, to send once the request is complete
}

func (ex *exchange) next() {
	ex.p.reset()
	ex.checked, ex.continued, ex.rt, ex.miss = false, false, nil, nil
}

// release puts the connection's exchange, if it holds one, back in the pool, ready for the
// first byte of any connection's next request.
func (h *Handler) release(cs *conn) {
	if cs.ex != nil {
		cs.ex.next()
		h.exchanges.Put(cs.ex)
		cs.ex = nil
	}
}

// OnOpen implements reactor.Handler: it attaches the connection's state and starts its idle
// clock.
func (h *Handler) OnOpen(c reactor.Conn) {
	h.opened.Add(1)
	h.attach(c)
}

func (h *Handler) attach(c reactor.Conn) *conn {
	cs := &conn{since: h.clock()}
	c.SetContext(cs)
	h.watch(c)
	return cs
}

// OnClose implements reactor.Handler: it returns a request in progress to the pool. The
// connection's timer needs no stopping: the backend stops a connection's timers when it closes.
func (h *Handler) OnClose(c reactor.Conn, err error) {
	if cs, _ := c.Context().(*conn); cs != nil {
		h.release(cs)
	}
	c.SetContext(nil)
}

// OnData implements reactor.Handler: it answers every complete request in `in`, in order, and
// consumes them; an incomplete request at the end is left for the next call (the parser
// remembers how far it got, so nothing is parsed twice). After a request that ends the
// connection, or one refused for bad input, it returns reactor.Close so the replies are
// flushed before the connection closes.
func (h *Handler) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	cs, _ := c.Context().(*conn)
	if cs == nil {
		// A backend always calls OnOpen first; this keeps a Handler that is driven by hand
		// working too.
		cs = h.attach(c)
	}
	if cs.phase == timedOut {
		// The time limit struck, wrote its 408 and closed; a backend may still present input
		// it read before the close took effect. That input is too late to be answered.
		return len(in), reactor.None
	}
	if len(in) == 0 {
		return 0, reactor.None
	}
	var t0 int64 // when this call began, if requests are timed or logged
	if h.timed || h.access != nil {
		t0 = h.clock()
	}
	ex := cs.ex
	if ex == nil {
		ex = h.exchanges.Get().(*exchange)
		ex.start = t0
		cs.ex = ex
	}
	completed, carried := 0, int64(-1) // carried: the start of a request begun in an earlier call
	w := writer{c: c, h: h}
	off, action := 0, reactor.None
	for off < len(in) && w.err == nil {
		buf := in[off:]
		st := ex.p.parse(buf)
		if st == failed {
			w.refuse(ex.p.err, ex.p.req.method == methodHEAD && ex.p.phase > phaseRequestLine, nil, 1, false)
			h.logAccess(c, ex, buf, ex.p.err.status)
			off, action = len(in), reactor.Close
			break
		}
		req := &ex.p.req
		head := req.method == methodHEAD
		if !ex.checked && ex.p.headersDone() {
			// Decide as soon as the header block is in: 100 Continue must go out before the
			// client sends its body, and some refusals should not wait for it.
			ex.checked = true
			ex.rt, ex.miss = resolve(req, buf)
			// After a failed expectation the client may or may not send its body, and a
			// client waiting for 100 Continue on a path that will not take the body should
			// not have to send it. Either way where the next request starts is unknown, so
			// answer now and close.
			if ex.miss == errExpectation || ex.miss != nil && req.expectContinue && st == needMore {
				w.refuse(ex.miss, head, ex.rt, req.minor, false)
				off, action = len(in), reactor.Close
				break
			}
		}
		if st == needMore {
			if req.expectContinue && !ex.continued && ex.p.headersDone() {
				ex.continued = true
				w.raw(continueLine)
			}
			break
		}
		keep := req.keepAlive()
		status := 200
		if ex.miss != nil {
			// 404 and 405: the request was well framed and is consumed whole, so the
			// connection can go on as for any other reply.
			w.refuse(ex.miss, head, ex.rt, req.minor, keep)
			status = ex.miss.status
		} else {
			w.respond(ex.rt, req, buf, keep)
		}
		h.logAccess(c, ex, buf, status)
		off += req.end
		completed++
		if ex.start != t0 {
			carried = ex.start
		}
		ex.next()
		ex.start = t0
		if !keep {
			action = reactor.Close
			break
		}
	}
	w.flush()
	to := waitIdle
	if off < len(in) && action == reactor.None {
		to = waitHead
		if ex.p.headersDone() {
			to = waitBody
		}
	}
	// The phase's clock restarts when the phase changes or a request completed; a request
	// trickling in keeps its first byte's time, which is what makes the header limit catch a
	// slowloris.
	if to != cs.phase || completed > 0 {
		cs.since = h.clock()
	}
	cs.phase = to
	if completed > 0 {
		h.requests.Add(uint64(completed))
		if h.timed {
			// Every request finished in this call took until now; all but one carried over
			// from an earlier call began when this one did.
			if carried >= 0 {
				h.counts.observe(cs.since-carried, 1)
				completed--
			}
			h.counts.observe(cs.since-t0, completed)
		}
	}
	if to == waitIdle && action == reactor.None && w.err == nil {
		// Every byte was a whole request, answered; the exchange was reset after the last.
		// A connection on its way out keeps its own until OnClose, so that input presented
		// after a refusal still meets the refused parser.
		h.exchanges.Put(ex)
		cs.ex = nil
	}
	if w.err != nil {
		// The connection refused our output (it is closing, or over its outbound limit, in
		// which case the backend aborts it); nothing more can be said on it.
		return len(in), reactor.Close
	}
	return off, action
}

// logAccess writes the access log's line for the request ex holds, answered with status, when
// there is an access log and its bound for this second allows. buf starts at the request.
func (h *Handler) logAccess(c reactor.Conn, ex *exchange, buf []byte, status int) {
	if h.access == nil {
		return
	}
	ok, dropped := h.access.allow(h.unixSecond.Load())
	if !ok {
		return
	}
	r := &ex.p.req
	var method, target []byte
	if r.methodEnd > 0 && r.methodEnd <= len(buf) {
		method = buf[:r.methodEnd]
	}
	if r.pathEnd > r.pathStart && r.pathEnd <= len(buf) {
		target = buf[r.pathStart:r.pathEnd]
	}
	h.access.line(c, method, target, status, time.Duration(h.clock()-ex.start), dropped)
}

const continueLine = "HTTP/1.1 100 Continue\r\n\r\n"

// dateLen is the length of an IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
const dateLen = len("Sun, 06 Nov 1994 08:49:37 GMT")

// imfFixdate is the Date header's layout (RFC 9110 §5.6.7), applied to UTC.
const imfFixdate = "Mon, 02 Jan 2006 15:04:05 GMT"

// dated is what changes once a second: the Date value, and each fixed route's whole 200 reply
// to a keep-alive HTTP/1.1 GET with it, assembled once a tick instead of once a request. One
// allocation a tick, as the Date alone was: the replies live in arrays of the struct.
type dated struct {
	date  [dateLen]byte
	reply [len(routes)][cannedMax]byte
	n     [len(routes)]int // the reply's length; 0 for a route whose reply is not canned (echo)
}

// cannedMax bounds a canned reply; a fixed route's reply longer than this is assembled piece by
// piece instead (none is: the longest, "/", is about 330 bytes).
const cannedMax = 512

func (h *Handler) setDate(now time.Time) {
	h.unixSecond.Store(now.Unix())
	d := new(dated)
	now.UTC().AppendFormat(d.date[:0], imfFixdate)
	for i := range routes {
		rt := &routes[i]
		if rt.echo || len(rt.head)+len("Date: \r\n\r\n")+dateLen+len(rt.body) > cannedMax {
			continue
		}
		r := append(append(d.reply[i][:0], rt.head...), "Date: "...)
		r = append(append(append(r, d.date[:]...), "\r\n\r\n"...), rt.body...)
		d.n[i] = len(r)
	}
	h.date.Store(d)
}

// monotonic is the Handler's clock: nanoseconds since New, immune to wall-clock steps.
func (h *Handler) monotonic() int64 { return int64(time.Since(h.start)) }

// runDate refreshes the Date value just after each second begins, so the header is never
// stale by more than the timer's latency. It exits when Close closes h.stop.
func (h *Handler) runDate() {
	defer close(h.done)
	t := time.NewTimer(untilNextSecond(time.Now()))
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			now := time.Now()
			h.setDate(now)
			t.Reset(untilNextSecond(now))
		}
	}
}

func untilNextSecond(now time.Time) time.Duration {
	return now.Truncate(time.Second).Add(time.Second).Sub(now)
}
