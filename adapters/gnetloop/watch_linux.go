//go:build linux && !poll_opt

package gnetloop

import (
	"os"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// watch sets the events gnet's loop waits for on gc's socket, as gnet's Poller.Mod* do: the
// event carries the descriptor, which is how the loop finds the connection. Loop only.
func watch(gc gnet.Conn, events uint32) error {
	fd := gc.Fd()
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	return os.NewSyscallError("epoll_ctl", unix.EpollCtl(epollFD(gc), unix.EPOLL_CTL_MOD, fd, &ev))
}
