package backendkit

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// TestDialTCPDeadline: a dial that times out, by the timeout or by ctx's deadline, is reported
// with context.DeadlineExceeded, whichever of net's two timers (the context's, the poller's)
// notices first. The target is a listener whose queue is full: the kernel drops the SYNs.
func TestDialTCPDeadline(t *testing.T) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}).String()
	full := false
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			full = true
			break
		}
		defer c.Close()
	}
	if !full {
		t.Skip("could not fill a listener's queue")
	}
	for i := range 20 {
		ctx, timeout := context.Background(), 5*time.Millisecond
		if i%2 == 1 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
			timeout = time.Minute
		}
		_, err := DialTCP(ctx, timeout, addr)
		if !errors.Is(err, reactor.ErrDialFailed) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("try %d: %v; want ErrDialFailed and context.DeadlineExceeded", i, err)
		}
	}
}
