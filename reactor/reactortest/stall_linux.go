//go:build linux

package reactortest

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
)

// stalledListener returns the address of a listener on 127.0.0.1 at which connects stay
// pending: its accept queue is cut to the shortest there is (listen(2) again, backlog 0) and
// filled, after which Linux drops the SYNs of further connects instead of answering them, and
// their retransmissions too. It makes sure a probe's connect does stall; when it does not
// (another kernel, a network stack of its own), it returns "" and why, for the scenarios that
// need one to skip with. Everything is closed when the test ends.
func stalledListener(t *testing.T) (addr, why string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = syscall.Listen(int(fd), 0) }); err != nil || lerr != nil {
		return "", fmt.Sprintf("shortening the accept queue: %v", errors.Join(err, lerr))
	}
	addr = ln.Addr().String()
	// Backlog 0 admits one connection to the queue; the probes fill it, and the first one that
	// times out shows the queue full.
	for i := 0; i < 4; i++ {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return addr, ""
			}
			return "", fmt.Sprintf("connecting to a listener with a full accept queue: %v", err)
		}
		t.Cleanup(func() { c.Close() })
	}
	return "", "4 connects to a listener with backlog 0, never accepting, all succeeded"
}
