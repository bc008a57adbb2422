//go:build linux

package epoll

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/reactor"
)

// osThreads is this process's count of OS threads, from /proc.
func osThreads(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Fatal("no Threads: line in /proc/self/status")
	return 0
}

// TestThreadPerConnection: every connection the thread backend holds is an OS thread of its
// own, and the thread ends with the connection.
func TestThreadPerConnection(t *testing.T) {
	const n = 20
	b, err := NewThread(reactor.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Start(echo.Handler{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown(context.Background())
	conns := make([]net.Conn, n)
	for i := range conns {
		if conns[i], err = net.Dial("tcp", addr.String()); err != nil {
			t.Fatal(err)
		}
		conns[i].SetDeadline(time.Now().Add(10 * time.Second))
		conns[i].Write([]byte{'x'})
		if _, err := conns[i].Read(make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
	}
	// A thread per connection and the acceptor's, at the least; the runtime has a few more.
	held := osThreads(t)
	if held < n+1 {
		t.Errorf("%d OS threads with %d connections open; want at least one per connection and the acceptor's", held, n)
	}
	for _, c := range conns {
		c.Close()
	}
	// Each connection's goroutine exits locked to its thread, which ends the thread; the
	// runtime may start threads of its own meanwhile, so the count is not exact.
	srv := b.(*server)
	gone := func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.perConn) == 0
	}
	deadline := time.Now().Add(10 * time.Second)
	for !gone() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !gone() {
		t.Fatalf("connection loops still running 10s after their connections closed")
	}
	if after := osThreads(t); after > held-n/2 {
		t.Errorf("%d OS threads once the %d connections closed, %d while open; want theirs gone", after, n, held)
	}
}

// TestBusyPollWarns: a server that spins a core says so when it starts.
func TestBusyPollWarns(t *testing.T) {
	var logs syncBuffer
	b, err := NewBusyPoll(reactor.Config{Addr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Start(echo.Handler{}); err != nil {
		t.Fatal(err)
	}
	b.Shutdown(context.Background())
	if got := logs.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "spins a CPU core at 100%") {
		t.Errorf("busypoll logged %q at start; want a warning that it spins a core", got)
	}
}
