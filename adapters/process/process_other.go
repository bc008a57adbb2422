//go:build !linux

package process

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"github.com/reactorlab/reactor/reactor"
)

const unavailable = "process per connection hands sockets to children on Linux only"

// Info describes the backend, which does not run on this operating system.
func Info() reactor.Info {
	return reactor.Info{Name: Name, Model: model, Progression: progression, Reason: unavailable, Unsupported: unsupported()}
}

// New fails on this operating system with an error wrapping reactor.ErrNotSupported.
func New(reactor.Config) (reactor.Backend, error) {
	return nil, fmt.Errorf("process: %w on %s: %s", reactor.ErrNotSupported, runtime.GOOS, unavailable)
}

// ServeChild fails on this operating system with an error wrapping reactor.ErrNotSupported.
func ServeChild(context.Context, *os.File, reactor.Config, reactor.Handler) error {
	return fmt.Errorf("process: %w on %s: %s", reactor.ErrNotSupported, runtime.GOOS, unavailable)
}
