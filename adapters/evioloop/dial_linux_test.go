package evioloop

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// dialed records what a dialled connection's handler saw, and on which goroutine.
type dialed struct {
	handler
	opened chan reactor.Conn
	closed chan error
	openG  chan uint64 // the goroutine OnOpen ran on
	closeG chan uint64 // the goroutine OnClose ran on
}

func newDialed() *dialed {
	d := &dialed{
		opened: make(chan reactor.Conn, 1),
		closed: make(chan error, 1),
		openG:  make(chan uint64, 1),
		closeG: make(chan uint64, 1),
	}
	d.open = func(c reactor.Conn) {
		d.openG <- goroutineID()
		d.opened <- c
	}
	d.close = func(c reactor.Conn, err error) {
		d.closeG <- goroutineID()
		d.closed <- err
	}
	return d
}

// within waits for a value from ch.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s", what)
		panic("unreachable")
	}
}

// asker is a server handler whose connections each dial once, from OnOpen, with the context
// and handler that dial returns; it reports Dial's error and the goroutine OnOpen ran on.
func asker(dial func() (context.Context, string, reactor.Handler), errs chan<- error, gs chan<- uint64) handler {
	return handler{open: func(c reactor.Conn) {
		ctx, addr, h := dial()
		if gs != nil {
			gs <- goroutineID()
		}
		errs <- c.Dial(ctx, addr, h)
	}}
}

// upstream listens on the loopback for the tests' dials.
func upstream(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// refusedAddr is a loopback address nothing listens on.
func refusedAddr(t *testing.T) string {
	ln := upstream(t)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// stuckAddr is a loopback address whose listener's queue is full and never accepted from: a
// connect to it waits (the kernel drops its SYNs) until it is given up.
func stuckAddr(t *testing.T) string {
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
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}).String()
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr // the queue is full
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("could not fill a listener's queue")
	return ""
}

// TestDial: a connection dialled from OnOpen is opened on the asking connection's loop (the
// same goroutine), its addresses are the TCP ones, TCP_NODELAY is set, and bytes flow both
// ways.
func TestDial(t *testing.T) {
	up := upstream(t)
	d := newDialed()
	d.data = func(c reactor.Conn, in []byte) (int, reactor.Action) {
		if string(in) == "pong" {
			c.Write([]byte("bye"))
			return len(in), reactor.Close
		}
		return 0, reactor.None
	}
	errs, askG := make(chan error, 1), make(chan uint64, 1)
	_, addr := start(t, reactor.Config{Loops: 4}, asker(func() (context.Context, string, reactor.Handler) {
		return context.Background(), up.Addr().String(), d
	}, errs, askG))
	reactortest.Dial(t, addr)
	if err := within(t, errs, "Dial"); err != nil {
		t.Fatalf("Dial = %v", err)
	}
	peer, err := up.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	c := within(t, d.opened, "OnOpen of the dialled connection")
	if g, want := within(t, d.openG, "goroutine"), within(t, askG, "goroutine"); g != want {
		t.Errorf("the dialled connection opened on goroutine %d; want %d, the asking connection's loop", g, want)
	}
	if got, want := c.RemoteAddr().String(), up.Addr().String(); got != want {
		t.Errorf("RemoteAddr = %s; want %s", got, want)
	}
	if got, want := c.LocalAddr().String(), peer.RemoteAddr().String(); got != want {
		t.Errorf("LocalAddr = %s; want %s, as the upstream sees it", got, want)
	}
	if v, err := syscall.GetsockoptInt(c.(*conn).fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY); err != nil || v == 0 {
		t.Errorf("TCP_NODELAY = %d, %v; want set", v, err)
	}
	peer.Write([]byte("pong"))
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(peer)
	if string(got) != "bye" || err != nil {
		t.Errorf("upstream read %q, %v; want \"bye\" then EOF", got, err)
	}
	if err := within(t, d.closed, "OnClose"); err != nil {
		t.Errorf("OnClose cause %v; want nil, the handler's Close", err)
	}
}

