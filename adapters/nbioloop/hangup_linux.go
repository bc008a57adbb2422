//go:build linux

package nbioloop

import (
	"errors"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// nbio closes a connection on EPOLLHUP or EPOLLERR right after the read event, whatever the
// socket still holds: a hang-up after both ends sent their FIN (a CloseWrite answered by the
// peer's) would destroy input the adapter had not read yet — because the connection is paused,
// or a turn's read budget ran out. So wherever the adapter leaves input in the socket, it first
// asks whether the socket has hung up, and if so salvages what it holds: the peer has finished
// sending, so that is bounded by the kernel's receive buffer.

// hungUp reports whether the socket has hung up or has an error pending: nbio is about to
// close it. On the goroutine of the connection's poller.
func (c *conn) hungUp() bool {
	hup := false
	c.withFD(func(fd int) {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(pfd, 0); err == nil && n > 0 {
			hup = pfd[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0
		}
	})
	return hup
}

// salvage reads all the socket holds, appending it to dst, and returns it with the end of
// stream or the error that ended it. On the goroutine of the connection's poller.
func (c *conn) salvage(dst, buf []byte) (data []byte, eof bool, err error) {
	for {
		n, rerr := c.nc.Read(buf)
		switch {
		case n > 0:
			c.lp.shard.Received(n)
			dst = append(dst, buf[:n]...)
			continue
		case rerr == nil:
			return dst, true, nil
		case errors.Is(rerr, syscall.EINTR):
			continue
		case errors.Is(rerr, syscall.EAGAIN), errors.Is(rerr, net.ErrClosed):
			return dst, false, nil
		}
		return dst, false, os.NewSyscallError("read", rerr)
	}
}

// holdBeforeHangup keeps, for a connection its poller owns that stops reading (paused, or out
// of budget), what the socket holds when nbio is about to close it: in c.in, with the end of
// stream or error for resumeRead. It reports whether it did. Loop only.
func (c *conn) holdBeforeHangup() bool {
	if !c.hungUp() {
		return false
	}
	var eof bool
	var err error
	had := len(c.in)
	c.in, eof, err = c.salvage(c.in, c.lp.rbuf)
	c.unshown = c.unshown || len(c.in) > had
	c.heldEOF = c.heldEOF || eof
	if err != nil {
		c.mu.Lock()
		if c.hupErr == nil {
			c.hupErr = err
		}
		c.mu.Unlock()
	}
	return true
}
