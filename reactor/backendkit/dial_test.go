package backendkit

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

func TestDialErrorWrapsBoth(t *testing.T) {
	err := DialError("127.0.0.1:1", syscall.ECONNREFUSED)
	if !errors.Is(err, reactor.ErrDialFailed) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("%v: want both ErrDialFailed and ECONNREFUSED found by errors.Is", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("%q: want the address and the reason", err)
	}
}

func TestCheckDialAddr(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:80", "[::1]:65535", "localhost:7000", ":9"} {
		if err := CheckDialAddr(ok); err != nil {
			t.Errorf("CheckDialAddr(%q) = %v; want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "host:http", "[::1:80"} {
		if err := CheckDialAddr(bad); err == nil {
			t.Errorf("CheckDialAddr(%q) = nil; want an error", bad)
		}
	}
}

func TestDialTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	c, err := DialTCP(context.Background(), time.Second, addr)
	if err != nil {
		t.Fatalf("DialTCP to a listener: %v", err)
	}
	c.Close()
	ln.Close()
	if _, err := DialTCP(context.Background(), time.Second, addr); !errors.Is(err, reactor.ErrDialFailed) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("DialTCP to a closed port: %v; want ErrDialFailed and ECONNREFUSED", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := DialTCP(ctx, time.Second, "127.0.0.1:9"); !errors.Is(err, reactor.ErrDialFailed) || !errors.Is(err, context.Canceled) {
		t.Errorf("DialTCP with a cancelled context: %v; want ErrDialFailed and context.Canceled", err)
	}
}

// A connect whose socket deadline fires before its context's is reported by net with the
// poller's timeout alone; DialTCP's error names context.DeadlineExceeded all the same.
func TestDialTimeoutIsDeadlineExceeded(t *testing.T) {
	raw := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	err := DialError("127.0.0.1:1", namedDeadline(raw))
	for _, want := range []error{reactor.ErrDialFailed, context.DeadlineExceeded, os.ErrDeadlineExceeded} {
		if !errors.Is(err, want) {
			t.Errorf("%v: errors.Is(err, %v) = false; want true", err, want)
		}
	}
	if got, want := err.Error(), "reactor: dial 127.0.0.1:1: "+raw.Error(); got != want {
		t.Errorf("message %q; want %q", got, want)
	}
	if err := namedDeadline(syscall.ECONNREFUSED); errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("namedDeadline(ECONNREFUSED) = %v, a deadline; want it as it was", err)
	}
}

func TestDialTCPGivesCtxCause(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(reactor.ErrServerClosed)
	if _, err := DialTCP(ctx, time.Second, "127.0.0.1:9"); !errors.Is(err, reactor.ErrDialFailed) || !errors.Is(err, reactor.ErrServerClosed) {
		t.Errorf("DialTCP with a context cancelled by Shutdown: %v; want ErrDialFailed and ErrServerClosed", err)
	}
}
