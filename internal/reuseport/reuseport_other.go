//go:build !linux

package reuseport

import (
	"fmt"
	"net"
	"runtime"

	"github.com/reactorlab/reactor/reactor"
)

func setReusePort(uintptr) error {
	return fmt.Errorf("SO_REUSEPORT on %s: %w", runtime.GOOS, reactor.ErrNotSupported)
}

// Reserve is not supported off Linux.
func Reserve(string) (*net.TCPAddr, func() error, error) {
	return nil, nil, fmt.Errorf("port reservation on %s: %w", runtime.GOOS, reactor.ErrNotSupported)
}

// CheckFree is not supported off Linux, where this package offers no SO_REUSEPORT to guard.
func CheckFree(string) error {
	return fmt.Errorf("SO_REUSEPORT on %s: %w", runtime.GOOS, reactor.ErrNotSupported)
}
