package http1

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// sinkConn is a reactor.Conn that counts the bytes written and keeps none, so that allocation
// tests and benchmarks measure the handler alone. Its clock stands still: timers are counted,
// never fired.
type sinkConn struct {
	written int
	armed   int // AfterFunc calls
	ctx     any
}

func (c *sinkConn) Write(p []byte) (int, error) { c.written += len(p); return len(p), nil }
func (c *sinkConn) AsyncWrite(p []byte) error   { c.written += len(p); return nil }
func (c *sinkConn) Close() error                { return nil }
func (c *sinkConn) Abort(error)                 {}
func (c *sinkConn) CloseWrite() error           { return nil }
func (c *sinkConn) LocalAddr() net.Addr         { return nil }
func (c *sinkConn) RemoteAddr() net.Addr        { return nil }
func (c *sinkConn) Context() any                { return c.ctx }
func (c *sinkConn) SetContext(v any)            { c.ctx = v }

// Dial is refused: the handler never dials.
func (c *sinkConn) Dial(context.Context, string, reactor.Handler) error {
	return reactor.ErrNotSupported
}

// Post is refused: the sink has no owner to run f on, and the handler never posts.
func (c *sinkConn) Post(func(reactor.Conn)) error { return reactor.ErrNotSupported }

func (c *sinkConn) AfterFunc(time.Duration, func(reactor.Conn)) func() bool {
	c.armed++
	stopped := false
	return func() bool {
		prevented := !stopped
		stopped = true
		return prevented
	}
}

// PauseRead and ResumeRead have nothing to hold: the test hands the handler its input.
func (c *sinkConn) PauseRead()  {}
func (c *sinkConn) ResumeRead() {}

// Buffered is 0: every byte written is gone at once.
func (c *sinkConn) Buffered() int { return 0 }

// wrkPlaintext is the request of the TechEmpower plaintext test as wrk sends it.
const wrkPlaintext = "GET /plaintext HTTP/1.1\r\n" +
	"Host: 127.0.0.1:8080\r\n" +
	"Accept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,*/*;q=0.7\r\n" +
	"Connection: keep-alive\r\n\r\n"

func TestAllocsPipelinedPlaintext(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race (sync.Pool drops items)")
	}
	batch := []byte(strings.Repeat(wrkPlaintext, 16))
	h := newHandler(t, Config{})
	c := &sinkConn{}
	h.OnOpen(c)
	allocs := testing.AllocsPerRun(200, func() {
		n, a := h.OnData(c, batch)
		if n != len(batch) || a != reactor.None {
			t.Fatalf("got (%d, %v); want (%d, none)", n, a, len(batch))
		}
	})
	if allocs != 0 {
		t.Errorf("got %v allocations per batch of 16; want 0", allocs)
	}
	if c.armed != 1 {
		t.Errorf("got %d timers armed; want the connection's one, armed at open", c.armed)
	}
	if want := 201 * 16 * len(routes[1].head+"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\nHello, World!"); c.written != want {
		t.Errorf("got %d bytes written; want %d", c.written, want)
	}
}

func TestAllocsEchoAndPartial(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race (sync.Pool drops items)")
	}
	req := []byte("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nX-T: 1\r\n\r\n")
	h := newHandler(t, Config{})
	c := &sinkConn{}
	h.OnOpen(c)
	allocs := testing.AllocsPerRun(200, func() {
		// Half a request (consumes nothing), then all of it.
		if n, _ := h.OnData(c, req[:len(req)/2]); n != 0 {
			t.Fatalf("got %d consumed of half a request; want 0", n)
		}
		if n, _ := h.OnData(c, req); n != len(req) {
			t.Fatalf("got %d consumed; want %d", n, len(req))
		}
	})
	if allocs != 0 {
		t.Errorf("got %v allocations per chunked echo; want 0", allocs)
	}
	if c.armed != 1 {
		t.Errorf("got %d timers armed; want the connection's one, armed at open", c.armed)
	}
}
