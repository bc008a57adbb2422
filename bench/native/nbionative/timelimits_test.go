//go:build linux

package nbionative

import (
	"testing"
	"time"

	"github.com/reactorlab/reactor/bench/native/internal/nativetest"
	"github.com/reactorlab/reactor/protocols/http1"
)

// TestTimeLimits: the handler's time limits, kept by timers run through the glue, strike on
// this library too.
func TestTimeLimits(t *testing.T) {
	httpConfig = http1.Config{HeaderTimeout: 300 * time.Millisecond, IdleTimeout: 600 * time.Millisecond}
	t.Cleanup(func() { httpConfig = http1.Config{} })
	nativetest.TimeLimits(t, nativetest.Start(t, Serve, "http"), 300*time.Millisecond, 600*time.Millisecond)
}
