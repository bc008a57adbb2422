package kv_test

import (
	"bufio"
	"io"
	"testing"
	"time"

	"github.com/reactorlab/reactor/adapters"
	"github.com/reactorlab/reactor/examples/kv"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// TestOnEveryBackend serves kv over real sockets on every backend that runs here, with the
// order of its callbacks checked.
func TestOnEveryBackend(t *testing.T) {
	reactortest.ForEachBackend(t, adapters.Registry(), func(t *testing.T, newBackend reactor.Constructor) {
		t.Run("shared store", func(t *testing.T) {
			oc := reactortest.NewOrderChecker(kv.New(kv.Config{}))
			b, addr := reactortest.Start(t, newBackend, reactor.Config{}, oc)
			a, c := reactortest.Dial(t, addr), reactortest.Dial(t, addr)
			ask(t, a, "SET greeting hello, world\n", "OK\n")
			ask(t, c, "GET greeting\n", "VALUE hello, world\n")
			ask(t, c, "QUIT\n", "BYE\n")
			a.Close()
			reactortest.Stop(t, b) // every OnClose has run once Shutdown returns
			if opened, closed := oc.Counts(); opened != 2 || closed != 2 {
				t.Errorf("%d opened, %d closed; want 2 and 2", opened, closed)
			}
			oc.Check(t)
		})
		t.Run("idle close", func(t *testing.T) {
			// The idle timer starts at the server's accept, which the test cannot see: start
			// counts from before the dial, and the limit leaves room for the test goroutine to
			// be descheduled between the dial and its first write (seen under -race at load 20
			// with 50 ms: the server said BYE before the SET arrived).
			const limit = 250 * time.Millisecond
			oc := reactortest.NewOrderChecker(kv.New(kv.Config{IdleTimeout: limit}))
			b, addr := reactortest.Start(t, newBackend, reactor.Config{}, oc)
			start := time.Now()
			c := reactortest.Dial(t, addr)
			io.WriteString(c, "SET a 1\n")
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(c) // until the server closes
			if want := "OK\nBYE idle\n"; string(got) != want || err != nil {
				t.Errorf("read %q, %v; want %q, then EOF", got, err, want)
			}
			if quiet := time.Since(start); quiet < limit {
				t.Errorf("closed after %v; want at least %v", quiet, limit)
			}
			reactortest.Stop(t, b)
			oc.Check(t)
		})
	})
}

// ask sends a request line and checks the one answer line.
func ask(t *testing.T, c io.ReadWriter, req, want string) {
	t.Helper()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatalf("send %q: %v", req, err)
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if got != want || err != nil {
		t.Fatalf("sent %q, read %q, %v; want %q", req, got, err, want)
	}
}
