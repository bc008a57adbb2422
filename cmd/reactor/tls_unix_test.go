//go:build unix

package main

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeTLSFilesAndReload: the config file's tls keys serve echo over TLS with the
// certificate files, verified against them, and SIGHUP makes new handshakes use new files.
func TestServeTLSFilesAndReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, first := writeCert(t, dir)
	cfg := writeConfig(t, "backend: gnet\nproto: echo\naddr: 127.0.0.1:0\ntls:\n  cert: "+certFile+"\n  key: "+keyFile+"\n  handshake_timeout: 5s\n")
	addr, log := serveTLS(t, "--config", cfg)
	leaf := func(trusted tls.Certificate) (*x509.Certificate, error) {
		roots := x509.NewCertPool()
		roots.AddCert(trusted.Leaf)
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
		if err != nil {
			return nil, err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "ping")
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
			t.Errorf("echo over TLS: %q, %v", buf, err)
		}
		return c.ConnectionState().PeerCertificates[0], nil
	}
	if _, err := leaf(first); err != nil {
		t.Fatalf("verifying against the certificate file: %v", err)
	}
	_, _, second := writeCert(t, dir)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	reloaded := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !reloaded; time.Sleep(20 * time.Millisecond) {
		reloaded = strings.Contains(log(), "certificate reloaded")
	}
	if !reloaded {
		t.Fatalf("no reload logged after SIGHUP:\n%s", log())
	}
	if _, err := leaf(second); err != nil {
		t.Errorf("after SIGHUP, verifying against the new certificate: %v", err)
	}
}
