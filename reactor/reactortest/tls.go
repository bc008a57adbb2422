package reactortest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/tlswrap"
	"github.com/reactorlab/reactor/reactor"
)

// OverTLS tells Run to run the scenarios that speak a protocol end to end — echo, http, chat,
// the proxy, and the contract points a handler sees (order, Post, timers, half-closes, close,
// shutdown) — once more over TLS: every handler under test is wrapped with tlswrap, and every
// client the scenarios dial reaches it through Go's crypto/tls client, the referee. The
// scenarios themselves are unchanged: they dial a plain-TCP relay of the test's own, which
// speaks TLS to the server, passing on half-closes as close_notify and end of stream, and
// resets as resets. Scenarios about the socket itself (descriptor limits, shared ports, slow
// peers, exact buffer bounds) are left out, since the relay stands between.
func OverTLS() Option { return func(s *suite) { s.tls = newTLSRig() } }

// tlsScenarios are the scenarios OverTLS runs.
var tlsScenarios = map[string]bool{
	"Lifecycle": true, "EchoBulk": true, "AsyncWriteOrder": true, "WriteOrder": true, "Post": true,
	"AfterFunc": true, "CloseFlushes": true, "AsyncWriteThenClose": true, "HandlerPanic": true,
	"HTTP": true, "BadHTTP": true, "HTTPTenThousandPipelined": true, "HTTPFaults": true,
	"HalfClose": true, "HalfCloser": true, "Proxy": true, "Chat": true, "ChatChurn": true,
	"Shutdown": true,
}

// tlsRig is OverTLS's certificate and client configuration.
type tlsRig struct {
	server *tls.Config
	client *tls.Config
}

func newTLSRig() *tlsRig {
	cert, err := tlswrap.SelfSigned()
	if err != nil {
		panic("reactortest: making a certificate: " + err.Error())
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	return &tlsRig{
		server: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}},
		client: &tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: []string{"http/1.1"}},
	}
}

// wrap serves h over TLS with cfg's bounds.
func (r *tlsRig) wrap(t *testing.T, cfg reactor.Config, h reactor.Handler) reactor.Handler {
	t.Helper()
	w, err := tlswrap.New(h, tlswrap.Config{TLS: r.server, MaxInbound: cfg.MaxInbound})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// tlsRelay accepts plain TCP and relays each connection over TLS to target. It stops, its
// connections closed and its goroutines waited for, when the test ends.
type tlsRelay struct {
	ln     net.Listener
	target string
	cfg    *tls.Config
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
	accept chan struct{} // closed when the accepting goroutine has returned
}

func startTLSRelay(t *testing.T, target string, cfg *tls.Config) *tlsRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &tlsRelay{ln: ln, target: target, cfg: cfg, conns: map[net.Conn]bool{}, accept: make(chan struct{})}
	go func() {
		// Ends when the listener is closed.
		defer close(r.accept)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Add(1)
			go func() {
				// Ends when both directions have ended; every connection is closed by then.
				defer r.wg.Done()
				r.relay(c.(*net.TCPConn))
			}()
		}
	}()
	t.Cleanup(r.close)
	return r
}

func (r *tlsRelay) track(c net.Conn, on bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if on && r.closed {
		return false
	}
	if on {
		r.conns[c] = true
	} else {
		delete(r.conns, c)
	}
	return true
}

// stopAccepting closes the listener; the connections relayed go on until they end.
func (r *tlsRelay) stopAccepting() {
	r.ln.Close()
	<-r.accept
}

func (r *tlsRelay) close() {
	r.stopAccepting()
	r.mu.Lock()
	r.closed = true
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// relay connects plain to the server over TLS and copies both ways. A FIN from plain becomes a
// close_notify and a FIN; the server's end of stream becomes a FIN to plain; an error either
// way (a reset, a bad record) resets the other side.
func (r *tlsRelay) relay(plain *net.TCPConn) {
	if !r.track(plain, true) {
		plain.Close()
		return
	}
	defer func() { r.track(plain, false); plain.Close() }()
	raw, err := net.DialTimeout("tcp", r.target, ioTimeout)
	if err != nil {
		plain.SetLinger(0)
		return
	}
	rawTCP := raw.(*net.TCPConn)
	// Small socket buffers, so that the relay adds little to what the kernel holds between
	// the server and the client: a server that must notice a peer not reading (chat drops a
	// silent member past its mark) notices as soon as it would without the relay.
	rawTCP.SetReadBuffer(64 << 10)
	plain.SetWriteBuffer(64 << 10)
	if !r.track(raw, true) {
		raw.Close()
		return
	}
	defer func() { r.track(raw, false); raw.Close() }()
	tc := tls.Client(raw, r.cfg)
	raw.SetDeadline(time.Now().Add(ioTimeout))
	if err := tc.Handshake(); err != nil {
		plain.SetLinger(0)
		return
	}
	raw.SetDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		// Ends at the server's end of stream, or an error: then plain hears of it.
		defer close(done)
		if _, err := copyBuf(plain, tc); err != nil {
			plain.SetLinger(0)
			plain.Close()
			rawTCP.SetLinger(0)
			raw.Close()
			return
		}
		plain.CloseWrite()
	}()
	if _, err := copyBuf(tc, plain); err != nil {
		// plain was reset (or closed under us): so is the server's side.
		rawTCP.SetLinger(0)
		raw.Close()
	} else {
		tc.CloseWrite()
	}
	<-done
}

// copyBuf copies src to dst until src's end of stream (nil) or an error, with a buffer of its
// own: io.Copy between TCP connections splices through pipes, whose pooled descriptors would
// count as left behind.
func copyBuf(dst io.Writer, src io.Reader) (int64, error) {
	buf := make([]byte, 32<<10)
	var total int64
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
		}
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// tlsHeap is what TLS may add to the heap of this process while one side of a proxy floods
// and the other does not read: the server's wrapper holds up to a read's worth of ciphertext in
// crypto/tls's input buffer and of plaintext not yet relayed, and a record being sealed; the
// relay, in this process too, holds its two copy buffers and its own crypto/tls client's
// buffers.
func (s *suite) tlsHeap() int64 {
	if s.tls == nil {
		return 0
	}
	const server = 2*64<<10 + 16<<10
	const relay = 2*32<<10 + 2*(16<<10+5+256)
	return 2 * (server + relay)
}
