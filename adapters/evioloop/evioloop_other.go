//go:build !linux

package evioloop

import (
	"fmt"
	"runtime"

	"github.com/reactorlab/reactor/reactor"
)

// New fails everywhere but Linux: see Info for the reason.
func New(cfg reactor.Config) (reactor.Backend, error) {
	return nil, fmt.Errorf("evio backend on %s: %w", runtime.GOOS, reactor.ErrNotSupported)
}
