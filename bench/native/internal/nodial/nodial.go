// Package nodial gives the native baselines' glues the two contract points they leave out:
// they exist to measure a library's serving path, which never half-closes or dials.
package nodial

import (
	"context"
	"fmt"

	"github.com/reactorlab/reactor/reactor"
)

// Unsupported, embedded in a glue, answers CloseWrite and Dial with ErrNotSupported.
type Unsupported struct{}

// CloseWrite implements reactor.Conn: not supported by a native baseline.
func (Unsupported) CloseWrite() error {
	return fmt.Errorf("native baseline: CloseWrite: %w", reactor.ErrNotSupported)
}

// Dial implements reactor.Conn: not supported by a native baseline.
func (Unsupported) Dial(context.Context, string, reactor.Handler) error {
	return fmt.Errorf("native baseline: Dial: %w", reactor.ErrNotSupported)
}
