//go:build linux

package epoll

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
	"golang.org/x/sys/unix"
)

// Conn.Dial on every shape of the loop: the connecting socket is registered for writability,
// which each mechanism reports its own way, and edge-triggered it is registered for good.

// dialEvent is what a dialed connection's handler saw: which callback, on which loop, with
// which cause.
type dialEvent struct {
	what   string // "open", "data", "close"
	loop   *loop
	err    error
	data   string
	local  net.Addr
	remote net.Addr
}

// dialRecorder is the handler given to Dial: it reports its callbacks on events.
type dialRecorder struct {
	events chan dialEvent
	open   func(reactor.Conn)
}

func newDialRecorder() *dialRecorder { return &dialRecorder{events: make(chan dialEvent, 16)} }

func (h *dialRecorder) OnOpen(c reactor.Conn) {
	h.events <- dialEvent{what: "open", loop: c.(*conn).l, local: c.LocalAddr(), remote: c.RemoteAddr()}
	if h.open != nil {
		h.open(c)
	}
}

func (h *dialRecorder) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	h.events <- dialEvent{what: "data", loop: c.(*conn).l, data: string(in)}
	return len(in), reactor.None
}

func (h *dialRecorder) OnClose(c reactor.Conn, err error) {
	h.events <- dialEvent{what: "close", loop: c.(*conn).l, err: err}
}

func (h *dialRecorder) next(t *testing.T, within time.Duration) dialEvent {
	t.Helper()
	select {
	case ev := <-h.events:
		return ev
	case <-time.After(within):
		t.Fatalf("no callback of the dialed connection within %v", within)
		return dialEvent{}
	}
}

// asker is a server whose connections dial when the test says so: asker.dial runs Dial on the
// owner of the one connection the test made, and returns Dial's own error and the loop.
type asker struct {
	b    reactor.Backend
	conn reactor.Conn
}

func startAsker(t *testing.T, newBackend reactor.Constructor, cfg reactor.Config) *asker {
	t.Helper()
	conns := make(chan reactor.Conn, 1)
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	b, addr := reactortest.Start(t, newBackend, cfg, &funcs{open: func(c reactor.Conn) { conns <- c }})
	dial(t, addr)
	return &asker{b: b, conn: <-conns}
}

func (a *asker) dial(ctx context.Context, addr string, h reactor.Handler) (*loop, error) {
	type result struct {
		l   *loop
		err error
	}
	ch := make(chan result, 1)
	if err := a.conn.Post(func(c reactor.Conn) { ch <- result{c.(*conn).l, c.Dial(ctx, addr, h)} }); err != nil {
		return nil, err
	}
	r := <-ch
	return r.l, r.err
}

// refusedAddr is a loopback address where nothing listens.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// hangingAddr is a loopback listener whose accept queue is full, so that a connect to it gets
// no answer: the kernel drops its SYNs until the queue has room, which it never gets.
func hangingAddr(t *testing.T) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*unix.SockaddrInet4).Port))
	// A backlog of 0 holds one connection; the ones after it hang. Fill it until one does.
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
		if i == 8 {
			t.Skip("this system answers connects to a full accept queue")
		}
	}
	return addr
}

// TestDial: the dialed connection opens on the loop of the connection that asked, with its
// addresses right and TCP_NODELAY set, carries bytes both ways, and closes as any other.
func TestDial(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			a := startAsker(t, sh.new, reactor.Config{})
			h := newDialRecorder()
			nodelay := make(chan int, 1)
			h.open = func(c reactor.Conn) {
				v, _ := unix.GetsockoptInt(int(c.(*conn).fd), unix.IPPROTO_TCP, unix.TCP_NODELAY)
				nodelay <- v
				c.Write([]byte("ping"))
			}
			l, err := a.dial(context.Background(), ln.Addr().String(), h)
			if err != nil {
				t.Fatalf("Dial = %v", err)
			}
			peer, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			ev := h.next(t, 5*time.Second)
			if ev.what != "open" || ev.loop != l {
				t.Fatalf("first callback %q on loop %p; want open on the asking connection's loop %p", ev.what, ev.loop, l)
			}
			if ev.local.String() != peer.RemoteAddr().String() || ev.remote.String() != peer.LocalAddr().String() {
				t.Errorf("LocalAddr %v, RemoteAddr %v; want %v, %v", ev.local, ev.remote, peer.RemoteAddr(), peer.LocalAddr())
			}
			if v := <-nodelay; v == 0 {
				t.Error("TCP_NODELAY not set on the dialed connection")
			}
			if got := readN(t, peer, 4); got != "ping" {
				t.Fatalf("peer read %q", got)
			}
			peer.Write([]byte("pong"))
			if ev := h.next(t, 5*time.Second); ev.what != "data" || ev.data != "pong" || ev.loop != l {
				t.Fatalf("got %q %q on %p; want the data pong on %p", ev.what, ev.data, ev.loop, l)
			}
			peer.Close()
			if ev := h.next(t, 5*time.Second); ev.what != "close" || ev.err != io.EOF {
				t.Fatalf("got %q (%v); want close with io.EOF", ev.what, ev.err)
			}
		})
	}
}

