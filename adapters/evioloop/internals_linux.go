package evioloop

import (
	"fmt"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/tidwall/evio"
)

// evio's Conn tells neither its descriptor nor how much output it still holds, and evio has no
// way to take a connection accepted elsewhere; the adapter needs all three. It reads the
// pending output of a connection (to know when more may be handed over: evio replaces, not
// appends, the output of a wake) from evio's unexported connection struct, and drops it for an
// abort. And to serve a
// connection the adapter accepted, it does on a loop what evio's loopAccept does with one evio
// accepted: a new connection struct {fd, sa, loop} goes into the loop's table, into its epoll
// set for reading and writing, and into its count; evio then opens it on its first writable
// event like any other. PauseRead changes the connection's events in that epoll set and
// clears its opened flag (see conn.steer). All of it happens on the loop's own goroutine, from a callback, so
// there is no race with evio. go.mod pins evio v1.0.8 (the project is archived); the layout
// is checked once, at Start, and a mismatch fails Start. TestInternals checks it too.

// evioLayout says where evio's fields lie: field indexes for reads through reflect, byte
// offsets for the writes of enroll.
type evioLayout struct {
	conn    reflect.Type // evio's connection struct
	fdconns reflect.Type // the loop's table, map[int]*conn
	out     int          // index of conn.out

	connFD, connSA, connLoop, connOpened uintptr // conn.fd, conn.sa, conn.loop, conn.opened
	connOut                              uintptr // conn.out
	loopPoll, loopFDConns, loopCount     uintptr // loop.poll, loop.fdconns, loop.count
	pollFD                               uintptr // internal.Poll.fd, the epoll descriptor
}

// layout is evio's, found from the first doorbell.
var layout struct {
	once sync.Once
	evioLayout
	err error
}

func findLayout(ec evio.Conn) error {
	layout.once.Do(func() {
		layout.evioLayout, layout.err = inspect(reflect.TypeOf(ec))
	})
	return layout.err
}

// inspect finds the fields the adapter uses in t, which must be a pointer to evio's connection
// struct, and checks their types.
func inspect(t reflect.Type) (evioLayout, error) {
	var l evioLayout
	bad := func(what string) (evioLayout, error) {
		return evioLayout{}, fmt.Errorf("%v is not the connection struct of evio v1.0.8: %s", t, what)
	}
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return bad("not a pointer to a struct")
	}
	l.conn = t.Elem()
	field := func(s reflect.Type, name string, want reflect.Kind) (reflect.StructField, bool) {
		f, ok := s.FieldByName(name)
		return f, ok && len(f.Index) == 1 && f.Type.Kind() == want
	}
	fd, okFD := field(l.conn, "fd", reflect.Int)
	out, okOut := field(l.conn, "out", reflect.Slice)
	sa, okSA := field(l.conn, "sa", reflect.Interface)
	lp, okLoop := field(l.conn, "loop", reflect.Pointer)
	opened, okOpened := field(l.conn, "opened", reflect.Bool)
	if !okFD || !okOut || out.Type.Elem().Kind() != reflect.Uint8 || !okSA || sa.Type != reflect.TypeFor[syscall.Sockaddr]() ||
		!okLoop || lp.Type.Elem().Kind() != reflect.Struct || !okOpened {
		return bad("want fd int, out []byte, sa syscall.Sockaddr, loop *loop, opened bool")
	}
	loop := lp.Type.Elem()
	l.fdconns = reflect.MapOf(reflect.TypeFor[int](), t)
	poll, okPoll := field(loop, "poll", reflect.Pointer)
	fdconns, okConns := loop.FieldByName("fdconns")
	count, okCount := field(loop, "count", reflect.Int32)
	if !okPoll || poll.Type.Elem().Kind() != reflect.Struct || !okConns || fdconns.Type != l.fdconns || !okCount {
		return bad("its loop wants poll *Poll, fdconns map[int]*conn, count int32")
	}
	pfd, okPFD := field(poll.Type.Elem(), "fd", reflect.Int)
	if !okPFD {
		return bad("its poller wants fd int")
	}
	l.out = out.Index[0]
	l.connFD, l.connSA, l.connLoop, l.connOpened = fd.Offset, sa.Offset, lp.Offset, opened.Offset
	l.connOut = out.Offset
	l.loopPoll, l.loopFDConns, l.loopCount = poll.Offset, fdconns.Offset, count.Offset
	l.pollFD = pfd.Offset
	return l, nil
}

// pendingOut returns how many bytes evio still holds to write for the connection. Only from
// the connection's loop goroutine, after Start.
func pendingOut(ec evio.Conn) int {
	return reflect.ValueOf(ec).Elem().Field(layout.out).Len()
}

// loopOf returns the loop that owns ec, as an opaque pointer.
func (l *evioLayout) loopOf(ec evio.Conn) unsafe.Pointer {
	return *(*unsafe.Pointer)(unsafe.Add(reflect.ValueOf(ec).UnsafePointer(), l.connLoop))
}

// epollOf returns the epoll descriptor of the loop that owns ec.
func (l *evioLayout) epollOf(ec evio.Conn) int {
	poll := *(*unsafe.Pointer)(unsafe.Add(l.loopOf(ec), l.loopPoll))
	return *(*int)(unsafe.Add(poll, l.pollFD))
}

// setOpened sets evio's opened flag of ec. Cleared, evio takes the connection's next event for
// its first and calls Opened instead of reading (see conn.steer). Only on ec's loop goroutine.
func (l *evioLayout) setOpened(ec evio.Conn, opened bool) {
	*(*bool)(unsafe.Add(reflect.ValueOf(ec).UnsafePointer(), l.connOpened)) = opened
}

// dropOut discards the output evio holds for ec, for an abort: evio would otherwise write it
// all before it acts on Close, for ever if the peer does not read. Only on ec's loop
// goroutine.
func (l *evioLayout) dropOut(ec evio.Conn) {
	*(*[]byte)(unsafe.Add(reflect.ValueOf(ec).UnsafePointer(), l.connOut)) = nil
}

// enroll makes the socket a serve on loop as if evio had accepted it there (see loopAccept in
// evio_unix.go): a connection {fd, sa, loop} in the loop's table and its epoll set, counted.
// lnidx stays 0, evio's one listener, whose address evio gives as the local one; the adapter
// reports its own. The new connection carries a as its context until Opened. Only on loop's
// goroutine.
func (l *evioLayout) enroll(loop unsafe.Pointer, a *accepted) error {
	poll := *(*unsafe.Pointer)(unsafe.Add(loop, l.loopPoll))
	epfd := *(*int)(unsafe.Add(poll, l.pollFD))
	// What evio's Poll.AddReadWrite does, but an error is returned rather than a panic.
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT, Fd: int32(a.fd)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, a.fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	cv := reflect.New(l.conn)
	c := cv.UnsafePointer()
	*(*int)(unsafe.Add(c, l.connFD)) = a.fd
	*(*syscall.Sockaddr)(unsafe.Add(c, l.connSA)) = a.sa
	*(*unsafe.Pointer)(unsafe.Add(c, l.connLoop)) = loop
	cv.Interface().(evio.Conn).SetContext(a)
	reflect.NewAt(l.fdconns, unsafe.Add(loop, l.loopFDConns)).Elem().SetMapIndex(reflect.ValueOf(a.fd), cv)
	atomic.AddInt32((*int32)(unsafe.Add(loop, l.loopCount)), 1)
	return nil
}
