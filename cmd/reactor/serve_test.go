package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/reactorlab/reactor/adapters"
	"github.com/reactorlab/reactor/reactor"
)

// lockedBuffer collects output written from several goroutines (the serve loop and loggers).
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var servingLine = regexp.MustCompile(`msg=serving proto=(\w+) addr=(\S+) backend=(\w+)`)

// startServe runs `reactor serve args…` in-process until the test ends and returns the protocol,
// address and backend it reports.
func startServe(t *testing.T, args ...string) (proto, addr, backend string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	exited := make(chan int, 1)
	go func() { exited <- run(ctx, append([]string{"serve"}, args...), nil, io.Discard, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-exited:
			if code != 0 {
				t.Errorf("serve exited %d after its context ended; want 0\n%s", code, stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Errorf("serve still running 15s after its context ended")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := servingLine.FindStringSubmatch(stderr.String()); m != nil {
			return m[1], m[2], m[3]
		}
		select {
		case code := <-exited:
			t.Fatalf("serve exited %d before serving:\n%s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("serve did not report serving within 10s:\n%s", stderr.String())
	return
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "reactor.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestServeHonoursConfigFile(t *testing.T) {
	cfg := writeConfig(t, "backend: std\nproto: echo\naddr: 127.0.0.1:0\nmax_outbound: 2MiB\n")
	proto, addr, backend := startServe(t, "--config", cfg)
	if proto != "echo" || backend != "std" {
		t.Fatalf("serving %s on %s; want echo on std from the file", proto, backend)
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "ping\n")
	if line, err := bufio.NewReader(c).ReadString('\n'); line != "ping\n" {
		t.Fatalf("echo server answered %q, %v; want the line back", line, err)
	}
}

func TestServeFlagBeatsConfigFile(t *testing.T) {
	cfg := writeConfig(t, "backend: std\nproto: echo\naddr: 127.0.0.1:1\n")
	proto, addr, _ := startServe(t, "--config", cfg, "--proto", "http", "--addr", "127.0.0.1:0")
	if proto != "http" {
		t.Fatalf("serving %s; want http from the flag", proto)
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
	if status, _ := bufio.NewReader(c).ReadString('\n'); status != "HTTP/1.1 200 OK\r\n" {
		t.Fatalf("status line %q; want HTTP/1.1 200 OK", status)
	}
}

func TestServeRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string // substrings of stderr
	}{
		{"unknown backend", []string{"--backend", "nope"}, []string{`unknown backend "nope"`, "std"}},
		{"unknown backend in file", []string{"--config", "FILE:backend: nope\n"}, []string{`unknown backend "nope"`, "valid:"}},
		{"unknown protocol", []string{"--proto", "gopher"}, []string{`unknown protocol "gopher"`, "chat, discard, echo, http"}},
		{"unknown config key", []string{"--config", "FILE:backend: std\nprot: http\n"}, []string{`line 2: unknown key "prot" (valid: addr, backend,`}},
		{"unknown nested config key", []string{"--config", "FILE:http:\n  max_bdy: 1\n"}, []string{`line 2: unknown key "http.max_bdy" (valid: access_log, access_log_per_second, body_timeout,`}},
		{"negative loops", []string{"--loops", "-1"}, []string{"loops (--loops) is negative"}},
		{"negative loops in file", []string{"--config", "FILE:loops: -2\n"}, []string{"loops (--loops) is negative"}},
		{"negative max_name", []string{"--config", "FILE:chat:\n  max_name: -1\n"}, []string{"chat.max_name is negative"}},
		{"negative shutdown timeout", []string{"--shutdown-timeout", "-1s"}, []string{"shutdown_timeout (--shutdown-timeout) is negative"}},
		{"zero procs", []string{"--procs", "0"}, []string{"procs (--procs) is 0"}},
		{"outbound too small for http", []string{"--config", "FILE:proto: http\nmax_outbound: 1MiB\nhttp:\n  max_body: 1MiB\n"}, []string{"max_outbound (--max-outbound) is 1048576 bytes, less than", "http.max_body 1048576"}},
		{"inbound too small for http", []string{"--proto", "http", "--max-inbound", "64KiB"}, []string{"max_inbound (--max-inbound) is 65536 bytes"}},
		{"missing config file", []string{"--config", filepath.Join(t.TempDir(), "none.yaml")}, []string{"no such file"}},
		{"bad size", []string{"--max-outbound", "lots"}, []string{"invalid size"}},
		{"unsupported option", []string{"--backend", "std", "--edge", "--addr", "127.0.0.1:0"}, []string{"not supported"}},
		{"proxy without upstream", []string{"--proto", "proxy"}, []string{"--proto proxy needs --upstream host:port"}},
		{"proxy with empty upstream in file", []string{"--config", "FILE:proto: proxy\nproxy:\n  upstream: \"\"\n"}, []string{"needs --upstream", "proxy.upstream"}},
		{"malformed upstream", []string{"--proto", "proxy", "--upstream", "127.0.0.1"}, []string{`--upstream (proxy.upstream): proxy: upstream "127.0.0.1": want host:port`}},
		{"malformed upstream in list", []string{"--proto", "proxy", "--upstream", "127.0.0.1:7000,h:0"}, []string{`upstream "h:0": port "0" is not a number from 1 to 65535`}},
		{"upstream for another protocol", []string{"--proto", "echo", "--upstream", "127.0.0.1:7000"}, []string{"--upstream is for --proto proxy; the protocol is echo"}},
		{"high water under the low-water mark", []string{"--proto", "proxy", "--upstream", "127.0.0.1:7000", "--proxy-high-water", "1KiB"}, []string{"proxy.high_water (--proxy-high-water): proxy: high-water mark 1024 must lie between"}},
		{"unknown chat wire", []string{"--proto", "chat", "--chat-wire", "pickle"}, []string{`chat.wire (--chat-wire): unknown wire "pickle" (want lines or classic)`}},
		{"unknown chat wire in file", []string{"--config", "FILE:proto: chat\nchat:\n  wire: nc\n"}, []string{`chat.wire (--chat-wire): unknown wire "nc"`}},
		{"chat wire for another protocol", []string{"--proto", "echo", "--chat-wire", "classic"}, []string{"--chat-wire is for --proto chat; the protocol is echo"}},
		{"unknown echo tag", []string{"--proto", "echo", "--echo-tag", "tid"}, []string{`echo.tag (--echo-tag): unknown tag "tid" (want none, pid, thread or loop)`}},
		{"echo tag for another protocol", []string{"--proto", "discard", "--echo-tag", "pid"}, []string{"--echo-tag is for --proto echo; the protocol is discard"}},
		{"negative dial timeout", []string{"--dial-timeout", "-1s"}, []string{"dial_timeout (--dial-timeout) is negative"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve"}, tc.args...)
			for i, a := range args {
				if text, ok := strings.CutPrefix(a, "FILE:"); ok {
					args[i] = writeConfig(t, text)
				}
			}
			var stderr lockedBuffer
			code := run(context.Background(), args, nil, io.Discard, &stderr)
			if code == 0 {
				t.Fatalf("exit 0; want non-zero")
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

func TestBackendsListsStd(t *testing.T) {
	var out, errOut lockedBuffer
	if code := run(context.Background(), []string{"backends"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("backends exited %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "std") || !strings.Contains(out.String(), "goroutine per connection") {
		t.Fatalf("backends output lacks the std backend and its model:\n%s", out.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if n := utf8.RuneCountInString(line); n > 100 {
			t.Errorf("line of %d columns; want at most 100:\n%s", n, line)
		}
	}
	out = lockedBuffer{}
	if code := run(context.Background(), []string{"backends", "--json"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("backends --json: exit %d, %s", code, errOut.String())
	}
	var descs []map[string]any
	if err := json.Unmarshal([]byte(out.String()), &descs); err != nil {
		t.Fatalf("backends --json: %v\n%s", err, out.String())
	}
	for _, d := range descs {
		for k := range d {
			if k != strings.ToLower(k) {
				t.Errorf("JSON key %q; want lower case", k)
			}
		}
		if _, ok := d["unsupported"].([]any); !ok {
			t.Errorf("%v: unsupported is %#v; want an array, [] when empty", d["name"], d["unsupported"])
		}
		if d["name"] == "std" && !slices.Contains(d["unsupported"].([]any), any("--edge")) {
			t.Errorf("std: unsupported %v; want the flag --edge", d["unsupported"])
		}
	}
}

func TestBackendsNamesOneAndExplainsUnavailable(t *testing.T) {
	var out, errOut lockedBuffer
	if code := run(context.Background(), []string{"backends", "std"}, nil, &out, &errOut); code != 0 || !strings.Contains(out.String(), "progression:") {
		t.Errorf("backends std: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if code := run(context.Background(), []string{"backends", "nope"}, nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), `unknown backend "nope"`) {
		t.Errorf("backends nope: exit %d, %s; want 2 and the valid names", code, errOut.String())
	}
	// How a backend that does not run here reads, as on macOS.
	d := describe(reactor.Info{Name: "epoll", Reason: "needs Linux", Unsupported: []string{"EdgeTriggered", "ReadBufferSize", "PauseRead with EdgeTriggered", "Dial"}})
	if d.here() != "no: needs Linux" || d.unsupported() != "--edge, --read-buffer, PauseRead with --edge, Dial" {
		t.Errorf("here %q, unsupported %q; want the reason and flag names", d.here(), d.unsupported())
	}
}

func TestServeExampleConfig(t *testing.T) {
	// The example file shipped in the repository must load as it stands.
	proto, _, backend := startServe(t, "--config", filepath.Join("..", "..", "reactor.example.yaml"), "--addr", "127.0.0.1:0")
	if want := defaultBackend(adapters.Registry()); proto != "http" || backend != want {
		t.Fatalf("example config serves %s on %s; want http on %s, the defaults", proto, backend, want)
	}
}

func TestServeHTTPTakesBodiesUpToItsLimit(t *testing.T) {
	// With the defaults, a body just under http's 1 MiB limit is echoed, not cut off by the
	// backend's own inbound bound.
	_, addr, _ := startServe(t, "--backend", "std", "--proto", "http", "--addr", "127.0.0.1:0")
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	body := strings.Repeat("b", 1<<20-1)
	go io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1048575\r\n\r\n"+body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || len(got) != len(body) || err != nil {
		t.Fatalf("POST /echo of %d bytes: %d, %d bytes back, %v; want 200 and the body", len(body), resp.StatusCode, len(got), err)
	}
}

// TestServeEveryBackendFromConfigFile: each backend that runs here, chosen in the config file,
// serves HTTP as the README says.
func TestServeEveryBackendFromConfigFile(t *testing.T) {
	for _, info := range adapters.Registry().Infos() {
		if !info.Available {
			continue
		}
		t.Run(info.Name, func(t *testing.T) {
			cfg := writeConfig(t, "backend: "+info.Name+"\nproto: http\naddr: 127.0.0.1:0\nloops: 1\n")
			_, addr, backend := startServe(t, "--config", cfg)
			if backend != info.Name {
				t.Fatalf("serving with %s; want %s from the file", backend, info.Name)
			}
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != "Hello, World!" {
				t.Fatalf("%d %q; want 200 Hello, World!", resp.StatusCode, body)
			}
		})
	}
}

func TestServeLogFormatJSON(t *testing.T) {
	// Serve's own lines go through the same logger as the backend's: with --log-format json
	// every line is a JSON record, the start and the counts included.
	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"serve", "--backend", "std", "--proto", "echo", "--addr", "127.0.0.1:0", "--log-format", "json"}, nil, io.Discard, &stderr)
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stderr.String(), `"msg":"serving"`) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-exited; code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var rec struct{ Msg, Addr string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		msgs = append(msgs, rec.Msg)
	}
	if !slices.Contains(msgs, "serving") {
		t.Errorf("messages %q; want serving", msgs)
	}
	var out lockedBuffer
	if code := run(context.Background(), []string{"serve", "--log-format", "xml"}, nil, io.Discard, &out); code != 2 || !strings.Contains(out.String(), `invalid log format "xml" (want text or json)`) {
		t.Errorf("--log-format xml: exit %d, %s; want 2 and the valid formats", code, out.String())
	}
}

// TestCheckProxyRefusesBackendsThatCannot: a backend that lists a contract point the proxy
// needs, unconditionally or under an option that is set, is refused before serving.
func TestCheckProxyRefusesBackendsThatCannot(t *testing.T) {
	s := defaultSettings("x")
	s.Proto, s.Proxy.Upstream = "proxy", "127.0.0.1:7000"
	for _, tc := range []struct {
		unsupported []string
		edge        bool
		want        string // in the error, "" for none
	}{
		{nil, false, ""},
		{[]string{"EdgeTriggered"}, false, ""},
		{[]string{"EdgeTriggered", "CloseWrite", "Dial"}, false, "backend x cannot serve proxy: it does not support CloseWrite"},
		{[]string{"Dial"}, false, "does not support Dial"},
		{[]string{"PauseRead with EdgeTriggered"}, false, ""},
		{[]string{"PauseRead with EdgeTriggered"}, true, "does not support PauseRead with EdgeTriggered"},
		{[]string{"PauseRead while input streams"}, false, "does not support PauseRead while input streams"},
	} {
		s.EdgeTriggered = tc.edge
		err := checkProxy(s, reactor.Info{Name: "x", Unsupported: tc.unsupported}, false)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("unsupported %q, edge %v: %v; want %q", tc.unsupported, tc.edge, err, tc.want)
		}
	}
}

// TestServeProxy: on every backend that can dial, `serve --proto proxy` relays to an echo
// server, and relays the client's half-close: the reply, then the end of stream.
func TestServeProxy(t *testing.T) {
	_, echoAddr, _ := startServe(t, "--backend", "std", "--proto", "echo", "--addr", "127.0.0.1:0")
	for _, info := range adapters.Registry().Infos() {
		t.Run(info.Name, func(t *testing.T) {
			if !info.Available {
				t.Skipf("%s is not available here", info.Name)
			}
			if u := proxyLacks(info, false, false); u != "" {
				// Refused, saying why, rather than served badly.
				var stderr strings.Builder
				code := run(context.Background(), []string{"serve", "--backend", info.Name, "--proto", "proxy", "--upstream", echoAddr, "--addr", "127.0.0.1:0"}, nil, io.Discard, &stderr)
				if code != 2 || !strings.Contains(stderr.String(), "cannot serve proxy") || !strings.Contains(stderr.String(), u) {
					t.Errorf("serve --proto proxy on %s (which lacks %s): exit %d, %q; want 2 and the reason", info.Name, u, code, stderr.String())
				}
				return
			}
			_, addr, _ := startServe(t, "--backend", info.Name, "--proto", "proxy", "--upstream", echoAddr, "--addr", "127.0.0.1:0")
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, "ping\n")
			c.(*net.TCPConn).CloseWrite()
			got, err := io.ReadAll(c)
			if string(got) != "ping\n" || err != nil {
				t.Fatalf("through the proxy: %q, %v; want %q and a clean end of stream", got, err, "ping\n")
			}
		})
	}
}
