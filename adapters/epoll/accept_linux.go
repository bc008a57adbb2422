//go:build linux

package epoll

// Accepting: the listener, the spare descriptor and the pause that keep a loop from spinning
// at the descriptor limit, and the registration of new connections.

import (
	"os"
	"time"

	"github.com/reactorlab/reactor/internal/iouring"
	"github.com/reactorlab/reactor/reactor"
	"golang.org/x/sys/unix"
)

// listenOn makes the loop an acceptor for lfd, which it owns from then on.
func (l *loop) listenOn(lfd int, local sockAddr) error {
	if l.ring == nil {
		if err := l.poll.add(lfd, tagListen, unix.EPOLLIN); err != nil {
			return err
		}
	}
	l.lfd, l.local = lfd, local
	l.spare = openSpare()
	if l.ring != nil {
		l.armAccept()
	}
	return nil
}

func openSpare() int {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

// accept takes the connections waiting on the listener and hands them to the loops in turn.
func (l *loop) accept() {
	for i := 0; i < acceptBatch && l.lfd >= 0; i++ {
		fd, err := accept4(l.lfd, &l.rsa)
		switch err {
		case nil:
		case unix.EAGAIN:
			return
		case unix.EINTR, unix.ECONNABORTED:
			continue
		case unix.EMFILE, unix.ENFILE:
			l.st.AcceptError()
			l.shed(err)
			return
		default:
			l.st.AcceptError()
			if n, ok := l.s.acceptLog.Allow(); ok {
				l.log.Error("epoll: accept failed", "err", os.NewSyscallError("accept4", err), "suppressed", n)
			}
			return
		}
		l.adopt(fd)
	}
}

// adopt hands fd, just accepted, whose peer's address is in l.rsa, to the next loop in turn
// (or, thread per connection, to a loop of its own).
func (l *loop) adopt(fd int) {
	// Small writes (a reply, a chat line) must leave at once, not wait for Nagle.
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if l.mech == mechThread {
		l.acceptThread(fd)
		return
	}
	target := l.peers[l.next]
	l.next = (l.next + 1) % len(l.peers)
	c := l.newConn(target, fd)
	if target == l {
		l.attach(c)
	} else if !target.post(task{c: c, op: opAttach}) {
		unix.Close(fd) // that loop has stopped: the server is shutting down
	}
}

// newConn makes the connection just accepted on fd (its peer's address in l.rsa), to be served
// by target.
func (l *loop) newConn(target *loop, fd int) *conn {
	c := &conn{l: target, h: l.h, fd: int32(fd), local: l.local}
	c.remote.set(&l.rsa)
	if l.local.unspecified() && getsockname(fd, &l.rsa) == nil {
		c.local.set(&l.rsa)
	}
	return c
}

// acceptThread gives the connection just accepted on fd a loop and an OS thread of its own
// (thread per connection). Past the thread cap the connection is refused, closed at once, and
// the server serves on, as select does past FD_SETSIZE.
func (l *loop) acceptThread(fd int) {
	target, err := l.s.spawn()
	if err != nil {
		unix.Close(fd)
		switch {
		case err == reactor.ErrServerClosed:
			// Accepted as Shutdown began: never opened, so no callbacks are owed.
		case err == errThreadCap:
			if n, ok := l.s.refuseLog.Allow(); ok {
				l.log.Warn("thread: connection refused: a thread for each connection, and the cap is reached", "limit", maxThreads, "suppressed", n)
			}
		default:
			if n, ok := l.s.refuseLog.Allow(); ok {
				l.log.Error("thread: connection refused: cannot make its loop", "err", err, "suppressed", n)
			}
		}
		return
	}
	target.post(task{c: l.newConn(target, fd), op: opAttach})
	go target.run()
}

// shed handles running out of descriptors. The pending connection would stay in the accept
// queue and the level-triggered listener would wake the loop again at once, spinning it; so
// the loop gives up its spare descriptor, accepts the connection, closes it (the client sees
// its connection closed, not a hang) and takes the spare back.
//
// Another thread may take the descriptor the spare freed before the accept does (another
// loop's acceptor, with a listener per loop, or anything else in the process); then the spare
// is lost too. Without it the loop stops watching the listener for a while, 5 ms doubling to
// a second while the limit lasts, so that it neither spins nor stops accepting for good.
func (l *loop) shed(err error) {
	refused := false
	if l.spare >= 0 {
		unix.Close(l.spare)
		if fd, err := accept4(l.lfd, &l.rsa); err == nil {
			unix.Close(fd)
			refused = true
		}
		l.spare = openSpare()
	}
	if !refused || l.spare < 0 {
		l.pauseAccept()
	}
	if n, ok := l.s.shedLog.Allow(); ok {
		l.log.Warn("epoll: out of file descriptors; refusing connections", "err", os.NewSyscallError("accept4", err), "suppressed", n)
	}
}

// pauseAccept stops watching the listener until acceptResume.
func (l *loop) pauseAccept() {
	if l.ring != nil {
		// The accept is not re-armed until then (accepted), and a multishot accept that
		// failed has ended.
	} else if err := l.poll.mod(l.lfd, tagListen, 0); err != nil {
		return // still watched: the next wake-up tries the spare again
	}
	l.acceptWait = min(max(2*l.acceptWait, 5*time.Millisecond), time.Second)
	l.acceptResume = time.Now().Add(l.acceptWait)
}

// resumeAccept watches the listener again after a pause, with a spare descriptor if one can
// be had now. A pause that ends with the limit still reached starts a longer one.
func (l *loop) resumeAccept() {
	l.acceptResume = time.Time{}
	if l.lfd < 0 {
		return
	}
	if l.spare < 0 {
		l.spare = openSpare()
	}
	if l.spare < 0 {
		l.pauseAccept()
		return
	}
	if l.ring != nil {
		l.armAccept()
	} else if err := l.poll.mod(l.lfd, tagListen, unix.EPOLLIN); err != nil {
		l.pauseAccept()
		return
	}
	l.acceptWait = 0
}

// attach registers a freshly accepted connection with this loop and opens it.
func (l *loop) attach(c *conn) {
	if l.draining {
		unix.Close(int(c.fd)) // accepted as Shutdown began; never opened, so no callbacks are owed
		return
	}
	slot := l.takeSlot()
	if l.ring != nil {
		l.putConn(c, slot) // settling after OnOpen arms the receive
		l.countOpen(c, false)
		l.open(c)
		return
	}
	events := uint32(unix.EPOLLIN)
	if l.edge {
		// Registered once for both directions; edges then say "new input" and "room again",
		// and EPOLLRDHUP says the peer's FIN is among what there is to read.
		events = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET
	}
	if err := l.poll.add(int(c.fd), slot, events); err != nil {
		l.free = append(l.free, slot)
		unix.Close(int(c.fd))
		if err == errFDSetFull {
			// select's hard limit: refuse this connection (the client sees it closed) and go
			// on serving the others. Said once a second at most, not once per connection.
			if n, ok := l.s.refuseLog.Allow(); ok {
				l.log.Warn("select: connection refused: its descriptor does not fit in an fd_set", "fd", c.fd, "limit", fdSetSize, "suppressed", n)
			}
			return
		}
		l.log.Error(l.mech.String()+": cannot register connection", "err", err)
		return
	}
	c.events = events
	l.putConn(c, slot)
	l.countOpen(c, false)
	l.open(c)
}

// takeSlot reserves a slot in l.conns for a new connection.
func (l *loop) takeSlot() int32 {
	if k := len(l.free); k > 0 {
		slot := l.free[k-1]
		l.free = l.free[:k-1]
		return slot
	}
	l.conns = append(l.conns, nil)
	return int32(len(l.conns) - 1)
}

// putConn makes c the loop's connection in slot, one that Shutdown waits for.
func (l *loop) putConn(c *conn, slot int32) {
	c.slot = slot
	l.conns[slot] = c
	l.live++
}

// addConn gives c a slot of its own (a dial, which registers its socket later).
func (l *loop) addConn(c *conn) { l.putConn(c, l.takeSlot()) }

// open calls OnOpen for a connection, accepted or dialed, and acts on what it did.
func (l *loop) open(c *conn) {
	if err := l.callOpen(c); err != nil {
		l.abort(c, err)
		return
	}
	l.settle(c)
}

func (l *loop) closeListener() {
	if l.lfd >= 0 && l.ring != nil {
		e := l.sqe(kCancel, 0, iouring.OpAsyncCancel, l.lfd) // its accepts, before it closes
		e.OpFlags = iouring.CancelAll | iouring.CancelFd
		l.closeAsync(l.lfd)
		l.lfd = -1
	}
	if l.lfd >= 0 {
		if l.poll != nil {
			l.poll.del(l.lfd)
		}
		unix.Close(l.lfd)
		l.lfd = -1
	}
}