// TestDialHostName: a host name is looked up off the loop, and its address connected to.
func TestDialHostName(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a := startAsker(t, New, reactor.Config{})
	h := newDialRecorder()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if _, err := a.dial(context.Background(), "localhost:"+port, h); err != nil {
		t.Fatal(err)
	}
	if ev := h.next(t, 5*time.Second); ev.what != "open" {
		t.Fatalf("got %q (%v); want open", ev.what, ev.err)
	}
	h2 := newDialRecorder()
	if _, err := a.dial(context.Background(), "no-such-host.invalid:80", h2); err != nil {
		t.Fatal(err)
	}
	if ev := h2.next(t, 10*time.Second); ev.what != "close" || !errors.Is(ev.err, reactor.ErrDialFailed) {
		t.Fatalf("got %q (%v); want close with ErrDialFailed", ev.what, ev.err)
	}
}

// errTestCause is the cause a test cancels a dial's context with.
var errTestCause = errors.New("the test's own cause")

// TestDialFails: a dial that cannot connect ends in h.OnClose, on the asking loop, with a cause
// that names ErrDialFailed and the reason; OnOpen never comes. Dial itself fails only when it
// cannot begin.
func TestDialFails(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			hang := hangingAddr(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			// DialTimeout well past the 50 ms contexts below: on a loaded machine (-race, CI's two
			// cores) the loop may see a cancel late, and must not see the timeout first.
			a := startAsker(t, sh.new, reactor.Config{DialTimeout: 600 * time.Millisecond})
			for _, tc := range []struct {
				name  string
				addr  string
				ctx   func() context.Context
				cause error
				took  time.Duration // at least
			}{
				{"Refused", refusedAddr(t), context.Background, syscall.ECONNREFUSED, 0},
				{"DialTimeout", hang, context.Background, context.DeadlineExceeded, 600 * time.Millisecond},
				{"ContextDeadline", hang, func() context.Context {
					ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
					t.Cleanup(cancel)
					return ctx
				}, context.DeadlineExceeded, 50 * time.Millisecond},
				{"ContextCancelled", hang, func() context.Context {
					ctx, cancel := context.WithCancel(context.Background())
					time.AfterFunc(50*time.Millisecond, cancel)
					return ctx
				}, context.Canceled, 50 * time.Millisecond},
				{"CancelledBefore", hang, func() context.Context {
					ctx, cancel := context.WithCancel(context.Background())
					cancel()
					return ctx
				}, context.Canceled, 0},
				{"CancelledWithCause", hang, func() context.Context {
					ctx, cancel := context.WithCancelCause(context.Background())
					cancel(errTestCause)
					return ctx
				}, errTestCause, 0},
				// A context that has ended fails the dial even where the connect would
				// succeed at once, as on loopback.
				{"CancelledBeforeReachable", ln.Addr().String(), func() context.Context {
					ctx, cancel := context.WithCancel(context.Background())
					cancel()
					return ctx
				}, context.Canceled, 0},
				{"DeadlinePassedReachable", ln.Addr().String(), func() context.Context {
					ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
					t.Cleanup(cancel)
					<-ctx.Done()
					return ctx
				}, context.DeadlineExceeded, 0},
			} {
				t.Run(tc.name, func(t *testing.T) {
					h := newDialRecorder()
					began := time.Now()
					l, err := a.dial(tc.ctx(), tc.addr, h)
					if err != nil {
						t.Fatalf("Dial = %v; want nil, the failure going to OnClose", err)
					}
					ev := h.next(t, 5*time.Second)
					took := time.Since(began)
					if ev.what != "close" || ev.loop != l {
						t.Fatalf("got %q on %p; want close on the asking loop %p", ev.what, ev.loop, l)
					}
					if !errors.Is(ev.err, reactor.ErrDialFailed) || !errors.Is(ev.err, tc.cause) {
						t.Errorf("OnClose(%v); want ErrDialFailed and %v", ev.err, tc.cause)
					}
					if took < tc.took || took > tc.took+2*time.Second {
						t.Errorf("failed after %v; want %v or a little more", took, tc.took)
					}
				})
			}
			for _, bad := range []string{"no-port", "127.0.0.1:0", "127.0.0.1:http"} {
				if _, err := a.dial(context.Background(), bad, newDialRecorder()); err == nil {
					t.Errorf("Dial(%q) = nil; want an error", bad)
				}
			}
			closing := make(chan error, 1)
			a.conn.Post(func(c reactor.Conn) {
				c.Close()
				closing <- c.Dial(context.Background(), hang, newDialRecorder())
			})
			if err := <-closing; !errors.Is(err, reactor.ErrConnClosed) {
				t.Errorf("Dial from a closing connection = %v; want ErrConnClosed", err)
			}
		})
	}
}

