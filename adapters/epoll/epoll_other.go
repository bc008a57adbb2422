//go:build !linux

package epoll

import (
	"context"
	"fmt"
	"runtime"

	"github.com/reactorlab/reactor/reactor"
)

const (
	available         = false
	unavailableReason = "the hand-written reactor is built on Linux system calls (epoll, eventfd, accept4)"
)

// New fails on this operating system with an error wrapping reactor.ErrNotSupported.
func New(reactor.Config) (reactor.Backend, error) {
	return nil, fmt.Errorf("epoll: %w on %s: %s", reactor.ErrNotSupported, runtime.GOOS, unavailableReason)
}

// NewPoll fails on this operating system with an error wrapping reactor.ErrNotSupported.
func NewPoll(reactor.Config) (reactor.Backend, error) {
	return nil, fmt.Errorf("poll: %w on %s: %s", reactor.ErrNotSupported, runtime.GOOS, unavailableReason)
}

// NewURing fails on this operating system with an error wrapping reactor.ErrNotSupported.
func NewURing(reactor.Config) (reactor.Backend, error) {
	return nil, fmt.Errorf("uring: %w on %s: %s", reactor.ErrNotSupported, runtime.GOOS, unavailableReason)
}

func uringReason() string { return unavailableReason }

// NewSelect fails on this operating system with an error wrapping reactor.ErrNotSupported.
func NewSelect(reactor.Config) (reactor.Backend, error) {
	return nil, fmt.Errorf("select: %w on %s: %s", reactor.ErrNotSupported, runtime.GOOS, unavailableReason)
}

// NewBusyPoll fails on this operating system with an error wrapping reactor.ErrNotSupported.
func NewBusyPoll(reactor.Config) (reactor.Backend, error) {
	return nil, fmt.Errorf("busypoll: %w on %s: %s", reactor.ErrNotSupported, runtime.GOOS, unavailableReason)
}

// NewThread fails on this operating system with an error wrapping reactor.ErrNotSupported.
func NewThread(reactor.Config) (reactor.Backend, error) {
	return nil, fmt.Errorf("thread: %w on %s: %s", reactor.ErrNotSupported, runtime.GOOS, unavailableReason)
}

// ServeFD fails on this operating system with an error wrapping reactor.ErrNotSupported.
func ServeFD(context.Context, int, reactor.Config, reactor.Handler) error {
	return fmt.Errorf("epoll: ServeFD: %w on %s: %s", reactor.ErrNotSupported, runtime.GOOS, unavailableReason)
}
