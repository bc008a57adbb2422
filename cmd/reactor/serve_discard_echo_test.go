package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/reactorlab/reactor/adapters"
)

// A client that only sends is never stalled by `serve --proto discard`, on any backend: it
// writes twice the ~8 MB at which echo's backpressure stops such a client, then gets the end
// of the stream and not one byte.
func TestServeDiscardNeverStallsASender(t *testing.T) {
	reg := adapters.Registry()
	chunk := make([]byte, 64<<10)
	const total = 16 << 20
	for _, name := range reg.Names() {
		t.Run(name, func(t *testing.T) {
			info, _ := reg.Info(name)
			if !info.Available {
				t.Skipf("%s is not available here: %s", name, info.Reason)
			}
			_, addr, _ := startServe(t, "--backend", name, "--proto", "discard", "--addr", "127.0.0.1:0")
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			for sent := 0; sent < total; sent += len(chunk) {
				if _, err := c.Write(chunk); err != nil {
					t.Fatalf("after %d bytes: %v", sent, err)
				}
			}
			c.(*net.TCPConn).CloseWrite()
			n, err := io.Copy(io.Discard, c)
			if n != 0 || err != nil {
				t.Errorf("read back %d bytes, %v; want none, then the end of the stream", n, err)
			}
		})
	}
}

// --echo-tag shows who served each reply: this process's ID (serve runs in the test's process),
// an OS thread's, and the loop that owns the connection, which epoll deals in turn.
func TestServeEchoTags(t *testing.T) {
	roundTrip := func(t *testing.T, addr, msg string) string {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, msg+"\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatalf("reply %q: %v", line, err)
		}
		return line
	}
	t.Run("pid", func(t *testing.T) {
		_, addr, _ := startServe(t, "--backend", "std", "--proto", "echo", "--echo-tag", "pid", "--addr", "127.0.0.1:0")
		if got, want := roundTrip(t, addr, "hello"), strconv.Itoa(os.Getpid())+": hello\n"; got != want {
			t.Errorf("reply %q; want %q", got, want)
		}
	})
	t.Run("thread", func(t *testing.T) {
		linuxOnly(t)
		_, addr, _ := startServe(t, "--backend", "epoll", "--proto", "echo", "--echo-tag", "thread", "--addr", "127.0.0.1:0")
		if got := roundTrip(t, addr, "hello"); !regexp.MustCompile(`^[1-9][0-9]*: hello\n$`).MatchString(got) {
			t.Errorf("reply %q; want a thread ID, then the line", got)
		}
	})
	t.Run("loop", func(t *testing.T) {
		linuxOnly(t)
		_, addr, _ := startServe(t, "--backend", "epoll", "--loops", "2", "--proto", "echo", "--echo-tag", "loop", "--addr", "127.0.0.1:0")
		seen := map[string]bool{}
		for range 4 {
			seen[roundTrip(t, addr, "hi")] = true
		}
		if len(seen) != 2 || !seen["0: hi\n"] || !seen["1: hi\n"] {
			t.Errorf("replies %v; want loops 0 and 1 in turn", seen)
		}
	})
	t.Run("loop-without-loops", func(t *testing.T) {
		_, addr, _ := startServe(t, "--backend", "std", "--proto", "echo", "--echo-tag", "loop", "--addr", "127.0.0.1:0")
		if got, want := roundTrip(t, addr, "hi"), "echo: this backend does not report event loops; --echo-tag loop works on epoll, poll and select\n"; got != want {
			t.Errorf("reply %q; want %q", got, want)
		}
	})
}

// linuxOnly skips what needs Linux: epoll, gettid(2).
func linuxOnly(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("needs Linux (epoll, gettid); this is %s", runtime.GOOS)
	}
}
