package stdnet

import (
	"context"
	"fmt"

	"github.com/reactorlab/reactor/reactor"
)

// CloseWrite implements reactor.Conn: not offered by this backend yet (Info.Unsupported).
func (c *conn) CloseWrite() error {
	return fmt.Errorf("std: CloseWrite: %w", reactor.ErrNotSupported)
}

// Dial implements reactor.Conn: not offered by this backend yet (Info.Unsupported).
func (c *conn) Dial(context.Context, string, reactor.Handler) error {
	return fmt.Errorf("std: Dial: %w", reactor.ErrNotSupported)
}
