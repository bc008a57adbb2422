//go:build linux

package gnetloop

import (
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/buffer/elastic"
	"github.com/panjf2000/gnet/v2/pkg/netpoll"
)

// gnet has no way to stop reading one connection: its loop watches every connection for input
// until it closes. PauseRead needs that, so the adapter changes the connection's entry in its
// loop's epoll set itself, with epoll_ctl(EPOLL_CTL_MOD) on the descriptor gnet's Conn.Fd
// gives. The one thing gnet does not tell is which epoll set that is: the adapter reads it from
// gnet's unexported fields, conn.loop (*eventloop) → eventloop.poller (*netpoll.Poller) →
// Poller.fd. Those are set when the loop and the connection are made and never change, so the
// read races with nothing. go.mod pins gnet v2.10.0; the layout is checked at the first pause,
// a mismatch makes PauseRead abort its connection with ErrNotSupported (it never touches
// memory it does not know), and TestInternals fails loudly on it.
//
// The epoll set is gnet's default Linux poller (built without the poll_opt tag), whose events
// carry the descriptor: an entry rewritten with the same descriptor is one gnet still reads.
//
// The same goes for the output gnet holds for a connection, conn.outboundBuffer, which gnet
// writes out, as far as the socket takes it, when it closes the connection: the adapter empties
// it first with the buffer's own methods when that would be wrong — an Abort, which must send
// nothing more, and the peer's end of stream, where the adapter goes on sending it itself (see
// halfclose_linux.go) — and, to count what it sends (Config.Stats), makes gnet's last write
// itself in OnClose (stats_linux.go). The buffer is only touched on the connection's loop, as
// gnet does.

// gnetLayout holds the byte offsets of conn.loop, eventloop.poller, Poller.fd and
// conn.outboundBuffer.
type gnetLayout struct {
	connLoop, loopPoller, pollerFD, connOutbound uintptr
}

// layout is gnet's, found from the first connection.
var layout struct {
	once sync.Once
	gnetLayout
	err error
}

func findLayout(gc gnet.Conn) error {
	layout.once.Do(func() {
		layout.gnetLayout, layout.err = inspect(reflect.TypeOf(gc))
	})
	return layout.err
}

// inspect finds the fields that lead from t, which must be gnet's connection type, to its
// loop's epoll descriptor, and checks their types.
func inspect(t reflect.Type) (gnetLayout, error) {
	bad := func(what string) (gnetLayout, error) {
		return gnetLayout{}, fmt.Errorf("%v is not the connection struct of gnet v2.10.0: %s", t, what)
	}
	if t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return bad("not a pointer to a struct")
	}
	field := func(s reflect.Type, name string) (reflect.StructField, bool) {
		f, ok := s.FieldByName(name)
		return f, ok && len(f.Index) == 1
	}
	loop, ok := field(t.Elem(), "loop")
	if !ok || loop.Type.Kind() != reflect.Pointer || loop.Type.Elem().Kind() != reflect.Struct {
		return bad("want loop *eventloop")
	}
	poller, ok := field(loop.Type.Elem(), "poller")
	if !ok || poller.Type != reflect.TypeFor[*netpoll.Poller]() {
		return bad("its loop wants poller *netpoll.Poller")
	}
	fd, ok := field(reflect.TypeFor[netpoll.Poller](), "fd")
	if !ok || fd.Type.Kind() != reflect.Int {
		return bad("netpoll.Poller wants fd int")
	}
	out, ok := field(t.Elem(), "outboundBuffer")
	if !ok || out.Type != reflect.TypeFor[elastic.Buffer]() {
		return bad("want outboundBuffer elastic.Buffer")
	}
	return gnetLayout{connLoop: loop.Offset, loopPoller: poller.Offset, pollerFD: fd.Offset, connOutbound: out.Offset}, nil
}

// epollFD returns the epoll descriptor of the loop that owns gc. Only once findLayout
// succeeded for gc's type.
func epollFD(gc gnet.Conn) int {
	c := reflect.ValueOf(gc).UnsafePointer()
	loop := *(*unsafe.Pointer)(unsafe.Add(c, layout.connLoop))
	poller := *(*unsafe.Pointer)(unsafe.Add(loop, layout.loopPoller))
	return *(*int)(unsafe.Add(poller, layout.pollerFD))
}

// outbound returns the buffer of output gnet holds for gc. Only once findLayout succeeded for
// gc's type, and only on gc's loop.
func outbound(gc gnet.Conn) *elastic.Buffer {
	return (*elastic.Buffer)(unsafe.Add(reflect.ValueOf(gc).UnsafePointer(), layout.connOutbound))
}