// TestDialShutdown: Shutdown fails the dials still connecting with ErrServerClosed, closes the
// dialed connections like the accepted ones, and leaves no descriptor or goroutine behind,
// host-name lookups included.
func TestDialShutdown(t *testing.T) {
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			hang := hangingAddr(t)
			fds, goroutines := openFDs(t), runtime.NumGoroutine()

			a := startAsker(t, sh.new, reactor.Config{})
			live, pending := newDialRecorder(), newDialRecorder()
			if _, err := a.dial(context.Background(), ln.Addr().String(), live); err != nil {
				t.Fatal(err)
			}
			peer, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			if ev := live.next(t, 5*time.Second); ev.what != "open" {
				t.Fatalf("got %q; want open", ev.what)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if _, err := a.dial(ctx, hang, pending); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)

			sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer scancel()
			if err := a.b.Shutdown(sctx); err != nil {
				t.Fatalf("Shutdown = %v", err)
			}
			if ev := pending.next(t, time.Second); ev.what != "close" || !errors.Is(ev.err, reactor.ErrDialFailed) || !errors.Is(ev.err, reactor.ErrServerClosed) {
				t.Errorf("pending dial: %q (%v); want close with ErrDialFailed and ErrServerClosed", ev.what, ev.err)
			}
			if ev := live.next(t, time.Second); ev.what != "close" || ev.err != reactor.ErrServerClosed {
				t.Errorf("dialed connection: %q (%v); want close with ErrServerClosed", ev.what, ev.err)
			}
			peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := peer.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("the dialed connection's peer read %v; want io.EOF", err)
			}
			peer.Close()
			cancel() // the watch on ctx must be gone already: nothing may act on it now
			deadline := time.Now().Add(5 * time.Second)
			for openFDs(t) > fds+1 || runtime.NumGoroutine() > goroutines { // +1: the asker's client
				if time.Now().After(deadline) {
					t.Fatalf("%d descriptors and %d goroutines after Shutdown; want %d and %d", openFDs(t), runtime.NumGoroutine(), fds+1, goroutines)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestDialLookup: a host name's lookup, which may take long, ends with its dial — at the
// deadline, when ctx is cancelled, at Shutdown — and its goroutine with it.
func TestDialLookup(t *testing.T) {
	real := lookupIP
	t.Cleanup(func() { lookupIP = real })
	lookupIP = func(ctx context.Context, network, host string) ([]netip.Addr, error) {
		if host == "slow.test" {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return real(ctx, network, host)
	}
	goroutines := runtime.NumGoroutine()
	a := startAsker(t, New, reactor.Config{DialTimeout: 100 * time.Millisecond})
	h := newDialRecorder()
	a.dial(context.Background(), "slow.test:80", h)
	if ev := h.next(t, 5*time.Second); ev.what != "close" || !errors.Is(ev.err, context.DeadlineExceeded) {
		t.Errorf("got %q (%v); want close with DeadlineExceeded", ev.what, ev.err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.dial(ctx, "slow.test:80", h)
	cancel()
	if ev := h.next(t, 5*time.Second); ev.what != "close" || !errors.Is(ev.err, context.Canceled) {
		t.Errorf("got %q (%v); want close with Canceled", ev.what, ev.err)
	}
	a.dial(context.Background(), "slow.test:80", h)
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := a.b.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if ev := h.next(t, time.Second); ev.what != "close" || !errors.Is(ev.err, reactor.ErrServerClosed) {
		t.Errorf("got %q (%v); want close with ErrServerClosed", ev.what, ev.err)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines when Shutdown returned; want %d: a lookup outlived it", n, goroutines)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
