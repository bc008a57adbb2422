//go:build linux

package epoll

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// poller is the readiness mechanism a loop waits on. The loop speaks epoll's vocabulary — the
// EPOLL* bits, and events that carry a tag (a connection's slot, or tagWake/tagListen) — and
// each mechanism translates: epoll natively; poll and select by keeping the interest set
// themselves and scanning it on every wait, which is exactly the cost the progression is
// about (O(registered) per wait instead of O(ready)).
type poller interface {
	// add registers fd with a tag and an interest (EPOLLIN, EPOLLOUT, …).
	add(fd int, tag int32, events uint32) error
	// mod changes the interest of a registered fd.
	mod(fd int, tag int32, events uint32) error
	// del forgets fd; the loop calls it before closing fd. (epoll forgets on close by itself.)
	del(fd int)
	// wait blocks until something is ready or timeout ms pass (-1: no limit) and fills out.
	wait(out []unix.EpollEvent, timeout int) (int, error)
	// close releases the mechanism's own descriptors.
	close()
}

// evMuted is an interest in nothing at all, not even the errors and hang-ups that epoll and
// poll report whatever the interest (loop.mute): epoll takes it as one-shot, reporting a
// pending hang-up once more and then nothing until the next mod; poll leaves the descriptor
// out of its wait; select never reports what is in neither of its sets.
const evMuted = unix.EPOLLONESHOT

// mechanism names a readiness mechanism.
type mechanism uint8

const (
	mechEpoll mechanism = iota
	mechPoll
	mechSelect
	mechURing  // completions, not readiness: no poller (uring_linux.go)
	mechBusy   // busypoll: no wait at all (busy_linux.go)
	mechThread // thread: a loop per connection, each on an OS thread of its own, waiting in poll(2)
)

func (m mechanism) String() string {
	switch m {
	case mechPoll:
		return "poll"
	case mechSelect:
		return "select"
	case mechURing:
		return "uring"
	case mechBusy:
		return "busypoll"
	case mechThread:
		return "thread"
	}
	return "epoll"
}

// sweeps reports whether the mechanism misses errors on sockets it does not watch for input
// (see loop.sweeping): select's sets, io_uring, which hears of a socket only through the
// requests it has in flight, and busypoll, which reports only what a socket is watched for.
func (m mechanism) sweeps() bool { return m == mechSelect || m == mechURing || m == mechBusy }

func newPoller(m mechanism) (poller, error) {
	switch m {
	case mechPoll, mechThread:
		return &pollPoller{}, nil
	case mechBusy:
		return &busyPoller{}, nil
	case mechSelect:
		return newSelectPoller(), nil
	}
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	return &epollPoller{fd: fd}, nil
}

// errFDSetFull is the select mechanism's refusal of a descriptor it cannot watch.
var errFDSetFull = errors.New("select: descriptor number at or past FD_SETSIZE (1024)")

// epollPoller is epoll(7): the kernel keeps the interest set and reports only what is ready.
type epollPoller struct{ fd int }

func (p *epollPoller) ctl(op, fd int, tag int32, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: tag}
	if err := unix.EpollCtl(p.fd, op, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

func (p *epollPoller) add(fd int, tag int32, events uint32) error {
	return p.ctl(unix.EPOLL_CTL_ADD, fd, tag, events)
}

func (p *epollPoller) mod(fd int, tag int32, events uint32) error {
	return p.ctl(unix.EPOLL_CTL_MOD, fd, tag, events)
}

func (p *epollPoller) del(int) {}

func (p *epollPoller) wait(out []unix.EpollEvent, timeout int) (int, error) {
	n, err := unix.EpollWait(p.fd, out, timeout)
	if err != nil && err != unix.EINTR {
		return 0, os.NewSyscallError("epoll_wait", err)
	}
	return max(n, 0), nil
}

func (p *epollPoller) close() { unix.Close(p.fd) }
