//go:build linux

package epoll

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

func start(t *testing.T, cfg reactor.Config, h reactor.Handler) (reactor.Backend, string) {
	t.Helper()
	return reactortest.Start(t, New, cfg, h)
}

func TestInfo(t *testing.T) {
	info := Info()
	if info.Name != "epoll" || !info.Available || info.Reason != "" || info.Model == "" {
		t.Errorf("Info() = %+v; want name epoll, available on Linux, with a model", info)
	}
}

// TestURingInfo: URingInfo tells the probe's answer, and NewURing agrees with it — it refuses
// with ErrNotSupported, saying why, exactly where URingInfo says unavailable.
func TestURingInfo(t *testing.T) {
	info := URingInfo()
	if info.Name != "uring" || info.Model == "" || info.Available != (info.Reason == "") {
		t.Errorf("URingInfo() = %+v; want name uring, a model, and a reason exactly when unavailable", info)
	}
	_, err := NewURing(reactor.Config{Addr: "127.0.0.1:0"})
	switch {
	case info.Available && err != nil:
		t.Errorf("NewURing = %v; want a backend, as URingInfo says it is available", err)
	case !info.Available && !errors.Is(err, reactor.ErrNotSupported):
		t.Errorf("NewURing = %v; want ErrNotSupported, as URingInfo says: %s", err, info.Reason)
	case !info.Available:
		t.Logf("uring is not available here: %s", info.Reason)
	}
	if _, err := NewURing(reactor.Config{Addr: "127.0.0.1:0", EdgeTriggered: true}); !errors.Is(err, reactor.ErrNotSupported) {
		t.Errorf("NewURing(EdgeTriggered) = %v; want ErrNotSupported", err)
	}
}

func TestNewRejectsBadAddress(t *testing.T) {
	for _, addr := range []string{"no-port", "127.0.0.1:notaport", "[::1"} {
		if _, err := New(reactor.Config{Addr: addr}); err == nil {
			t.Errorf("New(Addr %q) succeeded; want an error", addr)
		}
	}
}

func TestStartTwiceAndShutdownBeforeStart(t *testing.T) {
	b, _ := start(t, reactor.Config{Loops: 1}, echo.Handler{})
	if _, err := b.Start(echo.Handler{}); !errors.Is(err, reactor.ErrAlreadyStarted) {
		t.Errorf("second Start: %v; want ErrAlreadyStarted", err)
	}

	idle, err := New(reactor.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := idle.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown before Start: %v; want nil", err)
	}
	if err := idle.Wait(); !errors.Is(err, reactor.ErrServerClosed) {
		t.Errorf("Wait after Shutdown before Start: %v; want ErrServerClosed", err)
	}
	if _, err := idle.Start(echo.Handler{}); !errors.Is(err, reactor.ErrServerClosed) {
		t.Errorf("Start after Shutdown: %v; want ErrServerClosed", err)
	}
}

