//lint:file-ignore U1000 the fake structs copy a library's layout; their fields are read by reflection only

package evioloop

import (
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"unsafe"

	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// fakeConn, fakeLoop and fakePoll copy the shape of evio v1.0.8's conn, loop and
// internal.Poll, so that enroll can be checked field by field.
type fakeConn struct {
	fd     int
	lnidx  int
	out    []byte
	sa     syscall.Sockaddr
	reuse  bool
	opened bool
	ctx    any
	loop   *fakeLoop
}

func (c *fakeConn) Context() any             { return c.ctx }
func (c *fakeConn) SetContext(v any)         { c.ctx = v }
func (c *fakeConn) AddrIndex() int           { return c.lnidx }
func (c *fakeConn) LocalAddr() net.Addr      { return nil }
func (c *fakeConn) RemoteAddr() net.Addr     { return nil }
func (c *fakeConn) Wake()                    {}
func (c *fakeConn) loopCount() int32         { return atomic.LoadInt32(&c.loop.count) }
func (c *fakeConn) table() map[int]*fakeConn { return c.loop.fdconns }

type fakeLoop struct {
	idx     int
	poll    *fakePoll
	packet  []byte
	fdconns map[int]*fakeConn
	count   int32
}

type fakePoll struct{ fd, wfd int }

func TestLayoutRejectsOtherTypes(t *testing.T) {
	type noFD struct{ out []byte }
	type wrongOut struct {
		fd  int
		out string
	}
	type noLoop struct {
		fd  int
		out []byte
		sa  syscall.Sockaddr
	}
	for _, v := range []any{noFD{}, &noFD{}, &wrongOut{}, &noLoop{}} {
		if _, err := inspect(reflect.TypeOf(v)); err == nil {
			t.Errorf("inspect(%T) accepted a type that is not evio's connection", v)
		}
	}
	if _, err := inspect(reflect.TypeOf(&fakeConn{})); err != nil {
		t.Errorf("inspect(*fakeConn) = %v; want it accepted", err)
	}
}

// TestEnroll: enroll leaves a loop as evio's loopAccept would, on a copy of evio's shapes.
func TestEnroll(t *testing.T) {
	l, err := inspect(reflect.TypeOf(&fakeConn{}))
	if err != nil {
		t.Fatal(err)
	}

	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(epfd)
	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(pair[0])
	defer syscall.Close(pair[1])

	loop := &fakeLoop{poll: &fakePoll{fd: epfd, wfd: -1}, fdconns: map[int]*fakeConn{}}
	bell := &fakeConn{fd: -1, loop: loop}
	if got := l.loopOf(bell); got != unsafe.Pointer(loop) {
		t.Fatalf("loopOf = %p; want %p", got, loop)
	}
	sa := &syscall.SockaddrInet4{Port: 4242, Addr: [4]byte{127, 0, 0, 1}}
	a := &accepted{fd: pair[0], sa: sa}
	if err := l.enroll(l.loopOf(bell), a); err != nil {
		t.Fatal(err)
	}
	c := bell.table()[pair[0]]
	switch {
	case c == nil:
		t.Fatal("not in the loop's table")
	case c.fd != pair[0] || c.sa != syscall.Sockaddr(sa) || c.loop != loop || c.ctx != any(a):
		t.Errorf("enrolled %+v; want fd %d, sa %v, the loop, context a", c, pair[0], sa)
	case c.opened || c.lnidx != 0 || c.out != nil:
		t.Errorf("enrolled %+v; want not opened, listener 0, no output", c)
	}
	if n := bell.loopCount(); n != 1 {
		t.Errorf("loop count %d; want 1", n)
	}
	// In the epoll set for reading and writing: a socket pair is writable at once.
	ev := make([]syscall.EpollEvent, 1)
	n, err := syscall.EpollWait(epfd, ev, 1000)
	if err != nil || n != 1 || int(ev[0].Fd) != pair[0] || ev[0].Events&syscall.EPOLLOUT == 0 {
		t.Errorf("epoll_wait = %d %+v, %v; want fd %d writable", n, ev[0], err, pair[0])
	}
	// A second enrollment of the same descriptor fails and leaves the loop alone.
	if err := l.enroll(l.loopOf(bell), a); err == nil {
		t.Error("enrolling a descriptor twice succeeded")
	}
	if n := bell.loopCount(); n != 1 || len(bell.table()) != 1 {
		t.Errorf("after a failed enrollment: count %d, table %d; want 1, 1", n, len(bell.table()))
	}
}

// TestInternals runs the real evio: Start finds evio's layout or fails, every loop gets a
// doorbell, enrolled connections are counted by evio's loops, and they report TCP addresses.
func TestInternals(t *testing.T) {
	const loops, conns = 3, 5
	var mu sync.Mutex
	var seen [][2]string
	h := handler{
		open: func(c reactor.Conn) {
			mu.Lock()
			seen = append(seen, [2]string{c.LocalAddr().String(), c.RemoteAddr().String()})
			mu.Unlock()
		},
		data: echo.Handler{}.OnData,
	}
	rb, addr := start(t, reactor.Config{Loops: loops}, h)
	b := rb.(*backend)
	if layout.err != nil {
		t.Fatalf("evio's layout: %v", layout.err)
	}
	want := map[[2]string]bool{}
	for range conns {
		c := reactortest.Dial(t, addr)
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		want[[2]string{c.RemoteAddr().String(), c.LocalAddr().String()}] = true
	}
	b.mu.Lock()
	bells := b.bells
	b.mu.Unlock()
	if len(bells) != loops {
		t.Fatalf("%d doorbells; want one for each of %d loops", len(bells), loops)
	}
	var total int32
	for _, d := range bells {
		n := atomic.LoadInt32((*int32)(unsafe.Add(d.loop, layout.loopCount)))
		if n < 1 {
			t.Errorf("a loop counts %d connections; want at least its doorbell", n)
		}
		total += n
	}
	if total != loops+conns {
		t.Errorf("evio's loops count %d connections; want %d doorbells and %d served", total, loops, conns)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen {
		if !want[s] {
			t.Errorf("OnOpen saw local %s, remote %s; want one of %v", s[0], s[1], want)
		}
	}
	if len(seen) != conns {
		t.Errorf("%d connections opened; want %d (doorbells must stay unseen)", len(seen), conns)
	}
}

// TestPauseInternals: epollOf finds the loop's epoll descriptor and setOpened writes the
// opened flag, on a copy of evio's shapes; PauseRead relies on both. dropOut empties the
// output, as Abort needs.
func TestPauseInternals(t *testing.T) {
	l, err := inspect(reflect.TypeOf(&fakeConn{}))
	if err != nil {
		t.Fatal(err)
	}
	c := &fakeConn{opened: true, loop: &fakeLoop{poll: &fakePoll{fd: 42, wfd: 43}}}
	if got := l.epollOf(c); got != 42 {
		t.Errorf("epollOf = %d; want 42, the poll's fd", got)
	}
	l.setOpened(c, false)
	if c.opened {
		t.Error("setOpened(false) left opened set")
	}
	l.setOpened(c, true)
	if !c.opened {
		t.Error("setOpened(true) left opened clear")
	}
	c.out = []byte("held")
	l.dropOut(c)
	if c.out != nil {
		t.Errorf("dropOut left out = %q", c.out)
	}
}
