//go:build linux

package netpoller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// upstream is a plain listener for the adapter to dial; it hands over what it accepts.
func upstream(t *testing.T) (string, <-chan *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan *net.TCPConn, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(wait))
			accepted <- c.(*net.TCPConn)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(accepted)
		for c := range accepted {
			c.Close()
		}
	})
	return ln.Addr().String(), accepted
}

func accept(t *testing.T, accepted <-chan *net.TCPConn) *net.TCPConn {
	t.Helper()
	select {
	case c := <-accepted:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(wait):
		t.Fatal("upstream accepted nothing")
	}
	return nil
}

// blackhole returns an address whose connects hang: a listener whose accept queue is full,
// which makes the kernel drop further SYNs.
func blackhole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr // the queue is full
		}
		t.Cleanup(func() { c.Close() })
		if i == 16 {
			t.Fatal("the accept queue does not fill")
		}
	}
}

// freePort returns an address nobody listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// dialFrom has the handler of c dial addr with ctx for h, and fails the test if Dial refuses.
func dialFrom(t *testing.T, c reactor.Conn, ctx context.Context, addr string, h reactor.Handler) {
	t.Helper()
	var err error
	on(t, c, func(c reactor.Conn) { err = c.Dial(ctx, addr, h) })
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
}

// TestDial: a connection dialed from a handler opens with the right addresses and
// TCP_NODELAY, carries bytes both ways, and ends with io.EOF when the peer closes.
func TestDial(t *testing.T) {
	addr, accepted := upstream(t)
	rec := newRecorder()
	_, c, _ := served(t, reactor.Config{}, rec, rec)
	out := newRecorder()
	dialFrom(t, c, context.Background(), addr, out)
	dc := out.awaitOpen(t)
	up := accept(t, accepted)

	if got, want := dc.RemoteAddr().String(), addr; got != want {
		t.Errorf("RemoteAddr = %s; want %s", got, want)
	}
	if got, want := dc.LocalAddr().String(), up.RemoteAddr().String(); got != want {
		t.Errorf("LocalAddr = %s; want %s, the upstream's peer", got, want)
	}
	if nd, err := syscall.GetsockoptInt(dc.(*conn).fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY); err != nil || nd == 0 {
		t.Errorf("TCP_NODELAY = %d, %v; want it set", nd, err)
	}

	io.WriteString(up, "from upstream")
	out.awaitData(t, "from upstream")
	on(t, dc, func(c reactor.Conn) { c.Write([]byte("to upstream")) })
	got := make([]byte, len("to upstream"))
	if _, err := io.ReadFull(up, got); err != nil || string(got) != "to upstream" {
		t.Fatalf("upstream read %q, %v", got, err)
	}
	up.Close()
	if err := out.awaitClose(t); !errors.Is(err, io.EOF) {
		t.Errorf("OnClose(%v); want io.EOF", err)
	}
	rec.noClose(t) // the dialing connection lives on
}

// TestDialFails: a refused dial, and dials bounded by ctx's deadline, by Config.DialTimeout and
// cancelled by ctx, end in OnClose with ErrDialFailed and the cause, and never in OnOpen.
func TestDialFails(t *testing.T) {
	warm(t)
	checkNoLeaks(t)
	hole := blackhole(t)
	rec := newRecorder()
	_, c, _ := served(t, reactor.Config{DialTimeout: 300 * time.Millisecond}, rec, rec)

	shortCtx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	cancelled, cancelNow := context.WithCancel(context.Background())
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		addr   string
		after  func()
		want   error
		within time.Duration
	}{
		{"Refused", context.Background(), freePort(t), nil, syscall.ECONNREFUSED, time.Second},
		{"CtxDeadline", shortCtx, hole, nil, context.DeadlineExceeded, time.Second},
		{"DialTimeout", context.Background(), hole, nil, context.DeadlineExceeded, 2 * time.Second},
		{"CtxCancelled", cancelled, hole, cancelNow, context.Canceled, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := newRecorder()
			start := time.Now()
			dialFrom(t, c, tc.ctx, tc.addr, out)
			if tc.after != nil {
				time.Sleep(50 * time.Millisecond)
				tc.after()
			}
			err := out.awaitClose(t)
			if !errors.Is(err, reactor.ErrDialFailed) || !errors.Is(err, tc.want) {
				t.Errorf("OnClose(%v); want ErrDialFailed and %v", err, tc.want)
			}
			if d := time.Since(start); d > tc.within {
				t.Errorf("OnClose after %v; want within %v", d, tc.within)
			}
			select {
			case <-out.opened:
				t.Error("OnOpen was called")
			default:
			}
		})
	}
}

