//go:build linux

package netpoller

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
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
// TestNetpollLayout fails if an upgrade moves them, and TestReadWindow if netpoll's poller no
// longer reads through the operator's Inputs and InputAck (window_linux.go).
//
// Nothing in netpoll changes the registration back behind the adapter's back: only its writer
// (PollR2RW/PollRW2R), which the adapter does not use, and the detach at close.

// netpollLayout holds byte offsets into netpoll's unexported structs.
type netpollLayout struct {
	conn     reflect.Type // netpoll's *connection
	operator uintptr      // connection.operator, a *FDOperator
	poll     uintptr      // FDOperator.poll, a Poll whose dynamic type is *defaultPoll
	state    uintptr      // FDOperator.state, an int32: 1 while registered, 2 while its poller handles it
	detached uintptr      // FDOperator.detached, an int32: PollDetach acts only when it goes from 0 to 1
	epfd     uintptr      // defaultPoll.fd, the epoll descriptor
	ops      uintptr      // defaultPoll.m, the sync.Map its poller finds operators in under the race detector
}

// layout is found from the first connection that needs it, once per process.
var layout struct {
	once sync.Once
	netpollLayout
	err error
}

// layoutOf returns the layout, finding it from nc the first time, and nc's FDOperator.
func layoutOf(nc netpoll.Connection) (*netpollLayout, *netpoll.FDOperator, error) {
	layout.once.Do(func() { layout.netpollLayout, layout.err = inspect(nc) })
	if layout.err != nil {
		return nil, nil, layout.err
	}
	if ct := reflect.TypeOf(nc); ct != layout.conn {
		return nil, nil, fmt.Errorf("netpoll: %v is not %v, the connection netpoll's layout was read from", ct, layout.conn)
	}
	return &layout.netpollLayout, layout.operatorOf(nc), nil
}

