package reactortest

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/reactor"
)

// testRestartSamePort: a server that shuts down while a peer still holds a connection that
// carried data can be started again on the same port at once (the old connection's socket
// lingers in the kernel; SO_REUSEADDR lets the new listener bind past it). A bind that fails
// because the port is taken says which address it was.
func (s *suite) testRestartSamePort(t *testing.T) {
	first := s.start(t, reactor.Config{}, echo.Handler{})
	held := first.dial(t) // kept open by this peer across the restart
	echoOnce(t, held, 'h')

	// A port held by a listener without SO_REUSEPORT, so that binding it fails even for a
	// backend configured to share ports.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	other, err := s.newBackend(reactor.Config{Addr: taken.Addr().String(), Loops: 2})
	if err != nil {
		t.Fatalf("constructing backend: %v", err)
	}
	_, err = other.Start(echo.Handler{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	other.Shutdown(ctx) // releases whatever a failed Start may hold
	cancel()
	if err == nil {
		t.Errorf("a server started on %s, which a listener holds; want a bind error", taken.Addr())
	} else if !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Errorf("bind error %q does not name the address %s", err, taken.Addr())
	}

	first.shutdown()
	second := s.start(t, reactor.Config{Addr: first.addr}, echo.Handler{})
	echoOnce(t, second.dial(t), 'r')
}

// echoOnce sends b and expects it back.
func echoOnce(t *testing.T, c net.Conn, b byte) {
	t.Helper()
	c.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := c.Write([]byte{b}); err != nil {
		t.Errorf("write: %v", err)
		return
	}
	if got := readFull(t, c, 1); len(got) == 1 && got[0] != b {
		t.Errorf("echo: got %q; want %q", got, b)
	}
}
