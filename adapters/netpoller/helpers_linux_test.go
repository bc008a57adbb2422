//go:build linux

package netpoller

import (
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// wait is how long a test waits for a callback before it gives up.
const wait = 5 * time.Second

// recorder is a handler that reports its callbacks on channels, for one connection.
type recorder struct {
	opened chan reactor.Conn
	data   chan string
	eof    chan struct{}
	closed chan error
	onOpen func(reactor.Conn)                // when set, runs in OnOpen
	onData func(reactor.Conn, string)        // when set, runs in OnData
	onEOF  func(reactor.Conn) reactor.Action // a halfRecorder's OnReadEOF
}

func newRecorder() *recorder {
	return &recorder{
		opened: make(chan reactor.Conn, 1),
		data:   make(chan string, 1024),
		eof:    make(chan struct{}, 1),
		closed: make(chan error, 1),
	}
}

func (r *recorder) OnOpen(c reactor.Conn) {
	r.opened <- c
	if r.onOpen != nil {
		r.onOpen(c)
	}
}

func (r *recorder) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	r.data <- string(in)
	if r.onData != nil {
		r.onData(c, string(in))
	}
	return len(in), reactor.None
}

func (r *recorder) OnClose(_ reactor.Conn, err error) { r.closed <- err }

// halfRecorder is a recorder that is a reactor.HalfCloser.
type halfRecorder struct{ *recorder }

func (h halfRecorder) OnReadEOF(c reactor.Conn) reactor.Action {
	h.eof <- struct{}{}
	if h.onEOF != nil {
		return h.onEOF(c)
	}
	return reactor.None
}

// awaitOpen returns the connection OnOpen was called with.
func (r *recorder) awaitOpen(t *testing.T) reactor.Conn {
	t.Helper()
	select {
	case c := <-r.opened:
		return c
	case err := <-r.closed:
		t.Fatalf("OnClose(%v) before any OnOpen", err)
	case <-time.After(wait):
		t.Fatal("no OnOpen")
	}
	return nil
}

// awaitData collects OnData input until it holds want.
func (r *recorder) awaitData(t *testing.T, want string) {
	t.Helper()
	got := ""
	for len(got) < len(want) {
		select {
		case s := <-r.data:
			got += s
		case <-time.After(wait):
			t.Fatalf("OnData got %q; want %q", got, want)
		}
	}
	if got != want {
		t.Fatalf("OnData got %q; want %q", got, want)
	}
}

// awaitEOF waits for OnReadEOF.
func (r *recorder) awaitEOF(t *testing.T) {
	t.Helper()
	select {
	case <-r.eof:
	case err := <-r.closed:
		r.closed <- err // for awaitClose
		select {
		case <-r.eof: // both came; OnReadEOF, which reports first, ran first
		default:
			t.Fatalf("OnClose(%v); want OnReadEOF first", err)
		}
	case <-time.After(wait):
		t.Fatal("no OnReadEOF")
	}
}

// awaitClose returns OnClose's cause.
func (r *recorder) awaitClose(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.closed:
		return err
	case <-time.After(wait):
		t.Fatal("no OnClose")
	}
	return nil
}

// noClose checks that OnClose has not been called (yet).
func (r *recorder) noClose(t *testing.T) {
	t.Helper()
	select {
	case err := <-r.closed:
		t.Fatalf("OnClose(%v); want the connection still open", err)
	default:
	}
}

// on runs f on c's owner and waits for it.
func on(t *testing.T, c reactor.Conn, f func(reactor.Conn)) {
	t.Helper()
	done := make(chan struct{})
	if err := c.Post(func(c reactor.Conn) { f(c); close(done) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("posted function did not run")
	}
}

// served starts a backend with cfg and returns a connection it accepted, as its handler sees
// it, with the peer's end; everything is released when the test ends.
func served(t *testing.T, cfg reactor.Config, r reactor.Handler, rec *recorder) (reactor.Backend, reactor.Conn, *net.TCPConn) {
	t.Helper()
	b, addr := reactortest.Start(t, New, cfg, r)
	peer := reactortest.Dial(t, addr)
	return b, rec.awaitOpen(t), peer
}

// checkNoLeaks checks, when the test ends (after the cleanups registered later, which stop
// its servers), that goroutines and descriptors are back to where they were.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)
	t.Cleanup(func() {
		deadline := time.Now().Add(wait)
		for {
			g, f := runtime.NumGoroutine(), openFDs(t)
			if g <= goroutines && f <= fds {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines and %d descriptors; want ≤ %d and ≤ %d\n%s", g, f, goroutines, fds, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// warm starts and stops a server once, so that netpoll's process-wide pollers exist before a
// test takes its baseline.
func warm(t *testing.T) {
	t.Helper()
	b, err := New(reactor.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Start(reactor.NopHandler{}); err != nil {
		t.Fatal(err)
	}
	reactortest.Stop(t, b)
}

// quietLogger drops the reports a test provokes on purpose.
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
