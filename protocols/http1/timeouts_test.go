package http1

import (
	"strings"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/conntest"
)

// timed returns a Handler with short limits and no goroutine, so its clock moves only when
// the test moves it, and the time it starts at.
func timed(t *testing.T) (*Handler, int64) {
	h := newStillHandler(Config{IdleTimeout: 5 * time.Second, HeaderTimeout: 3 * time.Second, BodyTimeout: 4 * time.Second})
	return h, h.now.Load()
}

func TestIdleTimeoutClosesQuietly(t *testing.T) {
	h, t0 := timed(t)
	d := conntest.Open(h, "")
	d.Feed([]byte("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"))
	d.C.TakeOutput()
	h.sweep(t0 + 5)
	if d.C.Closed() {
		t.Fatalf("closed 5 ticks into idleness; a 5s limit must not strike early")
	}
	h.sweep(t0 + 6)
	if !d.C.Closed() {
		t.Fatalf("still open 6 ticks into idleness; want closed")
	}
	if out := d.C.Output(); len(out) != 0 {
		t.Errorf("an idle close wrote %q; want nothing", out)
	}
}

func TestHeaderTimeoutStopsSlowloris(t *testing.T) {
	h, t0 := timed(t)
	d := conntest.Open(h, "")
	d.Feed([]byte("GET /plaintext HTTP/1.1\r\n"))
	// A byte every second keeps the connection busy but must not restart the request's clock.
	for i := int64(1); i <= 3; i++ {
		h.now.Store(t0 + i)
		d.Feed([]byte("X"))
		h.sweep(t0 + i)
		if d.C.Closed() {
			t.Fatalf("closed %d ticks into the header; a 3s limit must not strike early", i)
		}
	}
	h.sweep(t0 + 4)
	if !d.C.Closed() {
		t.Fatalf("a header trickling in for 3s is still accepted; want 408 and close")
	}
	if out := string(d.C.Output()); !strings.HasPrefix(out, "HTTP/1.1 408 Request Timeout\r\n") || !strings.Contains(out, "Connection: close") {
		t.Errorf("reply %q; want 408 with Connection: close", out)
	}
	// Bytes that arrive after the timeout are not served.
	n, a := h.OnData(d.C, []byte("\r\n\r\n"))
	if n != 4 || a != reactor.Close {
		t.Errorf("OnData after the timeout = %d, %v; want all consumed and close", n, a)
	}
}

func TestBodyTimeout(t *testing.T) {
	h, t0 := timed(t)
	d := conntest.Open(h, "")
	d.Feed([]byte("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"))
	h.sweep(t0 + 4) // past the header limit, within the body's
	if d.C.Closed() {
		t.Fatalf("closed 4 ticks into a body; a 4s body limit must not strike early")
	}
	h.sweep(t0 + 5)
	if out := string(d.C.Output()); !d.C.Closed() || !strings.HasPrefix(out, "HTTP/1.1 408") {
		t.Fatalf("after 4s of a body: closed=%v, reply %q; want 408 and close", d.C.Closed(), out)
	}
}

func TestCompletedRequestsRestartTheIdleClock(t *testing.T) {
	h, t0 := timed(t)
	d := conntest.Open(h, "")
	for i := int64(1); i <= 8; i++ {
		h.now.Store(t0 + i*3)
		d.Feed([]byte("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"))
		h.sweep(t0 + i*3 + 5)
		if d.C.Closed() {
			t.Fatalf("a connection with a request every 3s was closed at %ds; the idle limit is 5s", i*3+5)
		}
	}
}

func TestNegativeTimeoutsDisable(t *testing.T) {
	h := newStillHandler(Config{IdleTimeout: -1, HeaderTimeout: -1, BodyTimeout: -1})
	d := conntest.Open(h, "")
	d.Feed([]byte("GET /plain"))
	h.sweep(h.now.Load() + 1e6)
	if d.C.Closed() {
		t.Fatalf("closed with every time limit disabled")
	}
}
