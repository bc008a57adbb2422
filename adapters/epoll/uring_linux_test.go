//go:build linux

package epoll

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// TestURingSendAfterPeerFIN: on uring, output larger than the socket takes, written to a
// connection whose peer has sent its FIN and does not read yet, waits for room without a spin
// and all of it arrives, then the end of stream. io_uring's own polls complete at once on such
// a socket (EPOLLRDHUP), and the send completed with EAGAIN, which reset the connection.
func TestURingSendAfterPeerFIN(t *testing.T) {
	if reason := uringReason(); reason != "" {
		t.Skipf("uring is not available here: %s", reason)
	}
	const size = 8 << 20
	want := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	closed := make(chan error, 1)
	h := &halfFuncs{
		funcs: funcs{close: func(_ reactor.Conn, err error) { closed <- err }},
		eof: func(c reactor.Conn) reactor.Action {
			if _, err := c.Write(want); err != nil {
				t.Errorf("Write after the peer's FIN = %v", err)
			}
			return reactor.Close
		},
	}
	_, addr := reactortest.Start(t, NewURing, reactor.Config{Loops: 1, MaxOutbound: 2 * size}, h)
	c := dial(t, addr).(*net.TCPConn)
	c.SetReadBuffer(64 << 10)
	c.CloseWrite()
	time.Sleep(100 * time.Millisecond) // the send fills the socket and has to wait
	if cpu := cpuDuring(200 * time.Millisecond); cpu > 100*time.Millisecond {
		t.Errorf("the process used %v of CPU in 200ms while a send waited for room; want no spin", cpu)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(c)
	if !bytes.Equal(got, want) || err != nil {
		t.Errorf("read %d bytes (equal: %v), then %v; want the %d written and a clean end", len(got), bytes.Equal(got, want), err, size)
	}
	if err := closeCause(t, closed); err != nil {
		t.Errorf("OnClose(%v); want nil after a Close that sent everything", err)
	}
}
