package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reactorlab/reactor/adapters"
)

// needTool returns the path of a tool a test drives. Where it is missing the test skips,
// saying so — or fails under CI=true, where scripts/test.sh has run
// scripts/install-test-tools.sh.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	why := fmt.Sprintf("%s is not installed (Debian package %s; bash scripts/install-test-tools.sh installs it)", name, pkg)
	if os.Getenv("CI") == "true" {
		t.Fatal(why + "; CI=true, so it must be there")
	}
	t.Skip(why)
	return ""
}

// tool runs name args… within limit and returns its standard output, failing the test on a
// non-zero exit.
func tool(t *testing.T, limit time.Duration, stdin io.Reader, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = stdin
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

// sClient is an openssl s_client session: lines in, lines out, ended with the test.
type sClient struct {
	in  io.WriteCloser
	out *bufio.Reader
}

func startSClient(t *testing.T, addr, caFile string) *sClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	cmd := exec.CommandContext(ctx, "openssl", "s_client", "-quiet", "-verify_return_error", "-CAfile", caFile, "-connect", addr)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		cancel()
		cmd.Wait()
	})
	return &sClient{in: in, out: bufio.NewReader(out)}
}

// expect reads lines until one contains want.
func (s *sClient) expect(t *testing.T, want string) {
	t.Helper()
	var seen []string
	for {
		line, err := s.out.ReadString('\n')
		if strings.Contains(line, want) {
			return
		}
		seen = append(seen, line)
		if err != nil {
			t.Fatalf("openssl s_client: no line with %q before %v; saw %q", want, err, seen)
		}
	}
}

var (
	wrkRequests  = regexp.MustCompile(`(\d+) requests in`)
	h2loadStatus = regexp.MustCompile(`requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored`)
)

// TestTLSRealClients serves http, echo and chat over TLS on every backend and has real clients
// use them: curl with --cacert (and -k against --tls-self-signed) for /plaintext, /json and a
// 10 MiB /echo; openssl s_client for echo and chat; wrk and h2load --h1 with zero errors;
// headless Chromium showing /plaintext.
func TestTLSRealClients(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	needTool(t, "openssl", "openssl")
	wrk := needTool(t, "wrk", "wrk")
	h2load := needTool(t, "h2load", "nghttp2-client")
	chromium := needTool(t, "chromium", "chromium")

	dir := t.TempDir()
	certFile, keyFile, _ := writeCert(t, dir)
	body := make([]byte, 10<<20)
	rand.Read(body)
	bodyFile := filepath.Join(dir, "body")
	if err := os.WriteFile(bodyFile, body, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, info := range adapters.Registry().Infos() {
		t.Run(info.Name, func(t *testing.T) {
			if !info.Available {
				t.Skipf("backend %s is not available here: %s", info.Name, info.Reason)
			}
			tlsFiles := []string{"--tls-cert", certFile, "--tls-key", keyFile}
			httpAddr, _ := serveTLS(t, append([]string{"--backend", info.Name, "--proto", "http", "--addr", "127.0.0.1:0", "--http-max-body", "16MiB"}, tlsFiles...)...)
			base := "https://" + httpAddr

			t.Run("curl", func(t *testing.T) {
				if got := tool(t, 30*time.Second, nil, curl, "-sS", "--cacert", certFile, base+"/plaintext"); got != "Hello, World!" {
					t.Errorf("curl --cacert /plaintext: %q", got)
				}
				if got := tool(t, 30*time.Second, nil, curl, "-sS", "--cacert", certFile, base+"/json"); got != `{"message":"Hello, World!"}` {
					t.Errorf("curl --cacert /json: %q", got)
				}
				got := tool(t, 60*time.Second, nil, curl, "-sS", "--cacert", certFile, "--data-binary", "@"+bodyFile, "-H", "Content-Type: application/octet-stream", base+"/echo")
				if !bytes.Equal([]byte(got), body) {
					t.Errorf("curl 10 MiB /echo: %d bytes back, not those sent; want the 10 MiB sent", len(got))
				}
				selfAddr, _ := serveTLS(t, "--backend", info.Name, "--proto", "http", "--addr", "127.0.0.1:0", "--tls-self-signed")
				if got := tool(t, 30*time.Second, nil, curl, "-sSk", "https://"+selfAddr+"/plaintext"); got != "Hello, World!" {
					t.Errorf("curl -k /plaintext (self-signed): %q", got)
				}
			})

			t.Run("openssl", func(t *testing.T) {
				echoAddr, _ := serveTLS(t, append([]string{"--backend", info.Name, "--proto", "echo", "--addr", "127.0.0.1:0"}, tlsFiles...)...)
				e := startSClient(t, echoAddr, certFile)
				io.WriteString(e.in, "hello over tls\n")
				e.expect(t, "hello over tls")

				chatAddr, _ := serveTLS(t, append([]string{"--backend", info.Name, "--proto", "chat", "--addr", "127.0.0.1:0"}, tlsFiles...)...)
				alice, bob := startSClient(t, chatAddr, certFile), startSClient(t, chatAddr, certFile)
				io.WriteString(alice.in, "NAME: alice\n")
				alice.expect(t, "CLIENT:")
				io.WriteString(bob.in, "NAME: bob\n")
				bob.expect(t, "CLIENT:")
				alice.expect(t, "bob joined")
				io.WriteString(alice.in, "hi bob, over tls\n")
				bob.expect(t, "hi bob, over tls")
			})

			t.Run("wrk", func(t *testing.T) {
				out := tool(t, 30*time.Second, nil, wrk, "-t1", "-c8", "-d1s", base+"/plaintext")
				m := wrkRequests.FindStringSubmatch(out)
				if m == nil || m[1] == "0" || strings.Contains(out, "Socket errors") || strings.Contains(out, "Non-2xx") {
					t.Errorf("wrk over https: want requests and no errors:\n%s", out)
				}
			})

			t.Run("h2load", func(t *testing.T) {
				out := tool(t, 60*time.Second, nil, h2load, "--h1", "-n", "2000", "-c", "8", base+"/plaintext")
				m := h2loadStatus.FindStringSubmatch(out)
				if m == nil || m[1] != "2000" || m[2] != "2000" || m[3] != "0" || m[4] != "0" {
					t.Errorf("h2load --h1 over https: want 2000 succeeded, none failed or errored:\n%s", out)
				}
			})

			t.Run("chromium", func(t *testing.T) {
				profile := t.TempDir()
				out := tool(t, 90*time.Second, nil, chromium, "--headless", "--no-sandbox", "--disable-gpu",
					"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
					"--user-data-dir="+profile, "--ignore-certificate-errors", "--dump-dom", base+"/plaintext")
				if !strings.Contains(out, "Hello, World!") {
					t.Errorf("headless Chromium's DOM of /plaintext over https lacks Hello, World!:\n%s", out)
				}
			})
		})
	}
}
