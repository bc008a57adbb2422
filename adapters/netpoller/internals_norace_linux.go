//go:build linux && !race

package netpoller

import (
	"unsafe"

	"github.com/cloudwego/netpoll"
)

// epollData is the epoll_data netpoll v0.7.2's poller expects for op: the operator's address
// (setOperator in its poll_default_linux_norace.go). netpoll keeps op alive while registered.
func epollData(op *netpoll.FDOperator, _ int) uint64 { return uint64(uintptr(unsafe.Pointer(op))) }

// registerOperator does nothing: without the race detector netpoll's poller finds the operator
// from the event's data alone.
func registerOperator(*netpollLayout, netpoll.Poll, *netpoll.FDOperator, int, bool) {}
