package evionative

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// freeAddr finds a loopback port nobody listens on (Serve takes a fixed address).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serve runs Serve in the background and returns a function that stops it and checks it
// returned nil.
func serve(t *testing.T, proto string) (addr string, stop func()) {
	t.Helper()
	addr = freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, proto, addr, 2) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not up: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return addr, func() {
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

func TestEcho(t *testing.T) {
	base := runtime.NumGoroutine()
	addr, stop := serve(t, "echo")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := strings.Repeat("0123456789", 10000)
	go io.WriteString(c, msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo: %v (equal %v)", err, string(got) == msg)
	}
	c.Close()
	stop()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Errorf("%d goroutines after Serve returned; want ≤ %d", n, base)
	}
}

// TestHTTPPipelined: requests split at every byte and pipelined come back in order.
func TestHTTPPipelined(t *testing.T) {
	addr, stop := serve(t, "http")
	defer stop()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := strings.Repeat("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n", 5)
	go func() {
		for i := 0; i < len(req); i++ {
			c.Write([]byte{req[i]})
		}
	}()
	r := bufio.NewReader(c)
	for i := 0; i < 5; i++ {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "Hello, World!" {
			t.Fatalf("response %d: %d %q", i, resp.StatusCode, body)
		}
	}
}

func TestUnknownProto(t *testing.T) {
	if err := Serve(context.Background(), "gopher", "127.0.0.1:0", 1); err == nil {
		t.Error("Serve with an unknown protocol returned nil")
	}
	if err := Serve(context.Background(), "echo", "256.0.0.1:1", 1); err == nil {
		t.Errorf("Serve on a bad address = %v; want an error", err)
	}
}
