// Package nativetest holds what the native baselines' tests share: starting a baseline's Serve
// on a free port, and checking that the http1 handler's time limits work through its glue.
package nativetest

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// Serve is the shape of every baseline's Serve.
type Serve func(ctx context.Context, proto, addr string, loops int) error

// Start runs serve for proto on a free loopback port with two loops and returns its address;
// the test's cleanup stops it and checks it returned nil.
func Start(t *testing.T, serve Serve, proto string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, proto, addr, 2) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve = %v; want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after ctx was done")
		}
	})
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not up: %v", err)
		}
	}
}

// TimeLimits checks, on the baseline at addr serving http with the given header and idle
// limits, that a request head left unfinished gets 408 and a close once the header limit has
// passed, and that a connection idle after a request is closed without a word once the idle
// limit has.
func TimeLimits(t *testing.T, addr string, header, idle time.Duration) {
	t.Helper()
	check := func(name, send, wantPrefix string, limit time.Duration) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(limit + 5*time.Second))
		start := time.Now()
		io.WriteString(c, send)
		got, err := io.ReadAll(bufio.NewReader(c))
		took := time.Since(start)
		if err != nil || !strings.HasPrefix(string(got), wantPrefix) {
			t.Errorf("%s: read %q, %v; want %q… then EOF", name, got, err, wantPrefix)
		}
		if took < limit {
			t.Errorf("%s: closed after %v; the limit is %v and must not strike early", name, took, limit)
		}
	}
	check("unfinished head", "GET /plaintext HTTP/1.1\r\nHost: x\r\n", "HTTP/1.1 408 Request Timeout\r\n", header)
	check("idle", "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK\r\n", idle)
}
