package evioloop

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/tidwall/evio"

	"github.com/reactorlab/reactor/internal/backoff"
	"github.com/reactorlab/reactor/internal/reuseport"
	"github.com/reactorlab/reactor/reactor"
)

// accepted is a connection the adapter accepted, on its way to a loop; it is the evio
// connection's context until Opened.
type accepted struct {
	fd    int
	sa    syscall.Sockaddr // the peer's, from which evio makes RemoteAddr
	local net.Addr
	bell  *doorbell // the doorbell it is delivered to

	// For a connection Conn.Dial made: the connection its handler sees, the address dialled,
	// and, when the dial failed (fd -1), why.
	out  *conn
	addr string
	err  error
}

// doorbell is evio's end of a private connection the adapter made to one loop at Start. Ringing
// it (evio's Wake) makes that loop call Data for it with no input, which is how the adapter
// runs code on a given loop: there it enrolls the connections queued for the loop, or stops it.
// Every loop has one; the handler never sees them.
type doorbell struct {
	ec    evio.Conn
	loop  unsafe.Pointer     // evio's loop, for enroll
	taken []*accepted        // the queue being enrolled, kept for reuse; the loop's only
	rbuf  []byte             // the loop's buffer for the reads the adapter makes (conn.readSelf)
	st    *reactor.StatShard // Config.Stats' shard for the loop (nil: not counting)
	sweep []*conn            // the loop's connections whose output evio may have written (stats_linux.go)

	sweepWanted atomic.Bool // sweep is not empty, and no ring asks for a sweep yet

	mu     sync.Mutex
	queue  []*accepted // accepted, waiting for the loop
	rung   bool        // a Wake is on its way
	closed bool        // evio closed it: no more Wake, which would touch a closed poller
}

// deliver queues a for the doorbell's loop and rings. It reports false, and a stays the
// caller's, once evio has closed the doorbell. Safe from any goroutine.
func (d *doorbell) deliver(a *accepted) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.queue = append(d.queue, a)
	d.ringLocked()
	return true
}

// ring makes the loop call Data for the doorbell. Safe from any goroutine.
func (d *doorbell) ring() {
	d.mu.Lock()
	d.ringLocked()
	d.mu.Unlock()
}

func (d *doorbell) ringLocked() {
	if !d.rung && !d.closed {
		d.rung = true
		d.ec.Wake()
	}
}

// readBuf returns the loop's buffer for the reads the adapter makes itself, made on first use.
// Only on the doorbell's loop.
func (d *doorbell) readBuf(size int) []byte {
	if d.rbuf == nil {
		d.rbuf = make([]byte, size)
	}
	return d.rbuf
}

// take returns what was queued, for the loop to enroll.
func (d *doorbell) take() []*accepted {
	d.mu.Lock()
	q := d.queue
	d.queue, d.taken = d.taken[:0], nil
	d.rung = false
	d.mu.Unlock()
	return q
}

// shut marks the doorbell closed by evio and closes what it still queued, reporting the dials
// among it to their handlers. From its loop, or from evio's closing pass after the loops
// stopped.
func (d *doorbell) shut() {
	d.mu.Lock()
	d.closed = true
	q := d.queue
	d.queue = nil
	d.mu.Unlock()
	for _, a := range q {
		a.refuse(reactor.ErrServerClosed)
	}
}

// listen opens the public listener. Its socket is kept as an *os.File, a duplicate that is in
// Go's poller like the listener's own, so that accept can take connections with raw system
// calls (a net.Conn would cost a poller registration and a close only to hand its descriptor
// over) and still sleep in the poller while none arrive.
func listen(cfg reactor.Config) (*os.File, *net.TCPAddr, error) {
	ln, err := reuseport.ListenTCP(cfg.Addr, cfg.ReusePort)
	if err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	f, err := ln.File()
	if err != nil {
		return nil, nil, err
	}
	return f, ln.Addr().(*net.TCPAddr), nil
}

