package http1

import (
	"strings"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/conntest"
)

// timed returns a Handler with cfg's limits (short ones when cfg is zero) and no goroutine, on
// a connection whose clock, the Handler's too, moves only when the test advances it.
func timed(t *testing.T, cfg Config) (*Handler, *conntest.Driver) {
	t.Helper()
	if cfg == (Config{}) {
		cfg = Config{IdleTimeout: 5 * time.Second, HeaderTimeout: 3 * time.Second, BodyTimeout: 4 * time.Second}
	}
	h := newStillHandler(cfg)
	var k conntest.Clock
	h.clock = func() int64 { return int64(k.Now()) }
	return h, k.Open(h, "")
}

const timeoutReply = "HTTP/1.1 408 Request Timeout\r\n"

func TestIdleTimeoutClosesQuietly(t *testing.T) {
	_, d := timed(t, Config{})
	d.Feed([]byte("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"))
	d.C.TakeOutput()
	d.Advance(5*time.Second - 1)
	if d.C.Closed() {
		t.Fatalf("closed a nanosecond before 5s of idleness; the limit must not strike early")
	}
	d.Advance(1)
	if !d.C.Closed() {
		t.Fatalf("still open after 5s idle; want closed")
	}
	if out := d.C.Output(); len(out) != 0 {
		t.Errorf("an idle close wrote %q; want nothing", out)
	}
}

func TestHeaderTimeoutStopsSlowloris(t *testing.T) {
	h, d := timed(t, Config{})
	d.Feed([]byte("GET /plaintext HTTP/1.1\r\n"))
	// A byte every second keeps the connection busy but must not restart the request's clock.
	for i := 1; i < 3; i++ {
		d.Advance(time.Second)
		if d.C.Closed() {
			t.Fatalf("closed %ds into the header; the limit is 3s", i)
		}
		d.Feed([]byte("X"))
	}
	d.Advance(time.Second - 1)
	if d.C.Closed() {
		t.Fatalf("closed a nanosecond before the 3s header limit")
	}
	d.Advance(1)
	if !d.C.Closed() {
		t.Fatalf("a header trickling in for 3s is still accepted; want 408 and close")
	}
	out := string(d.C.TakeOutput())
	if !strings.HasPrefix(out, timeoutReply) || !strings.Contains(out, "Connection: close\r\n") ||
		!strings.HasSuffix(out, "\r\n\r\n408 Request Timeout: "+errRequestTimeout.reason+"\n") {
		t.Errorf("reply %q; want 408 with Connection: close and its one-line body", out)
	}
	// Bytes that a backend presents after the limit struck, read before its close took
	// effect, are not served.
	n, a := h.OnData(d.C, []byte("\r\n\r\n"))
	if n != 4 || a != reactor.None {
		t.Errorf("OnData after the timeout = %d, %v; want all consumed and no action", n, a)
	}
	if out := d.C.Output(); len(out) != 0 {
		t.Errorf("input after the timeout was answered with %q; want nothing", out)
	}
}

// TestEmptyInputKeepsTheRequestClock: an OnData call with no bytes (a backend presenting
// nothing new) neither ends the request in progress nor restarts its header limit.
func TestEmptyInputKeepsTheRequestClock(t *testing.T) {
	h, d := timed(t, Config{})
	d.Feed([]byte("GET /plaintext HTTP/1.1\r\n"))
	d.Advance(2 * time.Second)
	if n, a := h.OnData(d.C, nil); n != 0 || a != reactor.None {
		t.Errorf("OnData with no input = %d, %v; want 0, none", n, a)
	}
	d.Feed([]byte("Host: x\r\n"))
	d.Advance(time.Second)
	if out := string(d.C.Output()); !d.C.Closed() || !strings.HasPrefix(out, timeoutReply) {
		t.Fatalf("3s into a header, with an empty OnData on the way: closed=%v, reply %q; want 408 and close", d.C.Closed(), out)
	}
}

func TestBodyTimeout(t *testing.T) {
	_, d := timed(t, Config{})
	d.Feed([]byte("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"))
	d.Advance(3 * time.Second) // past the header limit, within the body's
	if d.C.Closed() {
		t.Fatalf("closed 3s into a body; the body limit is 4s")
	}
	d.Advance(time.Second)
	if out := string(d.C.Output()); !d.C.Closed() || !strings.HasPrefix(out, timeoutReply) {
		t.Fatalf("after 4s of a body: closed=%v, reply %q; want 408 and close", d.C.Closed(), out)
	}
}

