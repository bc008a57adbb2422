//go:build linux

package nbioloop

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"sync"

	"github.com/lesismal/nbio"
	"golang.org/x/sys/unix"

	"github.com/reactorlab/reactor/reactor"
)

// loop is one of nbio's pollers seen from the adapter: the goroutine that runs the callbacks
// of the connections it owns. nbio has no way to run a function on a poller, so each loop has
// a control connection, one end of a socket pair registered with that poller: post queues a
// task and writes a byte to the other end, and the poller, reading it, runs the queue.
type loop struct {
	idx  int
	ctl  *nbio.Conn // the control connection's reading end, served by poller idx
	wake int        // the writing end, the adapter's own descriptor
	// Set by Start under mu, which it holds from before the poller can see the control
	// connection; run takes mu before it runs a task, and tasks read them without it.
	epfd  int    // the poller's epoll descriptor (epollFD)
	rbuf  []byte // the poller's read buffer, lent to every read made on this loop
	shard *reactor.StatShard

	mu     sync.Mutex
	tasks  []func()
	spare  []func()
	woken  bool // a byte is on its way: later posts need not write another
	closed bool // the engine is stopping: posts are refused, and wake may be closed
}

// post queues f to run on the loop and reports whether it was queued: false once the loop is
// shut down. Safe from any goroutine.
func (lp *loop) post(f func()) bool {
	lp.mu.Lock()
	if lp.closed {
		lp.mu.Unlock()
		return false
	}
	lp.tasks = append(lp.tasks, f)
	signal := !lp.woken
	lp.woken = true
	if signal {
		// Written under the lock so that shutdown, which closes wake under it, never races a
		// write onto a descriptor number that may be reused.
		unix.Write(lp.wake, []byte{1})
	}
	lp.mu.Unlock()
	return true
}

// run is the control connection's read event, on the poller: it empties the socket and runs
// what was posted. A task posted while it runs writes a new byte, hence a new event.
func (lp *loop) run(ctl *nbio.Conn) {
	var buf [64]byte
	for {
		n, err := ctl.Read(buf[:])
		if n < len(buf) || err != nil {
			break
		}
	}
	lp.mu.Lock()
	tasks := lp.tasks
	lp.tasks, lp.spare = lp.spare[:0], nil
	lp.woken = false
	lp.mu.Unlock()
	for i, f := range tasks {
		f()
		tasks[i] = nil
	}
	lp.mu.Lock()
	if lp.spare == nil {
		lp.spare = tasks[:0]
	}
	lp.mu.Unlock()
}

// shut refuses posts from now on and closes the writing end. Tasks still queued are dropped.
func (lp *loop) shut() {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if !lp.closed {
		lp.closed = true
		lp.tasks = nil
		unix.Close(lp.wake)
	}
}

// newControls makes one control connection per poller. nbio assigns a connection to poller
// fd % n, and its duplicate of a socket takes the lowest free descriptor; so the lowest free
// number is probed first, and held (moving the next one along) while it would land on a
// poller already served. A pair that lands elsewhere all the same (another goroutine opened a
// descriptor meanwhile) is closed and made again.
func newControls(n int) (ctl []*nbio.Conn, wake []int, err error) {
	ctl, wake = make([]*nbio.Conn, n), make([]int, n)
	var held []int
	defer func() {
		for _, fd := range held {
			unix.Close(fd)
		}
		if err != nil {
			for i, c := range ctl {
				if c != nil {
					c.Close()
					unix.Close(wake[i])
				}
			}
		}
	}()
	for have, tries := 0, 0; have < n; tries++ {
		if tries > 16*n+64 {
			return nil, nil, errors.New("nbio: cannot place a control connection on every poller")
		}
		probe, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
		if err != nil {
			return nil, nil, os.NewSyscallError("eventfd", err)
		}
		if ctl[probe%n] != nil {
			held = append(held, probe)
			continue
		}
		unix.Close(probe)
		c, w, err := newControl()
		if err != nil {
			return nil, nil, err
		}
		if i := c.Hash() % n; ctl[i] == nil {
			ctl[i], wake[i] = c, w
			have++
		} else {
			c.Close()
			unix.Close(w)
		}
	}
	return ctl, wake, nil
}

// newControl makes a non-blocking socket pair and returns one end as an nbio connection (not
// yet registered) and the other as a descriptor.
func newControl() (*nbio.Conn, int, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, -1, os.NewSyscallError("socketpair", err)
	}
	f := os.NewFile(uintptr(fds[0]), "reactor-nbio-control")
	fc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		unix.Close(fds[1])
		return nil, -1, err
	}
	c, err := nbio.NBConn(fc) // nbio keeps a duplicate and closes fc
	if err != nil {
		fc.Close()
		unix.Close(fds[1])
		return nil, -1, err
	}
	return c, fds[1], nil
}

// nbio's Conn keeps its poller in the unexported field p, and the poller its epoll descriptor
// in epfd; nbio offers no way to change a connection's events, which the adapter needs (see
// the package doc: it takes EPOLLRDHUP out). Both are found by name, with their kinds checked
// against nbio v1.6.8; a layout that differs makes Start fail rather than guess.
var epfdPath = func() []int {
	p, ok := reflect.TypeOf(nbio.Conn{}).FieldByName("p")
	if !ok || p.Type.Kind() != reflect.Pointer || p.Type.Elem().Kind() != reflect.Struct {
		return nil
	}
	e, ok := p.Type.Elem().FieldByName("epfd")
	if !ok || e.Type.Kind() != reflect.Int {
		return nil
	}
	return []int{p.Index[0], e.Index[0]}
}()

// errLayout: the nbio in the build is not the one whose layout the adapter knows.
var errLayout = errors.New("nbio: unknown Conn layout (the adapter knows nbio v1.6.8's): cannot reach the poller's epoll descriptor")

// epollFD returns the epoll descriptor of the poller c is registered with.
func epollFD(c *nbio.Conn) (int, error) {
	if epfdPath == nil {
		return -1, errLayout
	}
	p := reflect.ValueOf(c).Elem().Field(epfdPath[0])
	if p.IsNil() {
		return -1, fmt.Errorf("nbio: connection not registered with a poller")
	}
	return int(p.Elem().Field(epfdPath[1]).Int()), nil
}

// connEvents is what the adapter registers for a connection instead of nbio's own events:
// edge-triggered input and output, without EPOLLRDHUP, so that a peer's end of stream reaches
// the adapter's read as a read of zero bytes rather than making nbio close the connection.
// Errors and hang-ups (EPOLLERR, EPOLLHUP) are always reported, and nbio closes on them.
const connEvents = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLET

// setEvents replaces nbio's registration of fd in epfd with connEvents.
func setEvents(epfd, fd int) error {
	ev := unix.EpollEvent{Events: connEvents, Fd: int32(fd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}
