package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/tlswrap"
)

// serveTLS runs `reactor serve args…` in-process until the test ends and returns the address it
// serves and its log so far (a function, since the log grows).
func serveTLS(t *testing.T, args ...string) (addr string, log func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	exited := make(chan int, 1)
	go func() { exited <- run(ctx, append([]string{"serve"}, args...), nil, io.Discard, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			t.Errorf("serve still running 15s after its context ended")
		}
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if m := servingLine.FindStringSubmatch(stderr.String()); m != nil {
			return m[2], stderr.String
		}
		select {
		case code := <-exited:
			t.Fatalf("serve exited %d before serving:\n%s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not report serving within 10s:\n%s", stderr.String())
	return "", nil
}

var fingerprintLine = regexp.MustCompile(`sha256=([0-9A-F:]{95})`)

// TestServeTLSSelfSigned: --tls-self-signed serves http over TLS with ALPN http/1.1 and the
// certificate whose fingerprint it logged; plain HTTP to the port gets a 400.
func TestServeTLSSelfSigned(t *testing.T) {
	addr, log := serveTLS(t, "--backend", "epoll", "--proto", "http", "--tls-self-signed", "--addr", "127.0.0.1:0")
	m := fingerprintLine.FindStringSubmatch(log())
	if m == nil {
		t.Fatalf("no sha256 fingerprint in the log:\n%s", log())
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	st := c.ConnectionState()
	if got := tlswrap.Fingerprint(st.PeerCertificates[0].Raw); got != m[1] {
		t.Errorf("served certificate %s; want the one logged, %s", got, m[1])
	}
	if st.NegotiatedProtocol != "http/1.1" {
		t.Errorf("ALPN %q; want http/1.1", st.NegotiatedProtocol)
	}
	if _, ok := st.PeerCertificates[0].PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("certificate key %T; want ECDSA", st.PeerCertificates[0].PublicKey)
	}
	io.WriteString(c, "GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != `{"message":"Hello, World!"}` {
		t.Errorf("GET /json over TLS: %d %q", resp.StatusCode, body)
	}

	plain, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	plain.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(plain, "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err = http.ReadResponse(bufio.NewReader(plain), nil)
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("plain HTTP to the TLS port: %v, %v; want a 400", resp, err)
	}
}

// writeCert writes a new self-signed certificate and its key as PEM files in dir.
func writeCert(t *testing.T, dir string) (certFile, keyFile string, cert tls.Certificate) {
	t.Helper()
	cert, err := tlswrap.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// TestServeTLSRefusals: TLS settings that cannot work are refused with exit status 2, saying
// which.
func TestServeTLSRefusals(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := writeCert(t, dir)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", certFile}, "give both"},
		{[]string{"--tls-self-signed", "--tls-cert", certFile, "--tls-key", keyFile}, "exclude each other"},
		{[]string{"--tls-self-signed", "--procs", "2"}, "each worker would make a certificate of its own"},
		{[]string{"--tls-cert", filepath.Join(dir, "missing.pem"), "--tls-key", keyFile}, "no such file"},
		{[]string{"--tls-cert", keyFile, "--tls-key", certFile}, "tls:"},
	} {
		var stderr strings.Builder
		code := run(context.Background(), append([]string{"serve", "--addr", "127.0.0.1:0"}, tc.args...), nil, io.Discard, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("serve %v: exit %d, %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}