// TestDialRefusesAtOnce: Dial returns an error, and calls nothing of h, for a malformed address
// and from a closing connection.
func TestDialRefusesAtOnce(t *testing.T) {
	rec := newRecorder()
	_, c, _ := served(t, reactor.Config{}, rec, rec)
	for _, addr := range []string{"", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:http-alt-nonsense", "127.0.0.1:65536"} {
		out := newRecorder()
		var err error
		on(t, c, func(c reactor.Conn) { err = c.Dial(context.Background(), addr, out) })
		if err == nil {
			t.Errorf("Dial(%q) = nil; want an error", addr)
		}
	}
	out := newRecorder()
	var err error
	on(t, c, func(c reactor.Conn) {
		c.Close()
		err = c.Dial(context.Background(), "127.0.0.1:1", out)
	})
	if !errors.Is(err, reactor.ErrConnClosed) {
		t.Errorf("Dial from a closing connection = %v; want ErrConnClosed", err)
	}
	select {
	case <-out.closed:
		t.Error("a refused Dial called OnClose")
	case <-time.After(100 * time.Millisecond):
	}
}

// TestShutdownCancelsDials: Shutdown with a dial in flight ends it at once with ErrServerClosed,
// closes dialed connections with ErrServerClosed, and leaves no goroutine or descriptor.
func TestShutdownCancelsDials(t *testing.T) {
	warm(t)
	checkNoLeaks(t)
	hole := blackhole(t)
	addr, accepted := upstream(t)
	rec := newRecorder()
	b, c, _ := served(t, reactor.Config{DialTimeout: time.Minute}, rec, rec)
	pending, live := newRecorder(), newRecorder()
	dialFrom(t, c, context.Background(), hole, pending)
	dialFrom(t, c, context.Background(), addr, live)
	live.awaitOpen(t)
	up := accept(t, accepted)

	start := time.Now()
	reactortest.Stop(t, b)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	if err := pending.awaitClose(t); !errors.Is(err, reactor.ErrDialFailed) || !errors.Is(err, reactor.ErrServerClosed) {
		t.Errorf("pending dial: OnClose(%v); want ErrDialFailed and ErrServerClosed", err)
	}
	if err := live.awaitClose(t); !errors.Is(err, reactor.ErrServerClosed) {
		t.Errorf("dialed connection: OnClose(%v); want ErrServerClosed", err)
	}
	if n, err := up.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("upstream read %d, %v; want io.EOF", n, err)
	}
}

// TestDialEarlyHangUp: an upstream that sends and shuts down its side before the adapter has
// taken the new connection over (netpoll's poller has detached it already) is still served in
// order: OnOpen, the input, then the end of stream — OnReadEOF with the connection open for
// writing for a HalfCloser, OnClose(io.EOF) for another handler.
func TestDialEarlyHangUp(t *testing.T) {
	addr, accepted := upstream(t)
	rec := newRecorder()
	_, c, _ := served(t, reactor.Config{}, rec, rec)
	testHookDialed = func() { time.Sleep(50 * time.Millisecond) }
	t.Cleanup(func() { testHookDialed = nil })
	sendAndShut := func() *net.TCPConn {
		up := accept(t, accepted)
		io.WriteString(up, "early")
		up.CloseWrite()
		return up
	}

	t.Run("HalfCloser", func(t *testing.T) {
		out := newRecorder()
		dialFrom(t, c, context.Background(), addr, halfRecorder{out})
		up := sendAndShut()
		dc := out.awaitOpen(t)
		out.awaitData(t, "early")
		out.awaitEOF(t)
		on(t, dc, func(c reactor.Conn) { c.Write([]byte("reply")); c.Close() })
		got, err := io.ReadAll(up)
		if string(got) != "reply" || err != nil {
			t.Errorf("upstream read %q, %v; want the reply", got, err)
		}
		if err := out.awaitClose(t); err != nil {
			t.Errorf("OnClose(%v); want nil", err)
		}
	})
	t.Run("Handler", func(t *testing.T) {
		out := newRecorder()
		dialFrom(t, c, context.Background(), addr, out)
		sendAndShut()
		out.awaitOpen(t)
		out.awaitData(t, "early")
		if err := out.awaitClose(t); !errors.Is(err, io.EOF) {
			t.Errorf("OnClose(%v); want io.EOF", err)
		}
	})
}

