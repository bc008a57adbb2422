//go:build linux

package epoll

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/protocols/http1"
	"github.com/reactorlab/reactor/reactor"
)

// The allocation tests drive a real loop over loopback from the test's goroutine. What they
// count is every allocation in the process while the round trips run — the client's net.Conn
// calls (which allocate nothing with preallocated buffers) and the server's loop alike — so a
// zero is a zero for the loop. testing.AllocsPerRun reports the mean rounded down; the tests
// also check the raw total so that a stray allocation every few hundred trips shows up.

// allocBackend makes the server the allocation tests drive: epoll, or uring under
// TestAllocsURing.
var allocBackend reactor.Constructor = New

// TestAllocsURing runs the allocation tests on the completion mechanism: its steady state —
// receives into provided buffers, sends in flight, completions reaped — allocates nothing
// either.
func TestAllocsURing(t *testing.T) {
	if reason := uringReason(); reason != "" {
		t.Skipf("uring is not available here: %s", reason)
	}
	allocBackend = NewURing
	defer func() { allocBackend = New }()
	t.Run("EchoRoundTrip", TestAllocsEchoRoundTrip)
	t.Run("PipelinedHTTP", TestAllocsPipelinedHTTP)
	t.Run("AsyncWriteThenWrite", TestAllocsAsyncWriteThenWrite)
	t.Run("Post", TestAllocsPost)
	t.Run("AfterFunc", TestAllocsAfterFunc)
}

func startForAllocs(t *testing.T, h reactor.Handler) net.Conn {
	t.Helper()
	return startCounting(t, h, nil)
}

// startCounting is startForAllocs with the server counting into st (nil: not counting).
func startCounting(t *testing.T, h reactor.Handler, st *reactor.Stats) net.Conn {
	t.Helper()
	b, err := allocBackend(reactor.Config{Addr: "127.0.0.1:0", Loops: 1, Stats: st})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Start(h)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	// A deadline set once, outside the measured function: a stuck loop fails the test.
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

// checkAllocs runs f warm-up times, then measures it.
func checkAllocs(t *testing.T, what string, f func()) {
	t.Helper()
	checkAllocsN(t, what, 0, f)
}

// checkAllocsN is checkAllocs for a path that allocates want times per run.
func checkAllocsN(t *testing.T, what string, want int, f func()) {
	t.Helper()
	const runs = 500
	for i := 0; i < 200; i++ {
		f() // fill the pools and grow the loop's slices to their working size
	}
	if avg := testing.AllocsPerRun(runs, f); avg != float64(want) {
		t.Errorf("%s: %v allocations per run; want %d", what, avg, want)
	}
	total := testing.AllocsPerRun(1, func() {
		for i := 0; i < runs; i++ {
			f()
		}
	})
	// A few allocations by the runtime itself (a timer, a goroutine of the testing package)
	// may land in a window this long; a per-trip allocation would give at least runs more.
	if total > float64(want*runs+4) {
		t.Errorf("%s: %v allocations in %d runs; want %d", what, total, runs, want*runs)
	}
}

func TestAllocsEchoRoundTrip(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race (sync.Pool drops items)")
	}
	c := startForAllocs(t, echo.Handler{})
	msg := []byte(strings.Repeat("0123456789abcdef", 64)) // 1 KiB
	got := make([]byte, len(msg))
	checkAllocs(t, "echo round trip of 1 KiB", func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
	})
	if string(got) != string(msg) {
		t.Fatalf("echo returned %q; want the message", got[:32])
	}
}

// TestAllocsPipelinedHTTP sends five pipelined requests per run in two writes that split a
// request between them, so the loop keeps an unconsumed tail across reads each run.
func TestAllocsPipelinedHTTP(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race (sync.Pool drops items)")
	}
	t.Run("plain", func(t *testing.T) { allocsPipelinedHTTP(t, false) })
	// What serve --metrics-addr turns on: the backend's Stats and http's latency histogram.
	t.Run("counting", func(t *testing.T) { allocsPipelinedHTTP(t, true) })
}

