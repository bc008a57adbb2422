package proxy

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// sinkConn is a reactor.Conn that counts the bytes written and keeps none, so that the
// allocation test measures the relay alone. Buffered reports what the test sets; Post keeps
// the one function posted last for the test to run; Dial keeps its handler.
type sinkConn struct {
	written  int
	buffered int
	paused   bool
	posted   func(reactor.Conn)
	dialed   reactor.Handler
	ctx      any
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
func (c *sinkConn) PauseRead()                  { c.paused = true }
func (c *sinkConn) ResumeRead()                 { c.paused = false }
func (c *sinkConn) Buffered() int               { return c.buffered }

func (c *sinkConn) Dial(_ context.Context, _ string, h reactor.Handler) error {
	c.dialed = h
	return nil
}

func (c *sinkConn) Post(f func(reactor.Conn)) error { c.posted = f; return nil }

func (c *sinkConn) AfterFunc(time.Duration, func(reactor.Conn)) func() bool {
	return func() bool { return false }
}

// runPosted runs what was posted, as the owner would after the callback.
func (c *sinkConn) runPosted() {
	if f := c.posted; f != nil {
		c.posted = nil
		f(c)
	}
}

// TestRelayAllocs pins the relay at zero allocations: a read relayed each way, and a whole
// backpressure cycle (pause past the mark, OnDrain, the posted resume).
func TestRelayAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	p, _ := newTest(t)
	client, up := &sinkConn{}, &sinkConn{}
	p.OnOpen(client)
	uh := client.dialed
	uh.OnOpen(up)
	client.runPosted()
	if client.paused {
		t.Fatalf("the client is paused once its upstream opened")
	}
	in := make([]byte, 512)
	allocs := testing.AllocsPerRun(200, func() {
		p.OnData(client, in)
		uh.OnData(up, in)

		up.buffered = testHighWater + 1
		p.OnData(client, in)
		if !client.paused {
			t.Fatalf("not paused past the mark")
		}
		up.buffered = 0
		uh.(reactor.Drainer).OnDrain(up)
		client.runPosted()
		if client.paused {
			t.Fatalf("not resumed after OnDrain")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per round; want 0", allocs)
	}
	if want := 201 * 3 * len(in); client.written+up.written != want {
		t.Errorf("%d bytes relayed; want %d", client.written+up.written, want)
	}
}
