//go:build !linux

package nbioloop

import (
	"fmt"
	"runtime"

	"github.com/reactorlab/reactor/reactor"
)

const available = false

// New fails: the adapter is built for Linux only.
func New(cfg reactor.Config) (reactor.Backend, error) {
	return nil, fmt.Errorf("nbio: %w on %s", reactor.ErrNotSupported, runtime.GOOS)
}
