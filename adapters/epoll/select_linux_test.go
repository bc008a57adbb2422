//go:build linux

package epoll

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/reactor"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSelectRefusesPastFDSetSize: connections whose descriptor would be numbered 1024 or more
// are refused — closed at once, and logged — while those below keep being served, and the
// server accepts again once descriptors are free.
func TestSelectRefusesPastFDSetSize(t *testing.T) {
	var logs syncBuffer
	b, err := NewSelect(reactor.Config{Loops: 1, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Start(echo.Handler{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Shutdown(ctx)
	}()
	// Client and server descriptors share this process, so 700 connections carry the
	// server's descriptor numbers well past 1023.
	var served, refused []net.Conn
	start := time.Now()
	for i := 0; i < 700; i++ {
		c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("x"))
		var one [1]byte
		if _, err := io.ReadFull(c, one[:]); err == nil {
			served = append(served, c)
			continue
		} else if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "reset") {
			refused = append(refused, c)
			continue
		} else {
			t.Fatalf("connection %d neither served nor refused cleanly: %v", i, err)
		}
	}
	t.Logf("%d connections served, %d refused", len(served), len(refused))
	if len(refused) == 0 {
		t.Fatalf("700 connections in one process, and select refused none; its limit is not enforced")
	}
	// Logged, but not once per refusal: a line a second at most, counting what it held back.
	lines := strings.Count(logs.String(), "does not fit in an fd_set")
	if most := 1 + int(time.Since(start)/time.Second); lines == 0 || lines > most {
		t.Errorf("%d refusals logged in %d lines; want 1 to %d (one a second); log:\n%s", len(refused), lines, most, logs.String())
	}
	if len(refused) > lines && !strings.Contains(logs.String(), "suppressed=") {
		t.Errorf("%d refusals in %d lines, and no line says how many were held back; log:\n%s", len(refused), lines, logs.String())
	}
	// Every served connection still works.
	for i, c := range served {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("y"))
		var one [1]byte
		if _, err := io.ReadFull(c, one[:]); err != nil {
			t.Fatalf("served connection %d stopped working after the refusals: %v", i, err)
		}
	}
	// Free descriptors, and the server takes new connections again.
	for _, c := range append(served, refused...) {
		c.Close()
	}
	time.Sleep(200 * time.Millisecond)
	c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("z"))
	var one [1]byte
	if _, err := io.ReadFull(c, one[:]); err != nil || one[0] != 'z' {
		t.Fatalf("after the refusals, a new connection: %q, %v; want served", one, err)
	}
}