// TestDialedHalfCloser: a dialed connection served by a HalfCloser gets OnReadEOF when the
// upstream finishes sending, and may still reply.
func TestDialedHalfCloser(t *testing.T) {
	addr, accepted := upstream(t)
	rec := newRecorder()
	_, c, _ := served(t, reactor.Config{}, rec, rec)
	out := newRecorder()
	out.onEOF = func(c reactor.Conn) reactor.Action {
		c.Write([]byte("got it"))
		c.CloseWrite()
		return reactor.None
	}
	dialFrom(t, c, context.Background(), addr, halfRecorder{out})
	out.awaitOpen(t)
	up := accept(t, accepted)
	io.WriteString(up, "question")
	up.CloseWrite()
	out.awaitData(t, "question")
	out.awaitEOF(t)
	got, err := io.ReadAll(up)
	if string(got) != "got it" || err != nil {
		t.Errorf("upstream read %q, %v; want the answer, then the end", got, err)
	}
	if err := out.awaitClose(t); err != nil {
		t.Errorf("OnClose(%v); want nil after CloseWrite following OnReadEOF", err)
	}
}

// TestDialManyOrdered: dials that race the upstream's first bytes and hang-up keep every
// connection's callbacks in order, one at a time: OnOpen, OnData, OnReadEOF, OnClose.
func TestDialManyOrdered(t *testing.T) {
	addr, accepted := upstream(t)
	rec := newRecorder()
	_, c, _ := served(t, reactor.Config{}, rec, rec)
	h := &orderedHalfCloser{conns: map[reactor.Conn]*halfState{}}
	const n = 50
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			select {
			case up := <-accepted:
				io.WriteString(up, strings.Repeat("x", 100))
				up.CloseWrite()
				io.ReadAll(up) // until the handler closes
				up.Close()
			case <-time.After(wait):
				t.Error("upstream accepted too few")
				return
			}
		}
	}()
	for i := 0; i < n; i++ {
		dialFrom(t, c, context.Background(), addr, h)
	}
	wg.Wait()
	deadline := time.Now().Add(wait)
	for h.closed.Load() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := h.closed.Load(); got != n {
		t.Errorf("%d of %d dialed connections closed", got, n)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.problems {
		t.Error(p)
	}
}

// orderedHalfCloser checks that each connection sees OnOpen, 100 bytes of OnData, OnReadEOF
// (to which it answers Close) and OnClose(nil), in that order and never two at a time.
type orderedHalfCloser struct {
	mu       sync.Mutex
	conns    map[reactor.Conn]*halfState
	problems []string
	closed   atomic.Int32
}

type halfState struct {
	step int // 0 new, 1 open, 2 end of stream, 3 closed
	got  int
	busy atomic.Bool
}

func (h *orderedHalfCloser) enter(c reactor.Conn, what string, want int) *halfState {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.conns[c]
	if st == nil {
		st = &halfState{}
		h.conns[c] = st
	}
	if !st.busy.CompareAndSwap(false, true) {
		h.problems = append(h.problems, what+" ran during another callback")
	}
	if st.step != want {
		h.problems = append(h.problems, fmt.Sprintf("%s at step %d; want step %d", what, st.step, want))
	}
	return st
}

func (h *orderedHalfCloser) OnOpen(c reactor.Conn) {
	st := h.enter(c, "OnOpen", 0)
	st.step = 1
	st.busy.Store(false)
}

func (h *orderedHalfCloser) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	st := h.enter(c, "OnData", 1)
	st.got += len(in)
	st.busy.Store(false)
	return len(in), reactor.None
}

func (h *orderedHalfCloser) OnReadEOF(c reactor.Conn) reactor.Action {
	st := h.enter(c, "OnReadEOF", 1)
	if st.got != 100 {
		h.mu.Lock()
		h.problems = append(h.problems, fmt.Sprintf("OnReadEOF after %d bytes; want 100", st.got))
		h.mu.Unlock()
	}
	st.step = 2
	st.busy.Store(false)
	return reactor.Close
}

func (h *orderedHalfCloser) OnClose(c reactor.Conn, err error) {
	st := h.enter(c, "OnClose", 2)
	if err != nil {
		h.mu.Lock()
		h.problems = append(h.problems, fmt.Sprintf("OnClose(%v); want nil", err))
		h.mu.Unlock()
	}
	st.step = 3
	st.busy.Store(false)
	h.closed.Add(1)
}
