//go:build linux

package epoll

import (
	"os"

	"golang.org/x/sys/unix"
)

// fdSetSize is FD_SETSIZE: select's bitmaps have room for descriptors 0 to 1023 only.
const fdSetSize = 1024

// selectPoller is select(2): bitmaps of descriptor numbers, copied in and out of the kernel on
// every wait and scanned up to the highest registered descriptor. Besides being O(n) per wait
// like poll, it cannot watch a descriptor numbered 1024 or more at all; add refuses one.
type selectPoller struct {
	read, write unix.FdSet // the interest sets; copied for each wait
	r, w        unix.FdSet // what the last wait returned
	tags        [fdSetSize]int32
	registered  [fdSetSize]bool
	maxfd       int
	next        int // where the next scan starts, so no descriptor is always last
}

func newSelectPoller() *selectPoller { return &selectPoller{maxfd: -1} }

func (p *selectPoller) add(fd int, tag int32, events uint32) error {
	if fd < 0 || fd >= fdSetSize {
		return errFDSetFull
	}
	p.registered[fd] = true
	p.maxfd = max(p.maxfd, fd)
	return p.mod(fd, tag, events)
}

func (p *selectPoller) mod(fd int, tag int32, events uint32) error {
	if fd < 0 || fd >= fdSetSize || !p.registered[fd] {
		return os.NewSyscallError("select", unix.ENOENT)
	}
	p.tags[fd] = tag
	p.read.Clear(fd)
	p.write.Clear(fd)
	if events&unix.EPOLLIN != 0 {
		p.read.Set(fd)
	}
	if events&unix.EPOLLOUT != 0 {
		p.write.Set(fd)
	}
	return nil
}

func (p *selectPoller) del(fd int) {
	if fd < 0 || fd >= fdSetSize || !p.registered[fd] {
		return
	}
	p.registered[fd] = false
	p.read.Clear(fd)
	p.write.Clear(fd)
	for p.maxfd >= 0 && !p.registered[p.maxfd] {
		p.maxfd--
	}
}

func (p *selectPoller) wait(out []unix.EpollEvent, timeout int) (int, error) {
	p.r, p.w = p.read, p.write
	var tv *unix.Timeval
	if timeout >= 0 {
		t := unix.NsecToTimeval(int64(timeout) * 1e6)
		tv = &t
	}
	if _, err := unix.Select(p.maxfd+1, &p.r, &p.w, nil, tv); err != nil {
		if err == unix.EINTR {
			return 0, nil
		}
		return 0, os.NewSyscallError("select", err)
	}
	// select says only "readable" or "writable"; an error or hang-up shows as readable, and
	// the read that follows finds out which.
	n, span := 0, p.maxfd+1
	if p.next >= span {
		p.next = 0
	}
	for k := 0; k < span && n < len(out); k++ {
		fd := (p.next + k) % span
		if !p.registered[fd] {
			continue
		}
		var e uint32
		if p.r.IsSet(fd) {
			e |= unix.EPOLLIN
		}
		if p.w.IsSet(fd) {
			e |= unix.EPOLLOUT
		}
		if e != 0 {
			out[n] = unix.EpollEvent{Events: e, Fd: p.tags[fd]}
			n++
		}
	}
	p.next++
	return n, nil
}

func (p *selectPoller) close() {}
