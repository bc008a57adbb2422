package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// scrape fetches url and returns the body, failing the test on an error or a non-200.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// sample returns the value of the series whose line starts with name (labels included), or
// -1 when it is not there.
func sample(exposition, series string) float64 {
	for _, line := range strings.Split(exposition, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			fmt.Sscan(rest, &v)
			return v
		}
	}
	return -1
}

// TestServeMetrics runs serve as a user would with --metrics-addr: known http traffic shows in
// /metrics with the counts it made; /healthz and /readyz answer, and /readyz turns 503 while a
// SIGTERM drain waits for a client that does not read.
func TestServeMetrics(t *testing.T) {
	cmd, addr, stderr := serveProcess(t, "--backend", "std", "--proto", "http", "--metrics-addr", "127.0.0.1:0", "--shutdown-timeout", "3s")
	m := regexp.MustCompile(`msg=metrics addr=(\S+)`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("serve did not say where its metrics are:\n%s", stderr.String())
	}
	base := "http://" + m[1]
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 10
	req := "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"
	fmt.Fprint(c, strings.Repeat(req, n)+"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
	r := bufio.NewReader(c)
	for i := 0; i <= n; i++ {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	labels := `{backend="std",proto="http"}`
	body := scrape(t, base+"/metrics")
	for series, want := range map[string]float64{
		`reactor_http_requests_total{backend="std",code="200",proto="http"}`: n,
		`reactor_http_requests_total{backend="std",code="404",proto="http"}`: 1,
		"reactor_connections_accepted_total" + labels:                        1,
		"reactor_connections_active" + labels:                                1,
		"reactor_received_bytes_total" + labels:                              float64(n*len(req) + len("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")),
		"reactor_http_request_duration_seconds_count" + labels:               n + 1,
	} {
		if got := sample(body, series); got != want {
			t.Errorf("%s = %v; want %v", series, got, want)
		}
	}
	for _, series := range []string{"go_goroutines ", "process_resident_memory_bytes ", "reactor_sent_bytes_total" + labels} {
		if !strings.Contains(body, series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
	if resp, err := http.Get(base + "/readyz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/readyz while serving: %v %v", resp, err)
	}

	// A client that asks for a large echo and never reads it holds the drain open.
	body2 := bytes.Repeat([]byte("x"), 512<<10)
	fmt.Fprintf(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(body2))
	c.Write(body2)
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	sawDraining := false
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && !sawDraining; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			break
		}
		resp.Body.Close()
		sawDraining = resp.StatusCode == http.StatusServiceUnavailable
	}
	if !sawDraining {
		t.Errorf("/readyz never answered 503 during the drain:\n%s", stderr.String())
	}
	waitExit(t, cmd, 10*time.Second)
}
