package stdnet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// hooks is a handler whose callbacks are set per test; conns receives each connection opened.
type hooks struct {
	reactor.NopHandler
	conns  chan reactor.Conn
	open   func(reactor.Conn)
	data   func(reactor.Conn, []byte) (int, reactor.Action)
	drain  func(reactor.Conn)
	closed chan error
}

func newHooks() *hooks {
	return &hooks{conns: make(chan reactor.Conn, 1), closed: make(chan error, 1)}
}

func (h *hooks) OnOpen(c reactor.Conn) {
	if h.open != nil {
		h.open(c)
	}
	h.conns <- c
}

func (h *hooks) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	if h.data != nil {
		return h.data(c, in)
	}
	return len(in), reactor.None
}

func (h *hooks) OnClose(_ reactor.Conn, err error) { h.closed <- err }

// drainHooks is hooks that implements reactor.Drainer.
type drainHooks struct{ *hooks }

func (h drainHooks) OnDrain(c reactor.Conn) { h.drain(c) }

// serveOne starts a backend for h, dials it, and returns the client's end and the server's
// Conn. The backend is shut down when the test ends.
func serveOne(t *testing.T, cfg reactor.Config, h reactor.Handler, conns chan reactor.Conn) (net.Conn, reactor.Conn) {
	t.Helper()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Start(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b.Shutdown(ctx)
	})
	nc, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc, <-conns
}

func readN(t *testing.T, nc net.Conn, n int) []byte {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(nc, b); err != nil {
		t.Fatalf("reading %d bytes: %v", n, err)
	}
	return b
}

// A post made while the reader is blocked in Read runs at once; what it writes goes out after
// the AsyncWrite before the Post and before one made after it ran; once the connection is closed, Post is refused.
func TestPostWakesReader(t *testing.T) {
	h := newHooks()
	got := make(chan []byte, 1)
	h.data = func(_ reactor.Conn, in []byte) (int, reactor.Action) {
		got <- bytes.Clone(in)
		return len(in), reactor.None
	}
	nc, c := serveOne(t, reactor.Config{}, h, h.conns)
	time.Sleep(20 * time.Millisecond) // let the reader block in Read
	c.AsyncWrite([]byte("a"))
	wrote := make(chan struct{})
	if err := c.Post(func(c reactor.Conn) { c.Write([]byte("b")); close(wrote) }); err != nil {
		t.Fatalf("Post: %v", err)
	}
	<-wrote
	c.AsyncWrite([]byte("c"))
	if b := readN(t, nc, 3); string(b) != "abc" {
		t.Fatalf("got %q; want %q", b, "abc")
	}
	// The Read the post cut short did not end the connection: input still arrives.
	nc.Write([]byte("ping"))
	if b := <-got; string(b) != "ping" {
		t.Fatalf("OnData(%q); want %q", b, "ping")
	}
	c.Close()
	if err := <-h.closed; err != nil {
		t.Fatalf("OnClose: %v; want nil", err)
	}
	if err := c.Post(func(reactor.Conn) {}); !errors.Is(err, reactor.ErrConnClosed) {
		t.Fatalf("Post after close: %v; want ErrConnClosed", err)
	}
}

// stop prevents a timer that has fired while its owner was busy, its function waiting in the
// post queue, and says so.
func TestAfterFuncStopAfterFiring(t *testing.T) {
	h := newHooks()
	_, c := serveOne(t, reactor.Config{}, h, h.conns)
	ran := make(chan struct{}, 1)
	result := make(chan bool, 1)
	c.Post(func(c reactor.Conn) {
		stop := c.AfterFunc(time.Millisecond, func(reactor.Conn) { ran <- struct{}{} })
		time.Sleep(50 * time.Millisecond) // the timer fires and posts; the owner is still here
		result <- stop()
		c.Post(func(reactor.Conn) { result <- stop() })
	})
	if !<-result {
		t.Fatal("stop after the timer fired but before its function ran: false; want true")
	}
	if <-result {
		t.Fatal("second stop: true; want false")
	}
	select {
	case <-ran:
		t.Fatal("the stopped timer's function ran")
	case <-time.After(50 * time.Millisecond):
	}
}

