package tlswrap

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reactorlab/reactor/internal/ratelog"
	"github.com/reactorlab/reactor/reactor"
)

// Defaults for the zero fields of Config.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxHandshakes    = 1024
)

// Errors a connection may close with; OnClose of the inner handler never sees the handshake's,
// since a connection whose handshake failed was never opened to it.
var (
	// ErrHandshakeTimeout: the peer did not finish the handshake within HandshakeTimeout.
	ErrHandshakeTimeout = errors.New("tlswrap: handshake timed out")
	// ErrPlainHTTP: the peer spoke plain HTTP to the TLS port.
	ErrPlainHTTP = errors.New("tlswrap: plain HTTP request sent to the TLS port")
	// ErrPeerClosedHandshake: the peer closed the connection before the handshake finished.
	ErrPeerClosedHandshake = errors.New("tlswrap: peer closed the connection during the handshake")
)

// Config configures a Handler. Only TLS is required.
type Config struct {
	// TLS holds the certificates (Certificates, or GetCertificate for certificates that change)
	// and any other setting; New clones it and fills in what is unset: MinVersion TLS 1.2,
	// and for TLS 1.2 the ECDHE suites with AEAD ciphers only. A server never renegotiates.
	TLS *tls.Config
	// HandshakeTimeout bounds a handshake, counted from the accept (0: 10 s).
	HandshakeTimeout time.Duration
	// MaxHandshakes bounds the handshakes in progress at once on this Handler (0: 1024).
	// A connection whose ClientHello arrives past the bound waits, its reading paused, until
	// a handshake ends; its HandshakeTimeout still runs.
	MaxHandshakes int
	// MaxInbound bounds the decrypted input the inner handler has not consumed (0:
	// reactor.DefaultMaxInbound); past it the connection is aborted with
	// reactor.ErrInboundFull.
	MaxInbound int
	// Logger receives failed handshakes and TLS errors, at most one line a second (nil: no
	// logging).
	Logger *slog.Logger
}

// modernSuites are the TLS 1.2 suites offered: forward secrecy and AEAD only. (TLS 1.3's are
// not configurable, and all are modern.)
var modernSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Handler serves an inner reactor.Handler over TLS. Make one with New; it is safe for use by
// every connection of a server at once.
type Handler struct {
	inner     reactor.Handler
	halfClose reactor.HalfCloser // inner, if it is one
	drainer   reactor.Drainer    // inner, if it is one
	tls       *tls.Config
	timeout   time.Duration
	maxIn     int
	plainHTTP bool // answer plain HTTP with a 400 (the inner handler speaks http/1.1)
	log       *slog.Logger
	warn      ratelog.Limiter

	// Handshakes in progress and the connections waiting for a slot, in arrival order.
	mu      sync.Mutex
	active  int
	max     int
	waiting []*conn

	ok, failed atomic.Uint64
}

