package metrics

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/reactorlab/reactor/protocols/chat"
	"github.com/reactorlab/reactor/protocols/http1"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/conntest"
)

func TestStatsCollectorExportsEveryCounter(t *testing.T) {
	s := new(reactor.Stats)
	sh := s.Shard(0)
	for range 3 {
		sh.Accepted()
	}
	sh.Dialed()
	sh.DialFailed()
	sh.Closed(io.EOF, 5*time.Millisecond)
	sh.Closed(reactor.ErrServerClosed, 2*time.Second)
	sh.Received(1000)
	sh.Sent(700)
	sh.Buffer(300)
	sh.AcceptError()
	sh.HandlerPanic()
	c := NewStatsCollector(s, "epoll", "echo")
	want := `
# HELP reactor_connections_active Connections open: accepted and dialed, less those closed.
# TYPE reactor_connections_active gauge
reactor_connections_active{backend="epoll",proto="echo"} 2
# HELP reactor_connections_closed_total Connections closed, by the cause their handler was given.
# TYPE reactor_connections_closed_total counter
reactor_connections_closed_total{backend="epoll",cause="eof",proto="echo"} 1
reactor_connections_closed_total{backend="epoll",cause="error",proto="echo"} 0
reactor_connections_closed_total{backend="epoll",cause="handler_panic",proto="echo"} 0
reactor_connections_closed_total{backend="epoll",cause="inbound_full",proto="echo"} 0
reactor_connections_closed_total{backend="epoll",cause="local",proto="echo"} 0
reactor_connections_closed_total{backend="epoll",cause="outbound_full",proto="echo"} 0
reactor_connections_closed_total{backend="epoll",cause="reset",proto="echo"} 0
reactor_connections_closed_total{backend="epoll",cause="server_closed",proto="echo"} 1
reactor_connections_closed_total{backend="epoll",cause="timeout",proto="echo"} 0
# HELP reactor_connection_duration_seconds How long connections lived, from accept (or connect) to close.
# TYPE reactor_connection_duration_seconds histogram
reactor_connection_duration_seconds_bucket{backend="epoll",proto="echo",le="0.001"} 0
reactor_connection_duration_seconds_bucket{backend="epoll",proto="echo",le="0.01"} 1
reactor_connection_duration_seconds_bucket{backend="epoll",proto="echo",le="0.1"} 1
reactor_connection_duration_seconds_bucket{backend="epoll",proto="echo",le="1"} 1
reactor_connection_duration_seconds_bucket{backend="epoll",proto="echo",le="10"} 2
reactor_connection_duration_seconds_bucket{backend="epoll",proto="echo",le="60"} 2
reactor_connection_duration_seconds_bucket{backend="epoll",proto="echo",le="600"} 2
reactor_connection_duration_seconds_bucket{backend="epoll",proto="echo",le="3600"} 2
reactor_connection_duration_seconds_bucket{backend="epoll",proto="echo",le="86400"} 2
reactor_connection_duration_seconds_bucket{backend="epoll",proto="echo",le="+Inf"} 2
reactor_connection_duration_seconds_sum{backend="epoll",proto="echo"} 2.005
reactor_connection_duration_seconds_count{backend="epoll",proto="echo"} 2
# HELP reactor_received_bytes_total Bytes read from sockets.
# TYPE reactor_received_bytes_total counter
reactor_received_bytes_total{backend="epoll",proto="echo"} 1000
# HELP reactor_sent_bytes_total Bytes the kernel took for sending.
# TYPE reactor_sent_bytes_total counter
reactor_sent_bytes_total{backend="epoll",proto="echo"} 700
# HELP reactor_outbound_buffered_bytes Bytes written by handlers and not yet taken by the kernel, over all connections.
# TYPE reactor_outbound_buffered_bytes gauge
reactor_outbound_buffered_bytes{backend="epoll",proto="echo"} 300
# HELP reactor_connections_accepted_total Connections accepted.
# TYPE reactor_connections_accepted_total counter
reactor_connections_accepted_total{backend="epoll",proto="echo"} 3
# HELP reactor_connections_dialed_total Outbound connections made (Conn.Dial).
# TYPE reactor_connections_dialed_total counter
reactor_connections_dialed_total{backend="epoll",proto="echo"} 1
# HELP reactor_dials_failed_total Outbound connections that could not be made.
# TYPE reactor_dials_failed_total counter
reactor_dials_failed_total{backend="epoll",proto="echo"} 1
# HELP reactor_accept_errors_total Failed accepts, other than a peer that left first.
# TYPE reactor_accept_errors_total counter
reactor_accept_errors_total{backend="epoll",proto="echo"} 1
# HELP reactor_handler_panics_total Handler callbacks, posted functions and timers that panicked.
# TYPE reactor_handler_panics_total counter
reactor_handler_panics_total{backend="epoll",proto="echo"} 1
`
	names := []string{"reactor_connections_active", "reactor_connections_closed_total", "reactor_connection_duration_seconds",
		"reactor_received_bytes_total", "reactor_sent_bytes_total", "reactor_outbound_buffered_bytes",
		"reactor_connections_accepted_total", "reactor_connections_dialed_total", "reactor_dials_failed_total",
		"reactor_accept_errors_total", "reactor_handler_panics_total"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// The same rules promtool check metrics applies.
	problems, err := testutil.CollectAndLint(c)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestServerProbes(t *testing.T) {
	srv, err := Start(Options{Addr: "127.0.0.1:0", Collectors: []prometheus.Collector{NewStatsCollector(new(reactor.Stats), "std", "http")}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	base := "http://" + srv.Addr().String()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz: %d; want 200", code)
	}
	if code, _ := get("/readyz"); code != 503 {
		t.Errorf("/readyz before SetReady: %d; want 503", code)
	}
	srv.SetReady(true)
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz when ready: %d; want 200", code)
	}
	srv.SetReady(false)
	if code, _ := get("/readyz"); code != 503 {
		t.Errorf("/readyz when draining: %d; want 503", code)
	}
	code, body := get("/metrics")
	for _, series := range []string{`reactor_connections_active{backend="std",proto="http"} 0`, "go_goroutines", "process_resident_memory_bytes"} {
		if code != 200 || !strings.Contains(body, series) {
			t.Errorf("/metrics (%d) lacks %s", code, series)
		}
	}
	if code, _ := get("/debug/pprof/"); code != 404 {
		t.Errorf("/debug/pprof/ without Pprof: %d; want 404", code)
	}
}

func TestChatCollector(t *testing.T) {
	r := chat.New(chat.Config{})
	d := conntest.Open(r, "")
	d.Feed([]byte("NAME: alice\n"))
	c := NewChatCollector(r, "gnet")
	want := `
# HELP reactor_chat_members Named members in the room.
# TYPE reactor_chat_members gauge
reactor_chat_members{backend="gnet",proto="chat"} 1
# HELP reactor_chat_lines_delivered_total Lines queued to members, once per recipient.
# TYPE reactor_chat_lines_delivered_total counter
reactor_chat_lines_delivered_total{backend="gnet",proto="chat"} 0
# HELP reactor_chat_members_dropped_total Members dropped for not reading (their pending output passed the limit).
# TYPE reactor_chat_members_dropped_total counter
reactor_chat_members_dropped_total{backend="gnet",proto="chat"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestHTTPCollector(t *testing.T) {
	h := http1.New(http1.Config{Timing: true})
	defer h.Close()
	d := conntest.Open(h, "")
	d.Feed([]byte("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\nGET /missing HTTP/1.1\r\nHost: x\r\n\r\n"))
	c := NewHTTPCollector(h, "epoll", true)
	want := `
# HELP reactor_http_requests_total Replies sent, by status code; requests refused for bad input count under their 4xx or 5xx.
# TYPE reactor_http_requests_total counter
reactor_http_requests_total{backend="epoll",code="200",proto="http"} 1
reactor_http_requests_total{backend="epoll",code="404",proto="http"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "reactor_http_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, "reactor_http_request_duration_seconds"); n != 1 {
		t.Errorf("%d latency histograms; want 1", n)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestDashboardQueriesExportedSeries(t *testing.T) {
	data, err := os.ReadFile("../../docs/grafana/reactor.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON Grafana can import: %v", err)
	}
	h := http1.New(http1.Config{})
	defer h.Close()
	exported := map[string]bool{}
	for _, c := range []prometheus.Collector{
		NewStatsCollector(new(reactor.Stats), "b", "p"), NewHTTPCollector(h, "b", true), NewChatCollector(chat.New(chat.Config{}), "b"),
	} {
		ch := make(chan *prometheus.Desc, 64)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			if m := regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch(d.String()); m != nil {
				exported[m[1]] = true
			}
		}
	}
	series := regexp.MustCompile(`reactor_[a-z_]+`)
	queried := 0
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			for _, name := range series.FindAllString(tg.Expr, -1) {
				queried++
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
				if !exported[base] {
					t.Errorf("panel %q queries %s, which serve does not export", p.Title, name)
				}
			}
		}
	}
	if queried == 0 {
		t.Error("the dashboard queries no reactor series")
	}
}
