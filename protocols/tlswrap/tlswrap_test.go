package tlswrap_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/rand"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/reactorlab/reactor/adapters"
	"github.com/reactorlab/reactor/adapters/stdnet"
	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/protocols/http1"
	"github.com/reactorlab/reactor/protocols/tlswrap"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

var (
	certOnce sync.Once
	cert     tls.Certificate
	roots    *x509.CertPool
)

// testCert is one self-signed certificate for the whole run, and a pool that trusts it.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	certOnce.Do(func() {
		var err error
		cert, err = tlswrap.SelfSigned()
		if err != nil {
			panic(err)
		}
		roots = x509.NewCertPool()
		roots.AddCert(cert.Leaf)
	})
	return cert, roots
}

func wrap(t testing.TB, inner reactor.Handler, cfg tlswrap.Config, protos ...string) *tlswrap.Handler {
	t.Helper()
	c, _ := testCert(t)
	if cfg.TLS == nil {
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{c}, NextProtos: protos}
	}
	h, err := tlswrap.New(inner, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func clientConfig(t testing.TB, protos ...string) *tls.Config {
	_, r := testCert(t)
	return &tls.Config{RootCAs: r, ServerName: "localhost", NextProtos: protos}
}

func dialTLS(t testing.TB, addr string, cfg *tls.Config) *tls.Conn {
	t.Helper()
	raw := reactortest.Dial(t, addr)
	c := tls.Client(raw, cfg)
	if err := c.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return c
}

// TestEchoAndHTTP runs echo and http over TLS 1.2 and 1.3 on every backend.
func TestEchoAndHTTP(t *testing.T) {
	reactortest.ForEachBackend(t, adapters.Registry(), func(t *testing.T, newBackend reactor.Constructor) {
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			h := wrap(t, echo.Handler{}, tlswrap.Config{})
			b, addr := reactortest.Start(t, newBackend, reactor.Config{Loops: 2}, h)
			cc := clientConfig(t)
			cc.MaxVersion = v
			c := dialTLS(t, addr, cc)
			if got := c.ConnectionState().Version; got != v {
				t.Errorf("version %x; want %x", got, v)
			}
			data := make([]byte, 300<<10)
			rand.New(rand.NewSource(1)).Read(data)
			go c.Write(data)
			got := make([]byte, len(data))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatalf("echo: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("echo differs")
			}
			c.Close()
			reactortest.Stop(t, b)
			if ok, failed := h.Handshakes(); ok != 1 || failed != 0 {
				t.Errorf("handshakes ok %d failed %d; want 1, 0", ok, failed)
			}
		}
		hh := http1.New(http1.Config{})
		defer hh.Close()
		_, addr := reactortest.Start(t, newBackend, reactor.Config{Loops: 2}, wrap(t, hh, tlswrap.Config{}, "http/1.1"))
		c := dialTLS(t, addr, clientConfig(t, "http/1.1"))
		if p := c.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
			t.Errorf("ALPN %q; want http/1.1", p)
		}
		br := bufio.NewReader(c)
		for i := 0; i < 3; i++ {
			c.Write([]byte("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != "Hello, World!" {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
	})
}

// TestState: the inner handler sees the negotiated state — version, ALPN, server name — from
// its OnOpen, and State refuses a Conn it did not make.
func TestState(t *testing.T) {
	rec := stateRecorder{got: make(chan tls.ConnectionState, 1)}
	_, addr := reactortest.Start(t, stdnetNew, reactor.Config{}, wrap(t, rec, tlswrap.Config{}, "http/1.1"))
	cc := clientConfig(t, "http/1.1")
	cc.MaxVersion = tls.VersionTLS12
	dialTLS(t, addr, cc)
	select {
	case st := <-rec.got:
		if st.Version != tls.VersionTLS12 || st.NegotiatedProtocol != "http/1.1" || st.ServerName != "localhost" || !st.HandshakeComplete {
			t.Errorf("State at OnOpen: version %x, ALPN %q, name %q, complete %v; want TLS 1.2, http/1.1, localhost, true",
				st.Version, st.NegotiatedProtocol, st.ServerName, st.HandshakeComplete)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the inner handler's OnOpen never saw a TLS state")
	}
	if _, ok := tlswrap.State(nil); ok {
		t.Error("State(nil) reported a TLS connection")
	}
}

var stdnetNew reactor.Constructor = stdnet.New
