//go:build linux

package netpoller

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// TestNetpollLayout pins what PauseRead, the HalfCloser hook and Dial read from netpoll v0.7.2's
// unexported structs, and what PauseRead writes to the kernel: on a served connection the layout is found, the descriptor it
// leads to is an epoll instance that watches the connection, and pausing changes only the
// events of that registration — the data, which netpoll's poller maps back to the connection,
// stays what netpoll set — while resuming restores netpoll's own events.
func TestNetpollLayout(t *testing.T) {
	opened := make(chan *conn, 1)
	b, err := New(reactor.Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := b.Start(openHandler(func(c reactor.Conn) { opened <- c.(*conn) }))
	if err != nil {
		t.Fatal(err)
	}
	defer reactortest.Stop(t, b)
	peer, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	var c *conn
	select {
	case c = <-opened:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection opened")
	}

	l, err := inspect(c.nc)
	if err != nil {
		t.Fatal(err)
	}
	op := l.operatorOf(c.nc)
	epfd := l.epollFD(l.pollOf(op))
	if link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", epfd)); err != nil || link != "anon_inode:[eventpoll]" {
		t.Fatalf("the poller's descriptor %d is %q (%v); want an epoll instance", epfd, link, err)
	}
	events, data := registration(t, epfd, c.fd)
	// The kernel adds EPOLLHUP, which epoll always reports, to every registration.
	const paused = syscall.EPOLLERR | syscall.EPOLLHUP
	if want := uint32(syscall.EPOLLIN | syscall.EPOLLRDHUP | paused); events != want {
		t.Errorf("netpoll registered events %#x; want %#x", events, want)
	}
	if want := epollData(op, c.fd); data != want {
		t.Errorf("netpoll registered data %#x; epollData gives %#x", data, want)
	}

	// A registered connection's operator is in use and idle (1), and was never detached; the
	// race detector's poller finds it in its map (internals_race_linux_test.go).
	if st, det := atomic.LoadInt32(l.stateOf(op)), atomic.LoadInt32(l.detachedOf(op)); st != 1 || det != 0 {
		t.Errorf("operator state %d, detached %d; want 1 and 0", st, det)
	}
	checkOperatorMap(t, &l, l.pollOf(op), op, c.fd)

	post := func(f func(reactor.Conn)) {
		done := make(chan struct{})
		if err := c.Post(func(c reactor.Conn) { f(c); close(done) }); err != nil {
			t.Fatal(err)
		}
		<-done
	}
	post(reactor.Conn.PauseRead)
	if ev, d := registration(t, epfd, c.fd); ev != paused || d != data {
		t.Errorf("paused: events %#x, data %#x; want %#x, %#x", ev, d, paused, data)
	}
	post(reactor.Conn.ResumeRead)
	if ev, d := registration(t, epfd, c.fd); ev != events || d != data {
		t.Errorf("resumed: events %#x, data %#x; want %#x, %#x", ev, d, events, data)
	}
}

// registration reads fd's entry in the epoll instance epfd from /proc.
func registration(t *testing.T, epfd, fd int) (events uint32, data uint64) {
	t.Helper()
	info, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", epfd))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(info), "\n") {
		var tfd int
		if _, err := fmt.Sscanf(line, "tfd: %d events: %x data: %x", &tfd, &events, &data); err == nil && tfd == fd {
			return events, data
		}
	}
	t.Fatalf("descriptor %d is not in epoll instance %d:\n%s", fd, epfd, info)
	return 0, 0
}

// openHandler calls open in OnOpen and otherwise does nothing.
type openHandler func(reactor.Conn)

func (h openHandler) OnOpen(c reactor.Conn) { h(c) }
func (openHandler) OnData(_ reactor.Conn, in []byte) (int, reactor.Action) {
	return len(in), reactor.None
}
func (openHandler) OnClose(reactor.Conn, error) {}