func TestListenAddressTaken(t *testing.T) {
	_, addr := start(t, reactor.Config{Loops: 1}, echo.Handler{})
	b, err := New(reactor.Config{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Start(echo.Handler{}); err == nil {
		b.Shutdown(context.Background())
		t.Fatalf("Start on a port in use succeeded; want an error")
	}
}

// loopCounter records which loop serves each connection it opens.
type loopCounter struct {
	echo.Handler
	mu    sync.Mutex
	loops map[*loop]int
}

func (h *loopCounter) OnOpen(c reactor.Conn) {
	h.mu.Lock()
	h.loops[c.(*conn).l]++
	h.mu.Unlock()
}

// TestConnectionsSpreadOverLoops: the acceptor deals connections out in turn; with ReusePort
// the kernel's hash spreads them, unevenly but over every loop.
func TestConnectionsSpreadOverLoops(t *testing.T) {
	for _, reuse := range []bool{false, true} {
		h := &loopCounter{loops: map[*loop]int{}}
		_, addr := start(t, reactor.Config{Loops: 4, ReusePort: reuse}, h)
		const n = 64
		for i := 0; i < n; i++ {
			c := reactortest.Dial(t, addr)
			c.Write([]byte("x"))
			io.ReadFull(c, make([]byte, 1)) // opened and served before the next dial
		}
		h.mu.Lock()
		counts := h.loops
		h.mu.Unlock()
		if len(counts) != 4 {
			t.Errorf("ReusePort=%v: connections went to %d loops; want all 4", reuse, len(counts))
		}
		for _, k := range counts {
			if !reuse && k != n/4 {
				t.Errorf("acceptor: a loop got %d of %d connections; want %d each", k, n, n/4)
			}
		}
	}
}

// TestSlowReaderIsPausedNotDropped: an echo peer that writes far more than MaxOutbound before
// it starts reading is slowed down by TCP (the loop stops reading it), not closed.
func TestSlowReaderIsPausedNotDropped(t *testing.T) {
	for _, edge := range []bool{false, true} {
		_, addr := start(t, reactor.Config{Loops: 1, MaxOutbound: 64 << 10, EdgeTriggered: edge}, echo.Handler{})
		c := reactortest.Dial(t, addr)
		msg := bytes.Repeat([]byte("slow reader "), (4<<20)/12)
		werr := make(chan error, 1)
		go func() {
			_, err := c.Write(msg)
			werr <- err
		}()
		time.Sleep(300 * time.Millisecond) // let the server's output pile up against the mark
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("edge=%v: reading the echo: %v (dropped instead of paused?)", edge, err)
		}
		if err := <-werr; err != nil {
			t.Fatalf("edge=%v: writing: %v", edge, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("edge=%v: echo differs from what was sent", edge)
		}
	}
}

// closer closes in OnOpen and reports what writes return afterwards.
type closer struct {
	writeErr, asyncErr chan error
	closed             chan error
}

func (h *closer) OnOpen(c reactor.Conn) {
	c.Write([]byte("bye\n"))
	c.Close()
	_, err := c.Write([]byte("late"))
	h.writeErr <- err
	h.asyncErr <- c.AsyncWrite([]byte("late"))
}
func (h *closer) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	return len(in), reactor.None
}
func (h *closer) OnClose(c reactor.Conn, err error) { h.closed <- err }

func TestWritesAfterCloseAreRefused(t *testing.T) {
	h := &closer{writeErr: make(chan error, 1), asyncErr: make(chan error, 1), closed: make(chan error, 1)}
	_, addr := start(t, reactor.Config{Loops: 1}, h)
	c := reactortest.Dial(t, addr)
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "bye\n" {
		t.Errorf("client read %q, %v; want \"bye\\n\" then EOF", got, err)
	}
	if err := <-h.writeErr; !errors.Is(err, reactor.ErrConnClosed) {
		t.Errorf("Write after Close: %v; want ErrConnClosed", err)
	}
	if err := <-h.asyncErr; !errors.Is(err, reactor.ErrConnClosed) {
		t.Errorf("AsyncWrite after Close: %v; want ErrConnClosed", err)
	}
	if err := <-h.closed; err != nil {
		t.Errorf("OnClose cause %v; want nil for a Close the handler asked for", err)
	}
}

// pusher writes to its connection from another goroutine with AsyncWrite, as a timer or a
// chat room would; the loop may be asleep, so each write has to wake it.
type pusher struct {
	echo.Handler
	conns chan reactor.Conn
}

func (h *pusher) OnOpen(c reactor.Conn) { h.conns <- c }

func TestAsyncWriteWakesSleepingLoop(t *testing.T) {
	for _, edge := range []bool{false, true} {
		h := &pusher{conns: make(chan reactor.Conn, 1)}
		_, addr := start(t, reactor.Config{Loops: 1, EdgeTriggered: edge}, h)
		c := reactortest.Dial(t, addr)
		sc := <-h.conns
		buf := make([]byte, 5)
		for i := 0; i < 50; i++ {
			time.Sleep(time.Millisecond) // the loop goes back to epoll_wait
			if err := sc.AsyncWrite([]byte("tick\n")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "tick\n" {
				t.Fatalf("edge=%v: write %d: read %q, %v", edge, i, buf, err)
			}
		}
		c.Close()
		// After the connection is gone, AsyncWrite says so instead of queueing forever.
		deadline := time.Now().Add(10 * time.Second)
		for sc.AsyncWrite([]byte("x")) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("AsyncWrite still accepted 10s after the peer closed")
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// TestShutdownWaitsForPendingOutput: Shutdown lets a reply in flight reach a peer that reads
// late, and OnClose gets ErrServerClosed.
func TestShutdownWaitsForPendingOutput(t *testing.T) {
	h := &pusher{conns: make(chan reactor.Conn, 1)}
	b, err := New(reactor.Config{Addr: "127.0.0.1:0", Loops: 1, MaxOutbound: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Start(h)
	if err != nil {
		t.Fatal(err)
	}
	c := reactortest.Dial(t, addr.String())
	sc := <-h.conns
	payload := bytes.Repeat([]byte("z"), 16<<20) // far more than the kernel buffers take
	if err := sc.AsyncWrite(payload); err != nil {
		t.Fatal(err)
	}
	var done atomic.Bool
	shut := make(chan error, 1)
	go func() {
		shut <- b.Shutdown(context.Background())
		done.Store(true)
	}()
	time.Sleep(200 * time.Millisecond)
	if done.Load() {
		t.Fatalf("Shutdown returned while output was still pending")
	}
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("read %d bytes, %v; want all %d then EOF", len(got), err, len(payload))
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestShutdownDeadlineAbortsStuckPeers: a peer that never reads cannot hold Shutdown past its
// context; Shutdown returns the context's error and no loop is left behind.
func TestShutdownDeadlineAbortsStuckPeers(t *testing.T) {
	h := &pusher{conns: make(chan reactor.Conn, 1)}
	b, err := New(reactor.Config{Addr: "127.0.0.1:0", Loops: 2, MaxOutbound: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Start(h)
	if err != nil {
		t.Fatal(err)
	}
	c := reactortest.Dial(t, addr.String())
	c.SetReadBuffer(4 << 10)
	sc := <-h.conns
	if err := sc.AsyncWrite(bytes.Repeat([]byte("z"), 16<<20)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := b.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a stuck peer: %v; want context.DeadlineExceeded", err)
	}
	if err := b.Wait(); !errors.Is(err, reactor.ErrServerClosed) {
		t.Fatalf("Wait: %v; want ErrServerClosed", err)
	}
}

// asyncThenClose answers with AsyncWrite and closes in the same callback.
type asyncThenClose struct{}

func (asyncThenClose) OnOpen(reactor.Conn) {}
func (asyncThenClose) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	c.AsyncWrite([]byte("queued before close\n"))
	return len(in), reactor.Close
}
func (asyncThenClose) OnClose(reactor.Conn, error) {}

func TestCloseSendsEarlierAsyncWrites(t *testing.T) {
	for _, edge := range []bool{false, true} {
		_, addr := start(t, reactor.Config{Loops: 1, EdgeTriggered: edge}, asyncThenClose{})
		c := reactortest.Dial(t, addr)
		c.Write([]byte("hi"))
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "queued before close\n" {
			t.Errorf("edge=%v: read %q, %v; want the AsyncWrite, then EOF", edge, got, err)
		}
	}
}

// closeOnOpen queues more than the kernel buffers take, then closes; OnClose reports.
type closeOnOpen struct{ closed chan error }

func (h closeOnOpen) OnOpen(c reactor.Conn) {
	c.Write(bytes.Repeat([]byte("w"), 16<<20))
	c.Close()
}
func (closeOnOpen) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	return len(in), reactor.None
}
func (h closeOnOpen) OnClose(c reactor.Conn, err error) { h.closed <- err }

// TestCloseGivesUpOnPeerThatNeverReads: a graceful close waits for the peer to take its
// output, but a peer that takes nothing is cut off after closeLinger, not held forever.
func TestCloseGivesUpOnPeerThatNeverReads(t *testing.T) {
	h := closeOnOpen{closed: make(chan error, 1)}
	_, addr := start(t, reactor.Config{Loops: 1, MaxOutbound: 32 << 20}, h)
	c := reactortest.Dial(t, addr)
	c.SetReadBuffer(4 << 10) // and never read
	select {
	case err := <-h.closed:
		if err == nil {
			t.Errorf("OnClose cause nil; want the error that ended the wait")
		}
		t.Logf("closed with %v", err)
	case <-time.After(closeLinger + 10*time.Second):
		t.Fatalf("a closing connection whose peer never reads is still open after %v", closeLinger+10*time.Second)
	}
}

// TestBufsPerLoop: the receive buffers are a budget for the server, shared out among its loops,
// with a floor per loop.
func TestBufsPerLoop(t *testing.T) {
	for _, c := range []struct {
		loops int
		want  uint16
	}{{0, 256}, {1, 256}, {2, 128}, {3, 64}, {4, 64}, {16, 64}} {
		if got := bufsPerLoop(c.loops); got != c.want {
			t.Errorf("bufsPerLoop(%d) = %d; want %d", c.loops, got, c.want)
		}
	}
}