// inspect finds the layout from nc, one of netpoll's registered connections.
func inspect(nc netpoll.Connection) (netpollLayout, error) {
	l := netpollLayout{conn: reflect.TypeOf(nc)}
	bad := func(what string) (netpollLayout, error) {
		return netpollLayout{}, fmt.Errorf("netpoll: %v is not netpoll v0.7.2's connection: %s", l.conn, what)
	}
	field := func(s reflect.Type, name string, want reflect.Type) (uintptr, bool) {
		if s.Kind() != reflect.Pointer || s.Elem().Kind() != reflect.Struct {
			return 0, false
		}
		f, ok := s.Elem().FieldByName(name)
		return f.Offset, ok && len(f.Index) == 1 && f.Type == want
	}
	var ok bool
	if l.operator, ok = field(l.conn, "operator", reflect.TypeFor[*netpoll.FDOperator]()); !ok {
		return bad("want operator *FDOperator")
	}
	opt := reflect.TypeFor[*netpoll.FDOperator]()
	if l.poll, ok = field(opt, "poll", reflect.TypeFor[netpoll.Poll]()); !ok {
		return bad("its FDOperator wants poll Poll")
	}
	if l.state, ok = field(opt, "state", reflect.TypeFor[int32]()); !ok {
		return bad("its FDOperator wants state int32")
	}
	if l.detached, ok = field(opt, "detached", reflect.TypeFor[int32]()); !ok {
		return bad("its FDOperator wants detached int32")
	}
	p := l.pollOf(l.operatorOf(nc))
	if p == nil {
		return bad("its FDOperator is not registered with a poller")
	}
	if l.epfd, ok = field(reflect.TypeOf(p), "fd", reflect.TypeFor[int]()); !ok {
		return bad(fmt.Sprintf("its poller %T wants fd int", p))
	}
	if l.ops, ok = field(reflect.TypeOf(p), "m", reflect.TypeFor[sync.Map]()); !ok {
		return bad(fmt.Sprintf("its poller %T wants m sync.Map", p))
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

func (l *netpollLayout) stateOf(op *netpoll.FDOperator) *int32 {
	return (*int32)(unsafe.Add(unsafe.Pointer(op), l.state))
}

func (l *netpollLayout) detachedOf(op *netpoll.FDOperator) *int32 {
	return (*int32)(unsafe.Add(unsafe.Pointer(op), l.detached))
}

// watchInput sets the epoll interest of nc, whose descriptor is fd, to what netpoll registers
// (EPOLLIN|EPOLLRDHUP|EPOLLERR) or to EPOLLERR alone. Without EPOLLRDHUP a peer's end of stream
// waits in the kernel behind the unread input instead of closing the connection ahead of it;
// EPOLLHUP, which epoll always reports, and EPOLLERR still close it on a reset. The event's
// data is what netpoll's poller expects back (epollData). The caller keeps the descriptor from
// being closed meanwhile. A registration already removed (ENOENT: the poller saw a hang-up
// and the close is on its way) is left alone.
func watchInput(nc netpoll.Connection, fd int, on bool) error {
	l, op, err := layoutOf(nc)
	if err != nil {
		return err
	}
	p := l.pollOf(op)
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
	err = syscall.EpollCtl(l.epollFD(p), syscall.EPOLL_CTL_MOD, fd, &ev)
	if err != nil && !errors.Is(err, syscall.ENOENT) {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// A HalfCloser's connection outlives the peer's end of stream, which netpoll v0.7.2 takes for
// the end of the connection: the poller read that returns end of stream detaches the
// connection's FDOperator from the poller (epoll_ctl DEL) and calls the operator's OnHup,
// netpoll's connection.onHup, which marks the connection closed and runs its close callbacks,
// after which netpoll closes the descriptor. Until then the descriptor is open and its write
// side usable — the adapter writes to it itself — and OnHup is an exported field of the
// operator. So for a HalfCloser the adapter puts a function of its own there (interceptHup),
// which keeps the connection on an orderly end of stream and hands anything else to netpoll's
// onHup; and, to hear of a reset after the end of stream, it registers the descriptor with the
// poller again for errors alone (watchErrors), undoing what the detach did.

// interceptHup puts hup in place of the OnHup of nc's operator and returns the one it replaces,
// netpoll's. The poller must not be using the operator meanwhile: nc is not registered yet (a
// connection being prepared), or holdOperator holds it.
func interceptHup(nc netpoll.Connection, hup func(netpoll.Poll) error) (func(netpoll.Poll) error, error) {
	_, op, err := layoutOf(nc)
	if err != nil {
		return nil, err
	}
	orig := op.OnHup
	op.OnHup = hup
	return orig, nil
}

// holdOperator keeps the poller from handling nc's events until releaseOperator, the way
// netpoll's own Connection.Release does (FDOperator.do and done): the poller skips an operator
// it cannot take, and level-triggered events come back once it is released. detached reports
// whether the poller had detached the operator before — it saw a hang-up, and netpoll's OnHup
// is on its way or has run. ok is false, holding nothing, for an operator no longer in use.
func holdOperator(nc netpoll.Connection) (op *netpoll.FDOperator, detached, ok bool, err error) {
	l, op, err := layoutOf(nc)
	if err != nil {
		return nil, false, false, err
	}
	st := l.stateOf(op)
	for !atomic.CompareAndSwapInt32(st, 1, 2) {
		if atomic.LoadInt32(st) == 0 {
			return nil, false, false, nil
		}
		runtime.Gosched() // the poller handles an event of nc's: a moment
	}
	return op, atomic.LoadInt32(l.detachedOf(op)) != 0, true, nil
}

// releaseOperator undoes holdOperator.
func releaseOperator(op *netpoll.FDOperator) { atomic.StoreInt32(layout.stateOf(op), 1) }

// watchErrors registers nc's descriptor fd, which its poller detached at a hang-up, with that
// poller again, for errors alone (EPOLLERR, and EPOLLHUP, which epoll always reports): the
// poller then calls the operator's OnHup once more on a reset, detaching it again. The detach
// counted itself in the operator (netpoll detaches once per operator), so the count is reset
// for netpoll's close to detach the new registration; under the race detector the poller
// finds operators in a map by descriptor, which the detach cleared, so the operator is put back.
func watchErrors(nc netpoll.Connection, fd int) error {
	l, op, err := layoutOf(nc)
	if err != nil {
		return err
	}
	p := l.pollOf(op)
	if p == nil {
		return errors.New("netpoll: connection without a poller")
	}
	atomic.StoreInt32(l.detachedOf(op), 0)
	registerOperator(l, p, op, fd, true)
	ev := syscall.EpollEvent{Events: syscall.EPOLLERR}
	d := epollData(op, fd)
	ev.Fd, ev.Pad = int32(uint32(d)), int32(uint32(d>>32))
	if err := syscall.EpollCtl(l.epollFD(p), syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		registerOperator(l, p, op, fd, false)
		atomic.StoreInt32(l.detachedOf(op), 1)
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// forgetRegistration detaches nc's operator from its poller, unless that was done already
// (netpoll detaches an operator once): netpoll's close skips the detach when its poller hung
// up first, which a registration made by watchErrors afterwards would outlive.
func forgetRegistration(nc netpoll.Connection) {
	if l, op, err := layoutOf(nc); err == nil && l.pollOf(op) != nil {
		_ = op.Control(netpoll.PollDetach)
	}
}
