//go:build linux && poll_opt

package gnetloop

import (
	"fmt"

	"github.com/panjf2000/gnet/v2"

	"github.com/reactorlab/reactor/reactor"
)

// watch refuses: built with -tags poll_opt, gnet's epoll events carry a pointer to its own
// state instead of the descriptor, which the adapter cannot make, so PauseRead cannot edit
// the entry without breaking gnet's loop.
func watch(gnet.Conn, uint32) error {
	return fmt.Errorf("gnet: PauseRead with gnet built with -tags poll_opt: %w", reactor.ErrNotSupported)
}
