//go:build linux

package gnetloop

import (
	"fmt"

	"github.com/reactorlab/reactor/reactor"
)

// CloseWrite implements reactor.Conn: not offered by this backend yet (Info.Unsupported).
func (c *conn) CloseWrite() error {
	return fmt.Errorf("gnet: CloseWrite: %w", reactor.ErrNotSupported)
}
