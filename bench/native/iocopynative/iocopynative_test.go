package iocopynative

import (
	"bytes"
	"context"
	"io"
	"net"
	"runtime"
	"slices"
	"testing"
	"time"
)

// echoUpstream echoes every byte and half-closes at the client's end of stream, as an echo
// server behind a proxy should; it stops with the test.
func echoUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// start runs Serve towards upstreams and returns its address and a stop that checks it
// returned nil.
func start(t *testing.T, upstreams ...string) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, addr, upstreams) }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy not up: %v", err)
		}
	}
	return addr, func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve = %v; want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return after ctx was done")
		}
	}
}

func TestRelaysBothWaysAndPassesTheEnd(t *testing.T) {
	addr, stop := start(t, echoUpstream(t))
	defer stop()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	want := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB, more than any buffer
	go func() {
		c.Write(want)
		// The half-close travels through the proxy to the upstream, whose own end comes
		// back the same way, after the last echoed byte.
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading to the end: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes back, want the %d sent, unchanged", len(got), len(want))
	}
}

func TestTakesUpstreamsInTurn(t *testing.T) {
	// Two upstreams that each answer with their own name and close.
	names := []string{"a", "b"}
	var ups []string
	for _, n := range names {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				io.WriteString(c, n)
				c.Close()
			}
		}()
		ups = append(ups, ln.Addr().String())
	}
	addr, stop := start(t, ups...)
	defer stop()
	// start's readiness check took the first upstream in turn, so the next is b.
	var got []string
	for range 4 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		c.Close()
		got = append(got, string(b))
	}
	if want := []string{"b", "a", "b", "a"}; !slices.Equal(got, want) {
		t.Errorf("upstreams in turn: %q; want %q", got, want)
	}
}

func TestStopClosesLiveConnections(t *testing.T) {
	base := runtime.NumGoroutine()
	addr, stop := start(t, echoUpstream(t))
	var conns []net.Conn
	for range 10 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	stop()
	for _, c := range conns {
		if n, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("read %d bytes from a connection of a stopped proxy; want its end", n)
		}
	}
	// The upstream's goroutines end once the proxy's side closes; the proxy's own have.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base+1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base+1 {
		t.Errorf("%d goroutines after stop; want at most %d (the upstream's accept loop)", n, base+1)
	}
}

func TestNoUpstream(t *testing.T) {
	if err := Serve(context.Background(), "127.0.0.1:0", nil); err == nil {
		t.Fatal("Serve with no upstream = nil; want an error")
	}
}
