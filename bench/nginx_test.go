package bench

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestNGINXConfig: the configuration keeps nginx to one foreground process, writes nothing
// outside its directory, turns session resumption off and answers /plaintext; a temp path of a
// module the build leaves out is not named.
func TestNGINXConfig(t *testing.T) {
	dir := "/run-dir"
	cfg := nginxConfig(dir, "127.0.0.1:8443", "/c/cert.pem", "/c/key.pem", 2100, 2164, "configure arguments: --without-http_scgi_module")
	for _, want := range []string{
		"daemon off;", "master_process off;", "worker_processes 1;", "pid /run-dir/nginx.pid;",
		"worker_rlimit_nofile 2164;", "worker_connections 2100;", "access_log off;",
		"listen 127.0.0.1:8443 ssl;", "ssl_certificate /c/cert.pem;", "ssl_certificate_key /c/key.pem;",
		"ssl_protocols TLSv1.2 TLSv1.3;", "ssl_session_cache off;", "ssl_session_tickets off;", "ssl_conf_command NumTickets 0;",
		"keepalive_timeout 1h;", "location = /plaintext {", `return 200 "Hello, World!";`,
		"client_body_temp_path /run-dir/client_body;", "uwsgi_temp_path /run-dir/uwsgi;",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(cfg, "scgi_temp_path") {
		t.Errorf("config names scgi_temp_path for a build without the module:\n%s", cfg)
	}
	// Every path it names is the run's own (or the certificate's).
	for _, f := range strings.Fields(cfg) {
		if strings.HasPrefix(f, "/") && !strings.HasPrefix(f, dir+"/") && !strings.HasPrefix(f, "/c/") && f != "/plaintext" {
			t.Errorf("config names %s, outside its directory:\n%s", f, cfg)
		}
	}
}

// TestNGINXMissing: without nginx the --tls run says it skipped it, why and how to install it.
func TestNGINXMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	old := nginxSbin
	nginxSbin = filepath.Join(t.TempDir(), "nginx")
	defer func() { nginxSbin = old }()
	var log strings.Builder
	o := TLSOptions{Self: filepath.Join(t.TempDir(), "absent"), Tools: []string{ToolNGINX}, Rounds: 1, Duration: time.Millisecond}
	o.CertFile, o.KeyFile = writeTestCert(t)
	// nethttp-tls cannot start from an absent binary: the run fails after saying the skip.
	if _, err := RunTLS(context.Background(), o, &log); err == nil {
		t.Fatal("a run whose binary is absent did not fail")
	}
	want := "nginx skipped: nginx is not installed (not on PATH nor " + nginxSbin + "); bash scripts/install-bench-tools.sh installs it"
	if !strings.Contains(log.String(), want) {
		t.Errorf("progress %q; want %q", log.String(), want)
	}
}

// TestNGINXServes starts the nginx contender as the --tls bench does, makes a TLS
// GET /plaintext, checks that it issues no session ticket even to a client that asks, and
// stops it leaving no process or file behind.
func TestNGINXServes(t *testing.T) {
	if why := nginxMissing(); why != "" {
		t.Skip(why)
	}
	var o TLSOptions
	o.CertFile, o.KeyFile = writeTestCert(t)
	o.Idle, o.Conns, o.StallConns = 10, 2, 1
	ch, err := o.start(context.Background(), ToolNGINX, "http", 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := ch.cmd.Args[slices.Index(ch.cmd.Args, "-p")+1]
	stopped := false
	defer func() {
		if !stopped {
			ch.stop()
		}
	}()
	pem, err := os.ReadFile(o.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	// A session cache makes the client offer resumption (psk_key_exchange_modes), which the
	// bench's own client never does: even so, no ticket may come.
	cache := &ticketCount{}
	c, err := dialTLS(ch.addr, &tls.Config{RootCAs: roots, ServerName: "localhost", ClientSessionCache: cache})
	if err != nil {
		t.Fatalf("%v\nnginx: %s", err, ch.errs.String())
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for i := 0; i < 2; i++ {
		if _, err := c.Write(getPlaintext); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(body) != "Hello, World!" || resp.Header.Get("Content-Type") != "text/plain" {
			t.Fatalf("GET /plaintext: %d %q %q, %v; want 200 text/plain Hello, World!", resp.StatusCode, resp.Header.Get("Content-Type"), body, err)
		}
	}
	st := c.ConnectionState()
	t.Logf("nginx: %s, group %v", tls.VersionName(st.Version), st.CurveID)
	if cache.puts != 0 {
		t.Errorf("nginx issued %d session tickets; want none (every handshake a full one)", cache.puts)
	}
	c.Close()
	ch.stop()
	stopped = true
	// Reaped: the process is gone, not left running or as a zombie.
	if ch.cmd.ProcessState == nil {
		t.Errorf("nginx (pid %d) not reaped after stop", ch.pid())
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("its directory %s is left behind: %v", dir, err)
	}
}

// ticketCount is a session cache that counts the tickets it is given and resumes none.
type ticketCount struct{ puts int }

func (c *ticketCount) Get(string) (*tls.ClientSessionState, bool) { return nil, false }
func (c *ticketCount) Put(_ string, s *tls.ClientSessionState) {
	if s != nil {
		c.puts++
	}
}

// writeTestCert writes a self-signed ECDSA P-256 certificate for localhost into a temporary
// directory, as the bench makes one for its run.
func writeTestCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