func allocsPipelinedHTTP(t *testing.T, counting bool) {
	h := http1.New(http1.Config{Timing: counting})
	t.Cleanup(h.Close)
	var st *reactor.Stats
	if counting {
		st = new(reactor.Stats)
	}
	c := startCounting(t, h, st)
	const req = "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

	// Learn the length of one response (it does not change: Date has a fixed width).
	io.WriteString(c, req)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "Hello, World!" {
		t.Fatalf("got %d %q; want 200 Hello, World!", resp.StatusCode, body)
	}
	var head strings.Builder
	resp.Header.Write(&head) // only to size the reply: status line + headers + blank line
	size := len("HTTP/1.1 200 OK\r\n") + head.Len() + len("\r\n") + len(body)
	if br.Buffered() != 0 {
		t.Fatalf("%d unexpected bytes after the first response", br.Buffered())
	}

	half := len(req) / 2
	partA := []byte(req + req + req[:half])
	partB := []byte(req[half:] + req + req)
	got := make([]byte, 3*size)
	checkAllocs(t, "5 pipelined requests split across reads", func() {
		if _, err := c.Write(partA); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got[:2*size]); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(partB); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got[:3*size]); err != nil {
			t.Fatal(err)
		}
	})
	if !strings.HasPrefix(string(got), "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(string(got), "Hello, World!") {
		t.Fatalf("unexpected responses: %q", got)
	}
}

// asyncThenWrite echoes the first half of what it reads with AsyncWrite, the rest with Write.
type asyncThenWrite struct{}

func (asyncThenWrite) OnOpen(reactor.Conn) {}
func (asyncThenWrite) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	half := len(in) / 2
	c.AsyncWrite(in[:half])
	c.Write(in[half:])
	return len(in), reactor.None
}
func (asyncThenWrite) OnClose(reactor.Conn, error) {}

// TestAllocsAsyncWriteThenWrite pins the path where Write finds AsyncWrite bytes of its own
// connection still in the inbox and moves them ahead of its own.
func TestAllocsAsyncWriteThenWrite(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race (sync.Pool drops items)")
	}
	c := startForAllocs(t, asyncThenWrite{})
	msg := make([]byte, 1024)
	for i := range msg {
		msg[i] = byte(i % 251) // halves that differ, so that a swap shows
	}
	got := make([]byte, len(msg))
	checkAllocs(t, "AsyncWrite then Write of 1 KiB", func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
	})
	if !bytes.Equal(got, msg) {
		t.Fatalf("got %v…; want the message in order, the AsyncWrite half first", got[:8])
	}
}

// TestAllocsPost pins Post from another goroutine: the function (made once, as a caller that
// cares would) rides in the inbox, and the reply it writes goes out from the loop.
func TestAllocsPost(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race (sync.Pool drops items)")
	}
	conns := make(chan reactor.Conn, 1)
	c := startForAllocs(t, &funcs{open: func(c reactor.Conn) { conns <- c }})
	sc := <-conns
	reply := []byte("posted")
	write := func(c reactor.Conn) { c.Write(reply) }
	got := make([]byte, len(reply))
	checkAllocs(t, "Post of a function that writes", func() {
		if err := sc.Post(write); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAllocsAfterFunc pins a timer's two paths — armed and stopped (a per-request timeout
// reset), armed and fired — at the one allocation of its stop function; the node is
// recycled.
func TestAllocsAfterFunc(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race (sync.Pool drops items)")
	}
	reply := []byte("t")
	fire := func(c reactor.Conn) { c.Write(reply) }
	never := func(reactor.Conn) {}
	c := startForAllocs(t, &funcs{data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
		c.AfterFunc(time.Minute, never)() // armed and stopped at once
		c.AfterFunc(0, fire)
		return len(in), reactor.None
	}})
	msg, got := []byte("x"), make([]byte, 1)
	checkAllocsN(t, "AfterFunc and stop, then AfterFunc that fires", 2, func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
	})
}
