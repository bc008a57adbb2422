//go:build unix

package stdnet

import (
	"net"
	"os"
	"syscall"
)

// awaitError is a paused reader's wait: it takes no bytes, so the peer's stay in the kernel,
// but it wakes on every readiness of the socket to ask for a pending error, so that a reset
// still ends the connection. It returns that error, or the wait's own (a deadline set by
// wakeReaderLocked, a closed socket).
func (c *conn) awaitError() error {
	rc, err := c.nc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Read(func(fd uintptr) bool {
		n, err := syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_ERROR)
		switch {
		case err != nil:
			serr = os.NewSyscallError("getsockopt", err)
		case n != 0:
			serr = os.NewSyscallError("read", syscall.Errno(n))
		default:
			return false // readable for data or the peer's end of stream: left for ResumeRead
		}
		return true
	})
	if serr != nil {
		return &net.OpError{Op: "read", Net: "tcp", Source: c.local, Addr: c.remote, Err: serr}
	}
	return err
}
