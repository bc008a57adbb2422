package reactortest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// Helpers for a backend's own tests, beyond the suite: the same ways of starting, reaching and
// stopping a server, so every backend's tests mean the same by them.

// Start builds a backend with newBackend(cfg) — Addr 127.0.0.1:0 when empty — starts h on it and
// shuts it down when the test ends. It returns the backend and its address.
func Start(t testing.TB, newBackend reactor.Constructor, cfg reactor.Config, h reactor.Handler) (reactor.Backend, string) {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	b, err := newBackend(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Start(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Only the release of the server: tests that judge Shutdown call it themselves.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Shutdown(ctx)
	})
	return b, addr.String()
}

// Dial connects to addr with generous deadlines; the connection is closed when the test ends.
// Only from the test's own goroutine.
func Dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(ioTimeout))
	return c.(*net.TCPConn)
}

// EchoMany sends size random bytes over each of conns concurrent connections to an echo server
// at addr, reading while writing, and checks every byte comes back.
func EchoMany(t testing.TB, addr string, conns, size int) {
	t.Helper()
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, ioTimeout)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(ioTimeout))
			data := make([]byte, size)
			rand.New(rand.NewSource(int64(i))).Read(data)
			go func() {
				// Ends after the last chunk, or when the connection fails.
				for off := 0; off < len(data); off += 10000 {
					if _, err := c.Write(data[off:min(off+10000, len(data))]); err != nil {
						return
					}
				}
			}()
			got := make([]byte, size)
			if _, err := io.ReadFull(c, got); err != nil {
				t.Errorf("conn %d: %v", i, err)
				return
			}
			if !bytes.Equal(got, data) {
				t.Errorf("conn %d: echo differs from what was sent", i)
			}
		}()
	}
	wg.Wait()
}

// RefusedAddr returns an address on 127.0.0.1 that refuses connections: a port a listener
// held a moment ago, closed.
func RefusedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// PendingAddr returns an address at which connects stay pending (StalledAddr), or skips t,
// saying why, where none can be made.
func PendingAddr(t testing.TB) string {
	t.Helper()
	addr, why := StalledAddr(t)
	if addr == "" {
		t.Skip("no connect can be held pending here: " + why)
	}
	return addr
}

// Stop shuts b down within 10 seconds and checks that Shutdown succeeds and Wait then reports
// ErrServerClosed.
func Stop(t testing.TB, b reactor.Backend) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := b.Wait(); !errors.Is(err, reactor.ErrServerClosed) {
		t.Errorf("Wait = %v; want ErrServerClosed", err)
	}
}
