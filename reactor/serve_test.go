package reactor_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/reactorlab/reactor/adapters/stdnet"
	"github.com/reactorlab/reactor/reactor"
)

// echoLines echoes and reports the cause each connection closed with.
type echoLines struct {
	reactor.NopHandler
	causes chan error
}

func (echoLines) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	c.Write(in)
	return len(in), reactor.None
}

func (h echoLines) OnClose(_ reactor.Conn, err error) { h.causes <- err }

// serve runs reactor.Serve in a goroutine and returns the bound address and Serve's result.
func serve(t *testing.T, ctx context.Context, b reactor.Backend, h reactor.Handler, opts ...reactor.ServeOption) (net.Addr, <-chan error) {
	t.Helper()
	started := make(chan net.Addr, 1)
	served := make(chan error, 1)
	opts = append(opts, reactor.OnStarted(func(a net.Addr) { started <- a }))
	go func() { served <- reactor.Serve(ctx, b, h, opts...) }()
	select {
	case a := <-started:
		return a, served
	case err := <-served:
		t.Fatalf("Serve returned before starting: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not start within 10s")
	}
	return nil, nil
}

func result(t *testing.T, served <-chan error) error {
	t.Helper()
	select {
	case err := <-served:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Serve still running 10s after it was asked to stop")
		return nil
	}
}

func newStd(t *testing.T, cfg reactor.Config) reactor.Backend {
	t.Helper()
	b, err := stdnet.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestServeShutsDownGracefullyWhenContextEnds(t *testing.T) {
	h := echoLines{causes: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, served := serve(t, ctx, newStd(t, reactor.Config{}), h)

	c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "ping\n")
	if line, err := bufio.NewReader(c).ReadString('\n'); line != "ping\n" || err != nil {
		t.Fatalf("echo = %q, %v; want %q", line, err, "ping\n")
	}

	cancel()
	if err := result(t, served); !errors.Is(err, reactor.ErrServerClosed) {
		t.Errorf("Serve = %v; want ErrServerClosed", err)
	}
	// Serve returned after the backend stopped, so OnClose has run already.
	select {
	case cause := <-h.causes:
		if !errors.Is(cause, reactor.ErrServerClosed) {
			t.Errorf("OnClose cause %v; want ErrServerClosed", cause)
		}
	default:
		t.Errorf("Serve returned before the connection's OnClose ran")
	}
	if n, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("client read after Serve returned: %d bytes, %v; want EOF", n, err)
	}
}

func TestServeReturnsStartError(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	b := newStd(t, reactor.Config{Addr: taken.Addr().String()})
	// The context never ends: Serve must return by itself.
	err = reactor.Serve(context.Background(), b, reactor.NopHandler{})
	if err == nil || errors.Is(err, reactor.ErrServerClosed) {
		t.Errorf("Serve on a port in use = %v; want Start's error", err)
	}
}

func TestServeReturnsWhenShutDownElsewhere(t *testing.T) {
	b := newStd(t, reactor.Config{})
	_, served := serve(t, context.Background(), b, reactor.NopHandler{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := result(t, served); !errors.Is(err, reactor.ErrServerClosed) {
		t.Errorf("Serve = %v; want ErrServerClosed", err)
	}
}

// fakeBackend lets a test choose how the backend stops and how its Shutdown behaves.
type fakeBackend struct {
	stopped  chan error // what Wait returns
	shutdown func(ctx context.Context) error
}

func newFake(shutdown func(ctx context.Context) error) *fakeBackend {
	return &fakeBackend{stopped: make(chan error, 1), shutdown: shutdown}
}

func (f *fakeBackend) Info() reactor.Info { return reactor.Info{Name: "fake", Available: true} }

func (f *fakeBackend) Start(reactor.Handler) (net.Addr, error) {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil
}

func (f *fakeBackend) Shutdown(ctx context.Context) error {
	err := f.shutdown(ctx)
	f.stopped <- reactor.ErrServerClosed
	return err
}

func (f *fakeBackend) Wait() error { return <-f.stopped }

func TestServeReturnsTheBackendsOwnError(t *testing.T) {
	broken := errors.New("listener gone")
	f := newFake(func(context.Context) error { t.Error("Shutdown called on a backend that stopped"); return nil })
	_, served := serve(t, context.Background(), f, reactor.NopHandler{})
	f.stopped <- broken
	if err := result(t, served); err != broken {
		t.Errorf("Serve = %v; want %v", err, broken)
	}
}

type ctxKey struct{}

func TestServeShutdownKeepsValuesNotCancellation(t *testing.T) {
	f := newFake(func(ctx context.Context) error {
		if ctx.Value(ctxKey{}) != "kept" {
			t.Errorf("Shutdown's context lost the value of Serve's")
		}
		if ctx.Err() != nil {
			t.Errorf("Shutdown's context is done already: %v", ctx.Err())
		}
		if _, ok := ctx.Deadline(); ok {
			t.Errorf("Shutdown's context has a deadline with no ShutdownTimeout")
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "kept"))
	_, served := serve(t, ctx, f, reactor.NopHandler{})
	cancel()
	if err := result(t, served); !errors.Is(err, reactor.ErrServerClosed) {
		t.Errorf("Serve = %v; want ErrServerClosed", err)
	}
}

func TestServeShutdownTimeout(t *testing.T) {
	// A backend whose drain never finishes on its own: Shutdown returns when its context ends.
	f := newFake(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	ctx, cancel := context.WithCancel(context.Background())
	_, served := serve(t, ctx, f, reactor.NopHandler{}, reactor.ShutdownTimeout(50*time.Millisecond))
	begin := time.Now()
	cancel()
	err := result(t, served)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Serve = %v; want an error wrapping context.DeadlineExceeded", err)
	}
	if took := time.Since(begin); took < 50*time.Millisecond {
		t.Errorf("Serve returned %v after the context ended; want the 50ms grace first", took)
	}
}

func TestNopHandlerConsumesEverything(t *testing.T) {
	var h reactor.Handler = reactor.NopHandler{}
	h.OnOpen(nil)
	if n, a := h.OnData(nil, []byte("abc")); n != 3 || a != reactor.None {
		t.Errorf("OnData = %d, %v; want 3, none", n, a)
	}
	h.OnClose(nil, io.EOF)
}
