package http1

import (
	"strings"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/conntest"
)

// fakeClock is a clock the test moves by hand, in whole seconds.
type fakeClock struct{ now int64 }

func (f *fakeClock) read() int64 { return f.now }

// at returns the clock reading s seconds after the start.
func at(s int64) int64 { return s * int64(time.Second) }

// timed returns a Handler with short limits, no goroutine and a clock that moves only when
// the test moves it.
func timed(t *testing.T) (*Handler, *fakeClock) {
	h := newStillHandler(Config{IdleTimeout: 5 * time.Second, HeaderTimeout: 3 * time.Second, BodyTimeout: 4 * time.Second})
	clk := &fakeClock{}
	h.clock = clk.read
	return h, clk
}

func TestIdleTimeoutClosesQuietly(t *testing.T) {
	h, _ := timed(t)
	d := conntest.Open(h, "")
	d.Feed([]byte("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"))
	d.C.TakeOutput()
	h.sweep(at(5) - 1)
	if d.C.Closed() {
		t.Fatalf("closed a nanosecond before 5s of idleness; the limit must not strike early")
	}
	h.sweep(at(5))
	if !d.C.Closed() {
		t.Fatalf("still open after 5s idle; want closed")
	}
	if out := d.C.Output(); len(out) != 0 {
		t.Errorf("an idle close wrote %q; want nothing", out)
	}
}

func TestHeaderTimeoutStopsSlowloris(t *testing.T) {
	h, clk := timed(t)
	d := conntest.Open(h, "")
	d.Feed([]byte("GET /plaintext HTTP/1.1\r\n"))
	// A byte every second keeps the connection busy but must not restart the request's clock.
	for i := int64(1); i < 3; i++ {
		clk.now = at(i)
		d.Feed([]byte("X"))
		h.sweep(at(i))
		if d.C.Closed() {
			t.Fatalf("closed %ds into the header; the limit is 3s", i)
		}
	}
	h.sweep(at(3))
	if !d.C.Closed() {
		t.Fatalf("a header trickling in for 3s is still accepted; want 408 and close")
	}
	if out := string(d.C.Output()); !strings.HasPrefix(out, "HTTP/1.1 408 Request Timeout\r\n") || !strings.Contains(out, "Connection: close") {
		t.Errorf("reply %q; want 408 with Connection: close", out)
	}
	// Bytes that arrive after the timeout are not served; the sweep's own Close ends the
	// connection.
	n, a := h.OnData(d.C, []byte("\r\n\r\n"))
	if n != 4 || a != reactor.None {
		t.Errorf("OnData after the timeout = %d, %v; want all consumed and no action", n, a)
	}
}

func TestBodyTimeout(t *testing.T) {
	h, _ := timed(t)
	d := conntest.Open(h, "")
	d.Feed([]byte("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"))
	h.sweep(at(3)) // past the header limit, within the body's
	if d.C.Closed() {
		t.Fatalf("closed 3s into a body; the body limit is 4s")
	}
	h.sweep(at(4))
	if out := string(d.C.Output()); !d.C.Closed() || !strings.HasPrefix(out, "HTTP/1.1 408") {
		t.Fatalf("after 4s of a body: closed=%v, reply %q; want 408 and close", d.C.Closed(), out)
	}
}

func TestCompletedRequestsRestartTheIdleClock(t *testing.T) {
	h, clk := timed(t)
	d := conntest.Open(h, "")
	for i := int64(1); i <= 8; i++ {
		clk.now = at(i * 3)
		d.Feed([]byte("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"))
		h.sweep(at(i*3 + 4))
		if d.C.Closed() {
			t.Fatalf("a connection with a request every 3s was closed at %ds; the idle limit is 5s", i*3+4)
		}
	}
}

func TestNegativeTimeoutsDisable(t *testing.T) {
	h := newStillHandler(Config{IdleTimeout: -1, HeaderTimeout: -1, BodyTimeout: -1})
	d := conntest.Open(h, "")
	d.Feed([]byte("GET /plain"))
	h.sweep(h.clock() + at(1e6))
	if d.C.Closed() {
		t.Fatalf("closed with every time limit disabled")
	}
}

func TestServedCounts(t *testing.T) {
	h, _ := timed(t)
	for i := 0; i < 3; i++ {
		d := conntest.Open(h, "")
		d.Feed([]byte(strings.Repeat("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n", i+1)))
	}
	if conns, reqs := h.Served(); conns != 3 || reqs != 6 {
		t.Errorf("Served() = %d connections, %d requests; want 3, 6", conns, reqs)
	}
}

// racingConn is a connection on which the peer's next bytes reach OnData, on the backend's
// loop, while the sweep is between claiming the connection and writing its 408.
type racingConn struct {
	*conntest.Conn
	h    *Handler
	late []byte
}

func (rc *racingConn) AsyncWrite(p []byte) error {
	if late := rc.late; late != nil {
		rc.late = nil
		// What a backend does with the answer: a Close action with nothing pending closes at once.
		if _, a := rc.h.OnData(rc, late); a == reactor.Close {
			rc.Close()
		}
	}
	return rc.Conn.AsyncWrite(p)
}

func TestHeaderTimeoutRacingInput(t *testing.T) {
	h, _ := timed(t)
	rc := &racingConn{Conn: conntest.NewConn(""), h: h}
	h.OnOpen(rc)
	h.OnData(rc, []byte("GET /plaintext HTTP/1.1\r\nX-Slow: "))
	rc.late = []byte("a")
	h.sweep(at(3))
	if out := string(rc.Output()); !rc.Closed() || !strings.HasPrefix(out, "HTTP/1.1 408") {
		t.Fatalf("input racing the header limit: closed=%v, reply %q; want 408 and close", rc.Closed(), out)
	}
}
