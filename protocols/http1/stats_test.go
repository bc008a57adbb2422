package http1

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/conntest"
)

func TestStatsCountRepliesByStatus(t *testing.T) {
	h := newStillHandler(Config{IdleTimeout: 5 * time.Second, HeaderTimeout: 3 * time.Second, BodyTimeout: 4 * time.Second, Timing: true})
	var k conntest.Clock // the Handler's clock and its connections' timers, moved by hand
	h.clock = func() int64 { return int64(k.Now()) }
	d := k.Open(h, "")
	// Two 200s and a 404 in one read, a 405 in the next; then half a request that waits 2s.
	d.Feed([]byte("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\nGET /json HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"))
	d.Feed([]byte("DELETE /json HTTP/1.1\r\nHost: x\r\n\r\nGET /plain"))
	d.Advance(2 * time.Second)
	d.Feed([]byte("text HTTP/1.1\r\nHost: x\r\n\r\n"))
	// A bad request on a second connection, and a header timeout on a third.
	bad := k.Open(h, "")
	bad.Feed([]byte("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"))
	slow := k.Open(h, "")
	slow.Feed([]byte("GET / HTT"))
	slow.Advance(3 * time.Second)
	s := h.Stats()
	want := map[int]uint64{200: 3, 404: 1, 405: 1, 400: 1, 408: 1}
	if len(s.Requests) != len(want) {
		t.Errorf("Requests = %v; want %v", s.Requests, want)
	}
	for code, n := range want {
		if s.Requests[code] != n {
			t.Errorf("Requests[%d] = %d; want %d (all: %v)", code, s.Requests[code], n, s.Requests)
		}
	}
	// Four requests answered at once on the fake clock (0 s), the split one after 2 s.
	var timedN uint64
	for _, n := range s.Latency {
		timedN += n
	}
	if timedN != 5 || s.Latency[0] != 4 || s.LatencySum != 2 {
		t.Errorf("latency %v, sum %v; want 5 requests timed, 4 in the first bucket, 2 s in all", s.Latency, s.LatencySum)
	}
}

func TestAccessLogIsBounded(t *testing.T) {
	var out strings.Builder
	h := newHandler(t, Config{AccessLog: slog.New(slog.NewTextHandler(&out, nil)), AccessLogPerSecond: 3})
	c := &sinkConn{}
	h.OnOpen(c)
	h.unixSecond.Store(1000)
	req := []byte(strings.Repeat("GET /json?q=1 HTTP/1.1\r\nHost: x\r\n\r\n", 5))
	if n, a := h.OnData(c, req); n != len(req) || a != reactor.None {
		t.Fatalf("OnData = %d, %v", n, a)
	}
	if got := strings.Count(out.String(), "\n"); got != 3 {
		t.Errorf("%d lines in the second's bound of 3:\n%s", got, out.String())
	}
	for _, want := range []string{"method=GET", "target=/json", "status=200", "took="} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("access log lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	h.unixSecond.Store(1001)
	h.OnData(c, req[:len(req)/5])
	if !strings.Contains(out.String(), "dropped_last_second=2") {
		t.Errorf("the next second's first line does not say 2 were left out:\n%s", out.String())
	}
}

func TestAllocsTimedPipelined(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race (sync.Pool drops items)")
	}
	batch := []byte(strings.Repeat(wrkPlaintext, 16))
	h := newHandler(t, Config{Timing: true})
	c := &sinkConn{}
	h.OnOpen(c)
	if allocs := testing.AllocsPerRun(200, func() { h.OnData(c, batch) }); allocs != 0 {
		t.Errorf("got %v allocations per batch of 16 with Timing; want 0", allocs)
	}
	if got := h.Stats().Requests[200]; got != 201*16 {
		t.Errorf("counted %d 200s; want %d", got, 201*16)
	}
}