// TestHeaderLimitBegunWhileTimerSleeps: a request that starts long into an idle period gets
// its header limit to the nanosecond, though the timer was last armed for idleness.
func TestHeaderLimitBegunWhileTimerSleeps(t *testing.T) {
	_, d := timed(t, Config{IdleTimeout: time.Minute, HeaderTimeout: 3 * time.Second, BodyTimeout: -1})
	d.Advance(10*time.Second + 500*time.Millisecond)
	d.Feed([]byte("GET / HTTP/1.1\r\n"))
	d.Advance(3*time.Second - 1)
	if d.C.Closed() {
		t.Fatalf("closed before the header limit")
	}
	d.Advance(1)
	if out := string(d.C.Output()); !d.C.Closed() || !strings.HasPrefix(out, timeoutReply) {
		t.Fatalf("3s into a header begun mid-sleep: closed=%v, reply %q; want 408 and close", d.C.Closed(), out)
	}
}

func TestCompletedRequestsRestartTheIdleClock(t *testing.T) {
	_, d := timed(t, Config{})
	for i := 1; i <= 8; i++ {
		d.Advance(3 * time.Second)
		d.Feed([]byte("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"))
		if d.C.Closed() {
			t.Fatalf("a connection with a request every 3s was closed at %ds; the idle limit is 5s", i*3)
		}
	}
	d.Advance(5 * time.Second)
	if !d.C.Closed() {
		t.Fatalf("still open 5s after the last request")
	}
}

// TestOneTimerPerConnection pins the lazy arming: requests, whole or in pieces, never arm or
// stop a timer; the connection's one timer re-arms itself about once per shortest limit.
func TestOneTimerPerConnection(t *testing.T) {
	_, d := timed(t, Config{})
	req := []byte("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
	for i := 0; i < 1000; i++ {
		d.Feed(req[:10])
		d.Feed(req[10:40])
		d.Feed(req[40:])
		d.Advance(time.Millisecond) // 1s in all: the timer (3s) never wakes
	}
	if pending, armed := d.C.Timers(); pending != 1 || armed != 1 {
		t.Fatalf("after 1000 requests in 1s: %d timers pending, %d armed; want 1, 1", pending, armed)
	}
	d.Advance(4 * time.Second) // wakes at 3s, idle 2s by then: sleeps to the idle limit at 6s
	if pending, armed := d.C.Timers(); d.C.Closed() || pending != 1 || armed != 2 {
		t.Fatalf("5s in, idle 4s: closed=%v, %d timers pending, %d armed; want open, 1, 2", d.C.Closed(), pending, armed)
	}
	d.Advance(time.Second)
	if !d.C.Closed() {
		t.Fatalf("idle 5s; want closed")
	}
}

func TestNegativeTimeoutsDisable(t *testing.T) {
	_, d := timed(t, Config{IdleTimeout: -1, HeaderTimeout: -1, BodyTimeout: -1})
	d.Feed([]byte("GET /plain"))
	d.Advance(1e6 * time.Second)
	if d.C.Closed() {
		t.Fatalf("closed with every time limit disabled")
	}
	if pending, armed := d.C.Timers(); pending != 0 || armed != 0 {
		t.Errorf("%d timers pending, %d armed with every limit disabled; want none", pending, armed)
	}
}

// TestNoIdleLimit: with the idle limit off, an idle connection stays, and the request it
// starts later still meets the header limit.
func TestNoIdleLimit(t *testing.T) {
	_, d := timed(t, Config{IdleTimeout: -1, HeaderTimeout: 3 * time.Second, BodyTimeout: -1})
	d.Advance(time.Hour)
	if d.C.Closed() {
		t.Fatalf("idle connection closed with no idle limit")
	}
	d.Feed([]byte("GET / HTTP/1.1\r\n"))
	d.Advance(3 * time.Second)
	if out := string(d.C.Output()); !d.C.Closed() || !strings.HasPrefix(out, timeoutReply) {
		t.Fatalf("closed=%v, reply %q; want 408 and close", d.C.Closed(), out)
	}
}

func TestServedCounts(t *testing.T) {
	h := newStillHandler(Config{})
	for i := 0; i < 3; i++ {
		d := conntest.Open(h, "")
		d.Feed([]byte(strings.Repeat("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n", i+1)))
	}
	if conns, reqs := h.Served(); conns != 3 || reqs != 6 {
		t.Errorf("Served() = %d connections, %d requests; want 3, 6", conns, reqs)
	}
}