// accept takes connections from the public listener and hands them to the loops' doorbells in
// turn. It exits when the listener is closed (by Shutdown, or as evio stops).
func (b *backend) accept(rc syscall.RawConn, bells []*doorbell) {
	defer b.acceptWG.Done()
	pace := backoff.Accept{Logger: b.cfg.Logger, Msg: "evio: accept failed; retrying", Limit: &b.acceptLog}
	var (
		nfd  int
		sa   syscall.Sockaddr
		aerr error
	)
	take := func(fd uintptr) bool {
		nfd, sa, aerr = syscall.Accept4(int(fd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		return aerr != syscall.EAGAIN
	}
	for next := 0; ; {
		if err := rc.Read(take); err != nil {
			select {
			case <-b.stopAccept: // closed on purpose
			default:
				b.cfg.Stats.Shard(0).AcceptError()
				b.cfg.Logger.Error("evio: the listener failed; no longer accepting", "err", err)
			}
			return
		}
		switch {
		case aerr == syscall.ECONNABORTED || aerr == syscall.EINTR:
			continue // that connection is gone; the next may be there
		case aerr != nil:
			// Out of descriptors (EMFILE, ENFILE) and the like: the connection stays queued in
			// the kernel until a retry, paced rather than spinning on a listener that stays ready.
			b.cfg.Stats.Shard(0).AcceptError()
			pace.Failed(os.NewSyscallError("accept4", aerr), b.stopAccept)
			continue
		}
		pace.Succeeded()
		a, err := b.prepare(nfd, sa)
		if err == nil {
			a.bell = bells[next]
		}
		if err == nil && !a.bell.deliver(a) {
			err = errors.New("its loop has stopped")
		}
		if err != nil {
			syscall.Close(nfd)
			if n, ok := b.acceptLog.Allow(); ok {
				b.cfg.Logger.Warn("evio: connection refused", "err", err, "suppressed", n)
			}
			continue
		}
		next = (next + 1) % len(bells)
	}
}

// prepare readies an accepted socket for a loop, on the accept goroutine so that the loops
// spend no system call on it.
func (b *backend) prepare(fd int, sa syscall.Sockaddr) (*accepted, error) {
	// A small reply held back by Nagle's algorithm until the peer's delayed ACK would stall
	// request and response traffic for tens of milliseconds; the net package turns it off too.
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); err != nil {
		return nil, os.NewSyscallError("setsockopt", err)
	}
	a := &accepted{fd: fd, sa: sa, local: b.addr}
	if b.addr.IP.IsUnspecified() {
		// A wildcard listener: the socket's own address is the useful answer.
		lsa, err := syscall.Getsockname(fd)
		if err != nil {
			return nil, os.NewSyscallError("getsockname", err)
		}
		switch lsa := lsa.(type) {
		case *syscall.SockaddrInet4:
			a.local = &net.TCPAddr{IP: net.IP(lsa.Addr[:]).To16(), Port: lsa.Port}
		case *syscall.SockaddrInet6:
			a.local = &net.TCPAddr{IP: net.IP(lsa.Addr[:]), Port: lsa.Port}
		}
	}
	return a, nil
}

// admit is the Data call a doorbell's ring asks for, on its loop: the queued connections are
// enrolled with evio, or refused unseen once Shutdown began (a dialled one's handler is told,
// as it is of a dial that failed); once the loops are to stop, this one is stopped.
func (b *backend) admit(d *doorbell) ([]byte, evio.Action) {
	q := d.take()
	if len(d.sweep) > 0 {
		d.sweepNow()
	}
	b.mu.Lock()
	stage := b.stage
	b.mu.Unlock()
	for i, a := range q {
		q[i] = nil
		switch {
		case a.err != nil:
			a.refuse(nil)
		case stage != running:
			a.refuse(reactor.ErrServerClosed)
		default:
			if err := layout.enroll(d.loop, a); err != nil {
				a.refuse(err)
				if n, ok := b.acceptLog.Allow(); ok {
					b.cfg.Logger.Warn("evio: connection refused: cannot hand it to a loop", "err", err, "suppressed", n)
				}
			}
		}
	}
	d.taken = q
	if stage == stopping {
		return nil, evio.Shutdown
	}
	return nil, evio.None
}
