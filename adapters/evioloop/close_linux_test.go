package evioloop

import (
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// TestAbortResets: Abort cuts the stream with a reset, so that the peer's read fails with
// ECONNRESET instead of seeing a clean end of stream; from the connection's own callback and
// from another goroutine, with and without output pending.
func TestAbortResets(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write bool // the handler writes before it aborts
		async bool // Abort comes from another goroutine
	}{
		{"InCallback", false, false},
		{"AfterWrite", true, false},
		{"FromGoroutine", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := handler{data: func(c reactor.Conn, in []byte) (int, reactor.Action) {
				if tc.write {
					c.Write([]byte("lost"))
				}
				if tc.async {
					go c.Abort(nil)
				} else {
					c.Abort(nil)
				}
				return len(in), reactor.None
			}}
			_, addr := start(t, reactor.Config{}, h)
			c := reactortest.Dial(t, addr)
			c.Write([]byte("go"))
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := io.ReadAll(c)
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("the peer read to %v; want ECONNRESET", err)
			}
		})
	}
}