// New returns a Handler that serves inner over TLS with cfg. It fails when cfg.TLS is nil or
// names no certificate.
func New(inner reactor.Handler, cfg Config) (*Handler, error) {
	if inner == nil {
		return nil, errors.New("tlswrap: nil inner handler")
	}
	if cfg.TLS == nil {
		return nil, errors.New("tlswrap: Config.TLS is nil")
	}
	tc := cfg.TLS.Clone()
	if len(tc.Certificates) == 0 && tc.GetCertificate == nil && tc.GetConfigForClient == nil {
		return nil, errors.New("tlswrap: Config.TLS has no certificate (Certificates, GetCertificate or GetConfigForClient)")
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	if tc.CipherSuites == nil {
		tc.CipherSuites = modernSuites
	}
	tc.Renegotiation = tls.RenegotiateNever
	h := &Handler{
		inner:     inner,
		tls:       tc,
		timeout:   cmp(cfg.HandshakeTimeout, DefaultHandshakeTimeout),
		max:       cmp(cfg.MaxHandshakes, DefaultMaxHandshakes),
		maxIn:     cmp(cfg.MaxInbound, reactor.DefaultMaxInbound),
		plainHTTP: slices.Contains(tc.NextProtos, "http/1.1"),
		log:       cfg.Logger,
	}
	h.halfClose, _ = inner.(reactor.HalfCloser)
	h.drainer, _ = inner.(reactor.Drainer)
	return h, nil
}

// cmp returns v, or def when v is not positive.
func cmp[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// Inner returns the handler h serves over TLS.
func (h *Handler) Inner() reactor.Handler { return h.inner }

// Handshakes reports how many handshakes have succeeded and how many failed (timed out, bad
// input, peer gone) since h was made. Safe from any goroutine.
func (h *Handler) Handshakes() (ok, failed uint64) { return h.ok.Load(), h.failed.Load() }

// InProgress reports how many handshakes hold one of the Config.MaxHandshakes slots now, and
// how many connections wait, paused, for a slot. Safe from any goroutine.
func (h *Handler) InProgress() (running, waiting int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.active, len(h.waiting)
}

// State returns the TLS state of c, a Conn that a Handler hands to its inner handler, and
// whether c is one. Only from c's own callbacks.
func State(c reactor.Conn) (tls.ConnectionState, bool) {
	t, ok := c.(*conn)
	if !ok || t.tc == nil {
		return tls.ConnectionState{}, false
	}
	return t.tc.ConnectionState(), true
}

// OnOpen starts the handshake's clock; the handshake itself begins with the first bytes.
func (h *Handler) OnOpen(c reactor.Conn) {
	t := newConn(h, c)
	c.SetContext(t)
	t.stopTimer = c.AfterFunc(h.timeout, handshakeTimeout)
}

// OnData feeds ciphertext to the handshake, or decrypts it for the inner handler.
func (h *Handler) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	return c.Context().(*conn).onData(in)
}

// OnReadEOF is the peer's TCP end of stream.
func (h *Handler) OnReadEOF(c reactor.Conn) reactor.Action {
	return c.Context().(*conn).onReadEOF()
}

// OnDrain passes the backend's drain notification on to the inner handler.
func (h *Handler) OnDrain(c reactor.Conn) {
	t, ok := c.Context().(*conn)
	if ok && t.state == stateOpen && h.drainer != nil {
		t.enter()
		h.drainer.OnDrain(t)
		t.leave()
	}
}

// OnClose ends the handshake, if one was under way, or tells the inner handler.
func (h *Handler) OnClose(c reactor.Conn, err error) {
	t, ok := c.Context().(*conn)
	if !ok {
		return
	}
	t.onClose(err)
}

// logFailure logs one failure of a connection, rate-limited.
func (h *Handler) logFailure(msg string, c reactor.Conn, err error) {
	if h.log == nil {
		return
	}
	if n, ok := h.warn.Allow(); ok {
		h.log.Info(msg, "remote", c.RemoteAddr().String(), "err", err, "suppressed", n)
	}
}

// acquire takes a handshake slot for t, or queues t and reports false.
func (h *Handler) acquire(t *conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.active < h.max {
		h.active++
		return true
	}
	h.waiting = append(h.waiting, t)
	return false
}

// release gives a handshake slot back, handing it to the first waiting connection still
// there.
func (h *Handler) release() {
	for {
		h.mu.Lock()
		var next *conn
		for len(h.waiting) > 0 && next == nil {
			next = h.waiting[0]
			h.waiting[0] = nil
			h.waiting = h.waiting[1:]
			if next.gone.Load() {
				next = nil
			}
		}
		if next == nil {
			h.active--
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		// The slot passes to next. If next is closing, its Post fails: whoever takes the flag
		// back — this loop, or next's OnClose — passes the slot on.
		next.slot.Store(true)
		if next.c.Post(resumeHandshake) == nil || !next.slot.Swap(false) {
			return
		}
	}
}
