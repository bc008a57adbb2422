//go:build linux

package netpoller

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"
	"syscall"
	"unsafe"

	"github.com/cloudwego/netpoll"
)

// netpoll v0.7.2 cannot stop reading a connection: its poller registers every connection for
// EPOLLIN|EPOLLRDHUP|EPOLLERR and reads whatever arrives into the connection's buffer, and
// FDOperator.Control offers no event without EPOLLIN (PollReadable and PollRW2R both have it).
// Pausing by not consuming the buffer would only move the growth into netpoll, and refusing
// the read in the operator's Inputs would spin the poller on a level-triggered event. So the
// adapter changes the registration itself, with the epoll_ctl(EPOLL_CTL_MOD) netpoll's
// Control would make, minus EPOLLIN and EPOLLRDHUP: it needs the connection's FDOperator
// (connection.operator), the poller it is registered with (FDOperator.poll) and that poller's
// epoll descriptor (defaultPoll.fd), all unexported, read here through a layout found by
// reflect and checked against the expected field types. go.mod pins netpoll v0.7.2;
// TestNetpollLayout fails if an upgrade moves them.
//
// Nothing in netpoll changes the registration back behind the adapter's back: only its writer
// (PollR2RW/PollRW2R), which the adapter does not use, and the detach at close.

// netpollLayout holds byte offsets into netpoll's unexported structs.
type netpollLayout struct {
	operator uintptr // connection.operator, a *FDOperator
	poll     uintptr // FDOperator.poll, a Poll whose dynamic type is *defaultPoll
	epfd     uintptr // defaultPoll.fd, the epoll descriptor
}

// layout is found from the first connection paused, once per process.
var layout struct {
	once sync.Once
	netpollLayout
	err error
}

// inspect finds the layout from nc, one of netpoll's registered connections.
func inspect(nc netpoll.Connection) (netpollLayout, error) {
	var l netpollLayout
	ct := reflect.TypeOf(nc)
	bad := func(what string) (netpollLayout, error) {
		return netpollLayout{}, fmt.Errorf("netpoll: %v is not netpoll v0.7.2's connection: %s", ct, what)
	}
	field := func(s reflect.Type, name string, want reflect.Type) (uintptr, bool) {
		if s.Kind() != reflect.Pointer || s.Elem().Kind() != reflect.Struct {
			return 0, false
		}
		f, ok := s.Elem().FieldByName(name)
		return f.Offset, ok && len(f.Index) == 1 && f.Type == want
	}
	var ok bool
	if l.operator, ok = field(ct, "operator", reflect.TypeFor[*netpoll.FDOperator]()); !ok {
		return bad("want operator *FDOperator")
	}
	if l.poll, ok = field(reflect.TypeFor[*netpoll.FDOperator](), "poll", reflect.TypeFor[netpoll.Poll]()); !ok {
		return bad("its FDOperator wants poll Poll")
	}
	p := l.pollOf(l.operatorOf(nc))
	if p == nil {
		return bad("its FDOperator is not registered with a poller")
	}
	if l.epfd, ok = field(reflect.TypeOf(p), "fd", reflect.TypeFor[int]()); !ok {
		return bad(fmt.Sprintf("its poller %T wants fd int", p))
	}
	return l, nil
}

func (l *netpollLayout) operatorOf(nc netpoll.Connection) *netpoll.FDOperator {
	return *(**netpoll.FDOperator)(unsafe.Add(reflect.ValueOf(nc).UnsafePointer(), l.operator))
}

func (l *netpollLayout) pollOf(op *netpoll.FDOperator) netpoll.Poll {
	return *(*netpoll.Poll)(unsafe.Add(unsafe.Pointer(op), l.poll))
}

func (l *netpollLayout) epollFD(p netpoll.Poll) int {
	return *(*int)(unsafe.Add(reflect.ValueOf(p).UnsafePointer(), l.epfd))
}

// watchInput sets the epoll interest of nc, whose descriptor is fd, to what netpoll registers
// (EPOLLIN|EPOLLRDHUP|EPOLLERR) or to EPOLLERR alone. Without EPOLLRDHUP a peer's end of stream
// waits in the kernel behind the unread input instead of closing the connection ahead of it;
// EPOLLHUP, which epoll always reports, and EPOLLERR still close it on a reset. The event's
// data is what netpoll's poller expects back (epollData). The caller keeps the descriptor from
// being closed meanwhile. A registration already removed (ENOENT: the poller saw a hang-up
// and the close is on its way) is left alone.
func watchInput(nc netpoll.Connection, fd int, on bool) error {
	layout.once.Do(func() { layout.netpollLayout, layout.err = inspect(nc) })
	if layout.err != nil {
		return layout.err
	}
	op := layout.operatorOf(nc)
	p := layout.pollOf(op)
	if p == nil {
		return nil // detached: netpoll is closing the connection
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLERR}
	if on {
		ev.Events |= syscall.EPOLLIN | syscall.EPOLLRDHUP
	}
	// syscall.EpollEvent's Fd and Pad are the 8 bytes of epoll_data, little-endian.
	d := epollData(op, fd)
	ev.Fd, ev.Pad = int32(uint32(d)), int32(uint32(d>>32))
	err := syscall.EpollCtl(layout.epollFD(p), syscall.EPOLL_CTL_MOD, fd, &ev)
	if err != nil && !errors.Is(err, syscall.ENOENT) {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}
