//go:build !linux

package epoll

import (
	"fmt"
	"runtime"

	"github.com/reactorlab/reactor/reactor"
)

const (
	available         = false
	unavailableReason = "epoll(7) exists only on Linux"
)

// New fails on this operating system with an error wrapping reactor.ErrNotSupported.
func New(reactor.Config) (reactor.Backend, error) {
	return nil, fmt.Errorf("epoll: %w on %s: %s", reactor.ErrNotSupported, runtime.GOOS, unavailableReason)
}
