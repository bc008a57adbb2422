//go:build linux

package epoll

import "golang.org/x/sys/unix"

// busyPoller is the busy-polling loop of the progression: it waits for nothing. Its wait makes
// no system call and returns at once, every watched descriptor reported ready for whatever it
// is watched for; the loop then tries the accept, read or write, and the kernel's EAGAIN says
// there was nothing after all. The timeout is ignored: the loop comes round again at once and
// runs its timers by the clock. It keeps its interest list as pollPoller does.
type busyPoller struct{ pollPoller }

func (p *busyPoller) wait(out []unix.EpollEvent, _ int) (int, error) {
	n, total := 0, len(p.fds)
	if p.next >= total {
		p.next = 0
	}
	k := 0
	for ; k < total && n < len(out); k++ {
		i := (p.next + k) % total
		f := &p.fds[i]
		if f.Fd < 0 || f.Events == 0 {
			continue // muted, or watched for nothing
		}
		out[n] = unix.EpollEvent{Events: fromPoll(f.Events), Fd: p.tags[i]}
		n++
	}
	// Start the next wait where this one stopped, so that descriptors past the first
	// len(out) get their turn.
	if total > 0 {
		p.next = (p.next + k) % total
	}
	return n, nil
}