// TestDialFails: a dial that makes no connection calls OnClose, on the asking connection's
// loop, with a cause that wraps ErrDialFailed and the reason; OnOpen never runs.
func TestDialFails(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		cfg  reactor.Config
		dial func(t *testing.T) (context.Context, string)
		want error
	}{
		{"Refused", reactor.Config{}, func(t *testing.T) (context.Context, string) {
			return context.Background(), refusedAddr(t)
		}, syscall.ECONNREFUSED},
		{"Cancelled", reactor.Config{}, func(t *testing.T) (context.Context, string) {
			return cancelled, stuckAddr(t)
		}, context.Canceled},
		{"CancelledWhileConnecting", reactor.Config{}, func(t *testing.T) (context.Context, string) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			return ctx, stuckAddr(t)
		}, context.Canceled},
		{"ContextDeadline", reactor.Config{}, func(t *testing.T) (context.Context, string) {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			t.Cleanup(cancel)
			return ctx, stuckAddr(t)
		}, context.DeadlineExceeded},
		{"DialTimeout", reactor.Config{DialTimeout: 100 * time.Millisecond}, func(t *testing.T) (context.Context, string) {
			return context.Background(), stuckAddr(t)
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, target := tc.dial(t)
			d := newDialed()
			errs, askG := make(chan error, 1), make(chan uint64, 1)
			_, addr := start(t, tc.cfg, asker(func() (context.Context, string, reactor.Handler) {
				return ctx, target, d
			}, errs, askG))
			reactortest.Dial(t, addr)
			if err := within(t, errs, "Dial"); err != nil {
				t.Fatalf("Dial = %v; want nil, the failure reported by OnClose", err)
			}
			err := within(t, d.closed, "OnClose")
			if !errors.Is(err, reactor.ErrDialFailed) || !errors.Is(err, tc.want) {
				t.Errorf("OnClose cause %v; want ErrDialFailed and %v", err, tc.want)
			}
			if g, want := within(t, d.closeG, "goroutine"), within(t, askG, "goroutine"); g != want {
				t.Errorf("OnClose ran on goroutine %d; want %d, the asking connection's loop", g, want)
			}
			select {
			case <-d.opened:
				t.Error("OnOpen ran for a dial that failed")
			default:
			}
		})
	}
}

// TestDialRefusedAtOnce: Dial itself fails, and the handler is never called, only for a
// malformed address or a connection that is closing.
func TestDialRefusedAtOnce(t *testing.T) {
	d := newDialed()
	errs := make(chan error, 2)
	h := handler{data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
		errs <- c.Dial(context.Background(), "127.0.0.1", d)
		c.Close()
		errs <- c.Dial(context.Background(), "127.0.0.1:9", d)
		return len(in), reactor.None
	}}
	_, addr := start(t, reactor.Config{}, h)
	c := reactortest.Dial(t, addr)
	c.Write([]byte("go"))
	if err := within(t, errs, "Dial"); err == nil || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("Dial of a malformed address = %v; want an error naming it", err)
	}
	if err := within(t, errs, "Dial"); !errors.Is(err, reactor.ErrConnClosed) {
		t.Errorf("Dial from a closing connection = %v; want ErrConnClosed", err)
	}
	time.Sleep(50 * time.Millisecond)
	select {
	case <-d.opened:
		t.Error("the handler of a refused Dial was opened")
	case err := <-d.closed:
		t.Errorf("the handler of a refused Dial was closed with %v", err)
	default:
	}
}

// TestDialShutdown: Shutdown cancels a dial in flight (OnClose with ErrDialFailed and
// ErrServerClosed), drains and closes dialled connections like accepted ones (OnClose with
// ErrServerClosed, the upstream reads the end of stream), and leaves no goroutine or
// descriptor behind.
func TestDialShutdown(t *testing.T) {
	up := upstream(t)
	stuck := stuckAddr(t)
	runtime.GC()
	goroutines, fds := runtime.NumGoroutine(), fdCount(t)
	live, pending := newDialed(), newDialed()
	errs := make(chan error, 2)
	var n atomic.Int32
	b, err := New(reactor.Config{Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Start(asker(func() (context.Context, string, reactor.Handler) {
		if n.Add(1) == 1 { // OnOpen of the first of the two connections, made one after the other
			return context.Background(), up.Addr().String(), live
		}
		return context.Background(), stuck, pending
	}, errs, nil))
	if err != nil {
		t.Fatal(err)
	}
	c1, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	if err := within(t, errs, "Dial"); err != nil {
		t.Fatal(err)
	}
	peer, err := up.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	within(t, live.opened, "OnOpen of the live dialled connection")
	c2, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := within(t, errs, "Dial"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the second dial is waiting on the stuck listener

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	began := time.Now()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("Shutdown took %v with a dial in flight", took)
	}
	select {
	case err := <-pending.closed:
		if !errors.Is(err, reactor.ErrDialFailed) || !errors.Is(err, reactor.ErrServerClosed) {
			t.Errorf("the pending dial's OnClose cause %v; want ErrDialFailed and ErrServerClosed", err)
		}
	default:
		t.Error("the pending dial's OnClose had not run when Shutdown returned")
	}
	select {
	case err := <-live.closed:
		if !errors.Is(err, reactor.ErrServerClosed) {
			t.Errorf("the live dialled connection's OnClose cause %v; want ErrServerClosed", err)
		}
	default:
		t.Error("the live dialled connection's OnClose had not run when Shutdown returned")
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(peer); err != nil {
		t.Errorf("the upstream read %v; want a clean end of stream", err)
	}
	select {
	case <-pending.opened:
		t.Error("OnOpen ran for a dial Shutdown cancelled")
	default:
	}
	c1.Close()
	c2.Close()
	peer.Close()
	up.Close()
	settles(t, goroutines, fds)
}
