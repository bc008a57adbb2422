//go:build linux && race

package netpoller

import (
	"reflect"
	"sync"
	"unsafe"

	"github.com/cloudwego/netpoll"
)

// epollData is the epoll_data netpoll v0.7.2's poller expects under the race detector: the
// descriptor, which its poller looks up in a map (setOperator in its
// poll_default_linux_race.go).
func epollData(_ *netpoll.FDOperator, fd int) uint64 { return uint64(uint32(int32(fd))) }

// registerOperator puts op in (on) or takes it out of the map by descriptor that p's poller
// finds operators in under the race detector, as netpoll's setOperator and delOperator do.
func registerOperator(l *netpollLayout, p netpoll.Poll, op *netpoll.FDOperator, fd int, on bool) {
	if on {
		l.opsOf(p).Store(fd, op)
	} else {
		l.opsOf(p).Delete(fd)
	}
}

// opsOf is p's map of operators by descriptor.
func (l *netpollLayout) opsOf(p netpoll.Poll) *sync.Map {
	return (*sync.Map)(unsafe.Add(reflect.ValueOf(p).UnsafePointer(), l.ops))
}