// A timer runs its function on the owner no earlier than asked; a connection's close stops the
// timers it has left.
func TestAfterFuncTimesAndCloses(t *testing.T) {
	h := newHooks()
	_, c := serveOne(t, reactor.Config{}, h, h.conns)
	const d = 30 * time.Millisecond
	armed := make(chan time.Time, 1)
	fired := make(chan time.Time, 1)
	late := make(chan struct{}, 1)
	c.Post(func(c reactor.Conn) {
		armed <- time.Now()
		c.AfterFunc(d, func(reactor.Conn) { fired <- time.Now() })
		c.AfterFunc(time.Hour, func(reactor.Conn) { late <- struct{}{} })
	})
	if el := (<-fired).Sub(<-armed); el < d {
		t.Fatalf("the timer ran after %v; want ≥ %v", el, d)
	}
	c.Close()
	<-h.closed
	if n := len(c.(*conn).timers); n != 0 {
		t.Fatalf("%d timers left after close", n)
	}
}

// A paused connection reads nothing, so the peer's bytes wait in the kernel; ResumeRead
// delivers them. A Close while paused ends the connection promptly.
func TestPauseRead(t *testing.T) {
	h := newHooks()
	got := make(chan []byte, 4)
	h.open = func(c reactor.Conn) { c.PauseRead() }
	h.data = func(_ reactor.Conn, in []byte) (int, reactor.Action) {
		got <- bytes.Clone(in)
		return len(in), reactor.None
	}
	nc, c := serveOne(t, reactor.Config{}, h, h.conns)
	nc.Write([]byte("waited"))
	select {
	case b := <-got:
		t.Fatalf("OnData(%q) while paused", b)
	case <-time.After(50 * time.Millisecond):
	}
	c.Post(func(c reactor.Conn) { c.ResumeRead() })
	if b := <-got; string(b) != "waited" {
		t.Fatalf("after ResumeRead, OnData(%q); want %q", b, "waited")
	}

	c.Post(func(c reactor.Conn) { c.PauseRead() })
	time.Sleep(20 * time.Millisecond)
	start := time.Now()
	c.Close()
	select {
	case err := <-h.closed:
		if err != nil {
			t.Fatalf("OnClose: %v; want nil", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close while paused: no OnClose after 2s")
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Close while paused took %v", el)
	}
}

// OnDrain comes once, on the owner, when output that passed LowWater is written out, and
// Buffered follows the queue.
func TestDrain(t *testing.T) {
	const lowWater, size = 1 << 10, 4 << 20
	h := newHooks()
	drains := make(chan int, 4)
	h.drain = func(c reactor.Conn) { drains <- c.Buffered() }
	nc, c := serveOne(t, reactor.Config{LowWater: lowWater, MaxOutbound: 2 * size}, drainHooks{h}, h.conns)
	if err := c.AsyncWrite(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // the flusher blocks: nobody reads yet
	if n := c.Buffered(); n <= lowWater {
		t.Fatalf("Buffered with %d bytes written and unread: %d; want > %d", size, n, lowWater)
	}
	select {
	case n := <-drains:
		t.Fatalf("OnDrain (Buffered %d) before the peer read", n)
	default:
	}
	readN(t, nc, size)
	if n := <-drains; n > lowWater {
		t.Fatalf("OnDrain with Buffered %d; want ≤ %d", n, lowWater)
	}
	if n := c.Buffered(); n != 0 {
		t.Fatalf("Buffered after the peer read it all: %d; want 0", n)
	}
	select {
	case <-drains:
		t.Fatal("a second OnDrain with no output since")
	case <-time.After(50 * time.Millisecond):
	}
}
