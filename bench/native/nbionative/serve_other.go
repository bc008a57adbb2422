//go:build !linux

package nbionative

import (
	"context"
	"fmt"
	"runtime"

	"github.com/reactorlab/reactor/reactor"
)

// Serve fails: the baseline, like the adapter, is built for Linux only.
func Serve(ctx context.Context, proto, addr string, loops int) error {
	return fmt.Errorf("nbionative: %w on %s", reactor.ErrNotSupported, runtime.GOOS)
}
