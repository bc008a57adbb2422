package epoll

import (
	"context"
	"fmt"

	"github.com/reactorlab/reactor/reactor"
)

// Dial implements reactor.Conn: not offered by this backend yet (Info.Unsupported).
func (c *conn) Dial(context.Context, string, reactor.Handler) error {
	return fmt.Errorf("epoll: Dial: %w", reactor.ErrNotSupported)
}
