//go:build linux

package epoll

import (
	"os"

	"golang.org/x/sys/unix"
)

// pollPoller is poll(2): the loop hands the kernel its whole interest list on every wait, and
// scans the whole list for what came back ready. No descriptor-number limit, but every wait
// costs time in proportion to the connections registered, idle or not.
type pollPoller struct {
	fds  []unix.PollFd // the interest list handed to poll
	tags []int32       // tags[i] belongs to fds[i]
	pos  []int32       // pos[fd] is fd's index in fds, or -1
	next int           // where the next scan starts, so no descriptor is always last
}

func (p *pollPoller) index(fd int) int {
	if fd < len(p.pos) {
		return int(p.pos[fd])
	}
	return -1
}

func (p *pollPoller) add(fd int, tag int32, events uint32) error {
	for len(p.pos) <= fd {
		p.pos = append(p.pos, -1)
	}
	p.pos[fd] = int32(len(p.fds))
	p.fds = append(p.fds, unix.PollFd{Fd: int32(fd), Events: toPoll(events)})
	p.tags = append(p.tags, tag)
	return nil
}

func (p *pollPoller) mod(fd int, tag int32, events uint32) error {
	i := p.index(fd)
	if i < 0 {
		return os.NewSyscallError("poll", unix.ENOENT)
	}
	p.fds[i].Fd, p.fds[i].Events, p.tags[i] = int32(fd), toPoll(events), tag
	if events == evMuted {
		p.fds[i].Fd = ^int32(fd) // poll(2) skips a negative descriptor, hang-ups included
	}
	return nil
}

func (p *pollPoller) del(fd int) {
	i := p.index(fd)
	if i < 0 {
		return
	}
	last := len(p.fds) - 1
	p.fds[i], p.tags[i] = p.fds[last], p.tags[last]
	moved := p.fds[i].Fd
	if moved < 0 {
		moved = ^moved // muted
	}
	p.pos[moved] = int32(i)
	p.fds, p.tags = p.fds[:last], p.tags[:last]
	p.pos[fd] = -1
}

func (p *pollPoller) wait(out []unix.EpollEvent, timeout int) (int, error) {
	if _, err := unix.Poll(p.fds, timeout); err != nil {
		if err == unix.EINTR {
			return 0, nil
		}
		return 0, os.NewSyscallError("poll", err)
	}
	n, total := 0, len(p.fds)
	if p.next >= total {
		p.next = 0
	}
	for k := 0; k < total && n < len(out); k++ {
		i := (p.next + k) % total
		if re := p.fds[i].Revents; re != 0 {
			p.fds[i].Revents = 0
			out[n] = unix.EpollEvent{Events: fromPoll(re), Fd: p.tags[i]}
			n++
		}
	}
	p.next++
	return n, nil
}

func (p *pollPoller) close() {}

func toPoll(ev uint32) int16 {
	var e int16
	if ev&unix.EPOLLIN != 0 {
		e |= unix.POLLIN
	}
	if ev&unix.EPOLLOUT != 0 {
		e |= unix.POLLOUT
	}
	if ev&unix.EPOLLRDHUP != 0 {
		e |= unix.POLLRDHUP
	}
	return e
}

func fromPoll(re int16) uint32 {
	var e uint32
	if re&unix.POLLIN != 0 {
		e |= unix.EPOLLIN
	}
	if re&unix.POLLOUT != 0 {
		e |= unix.EPOLLOUT
	}
	if re&unix.POLLRDHUP != 0 {
		e |= unix.EPOLLRDHUP
	}
	if re&unix.POLLERR != 0 {
		e |= unix.EPOLLERR
	}
	if re&(unix.POLLHUP|unix.POLLNVAL) != 0 {
		e |= unix.EPOLLHUP
	}
	return e
}
