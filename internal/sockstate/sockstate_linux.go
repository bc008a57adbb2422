//go:build linux

// Package sockstate tells, from a socket's state, how a TCP connection ended, for backends
// whose library reads a peer's reset itself and reports it as an end of stream (gnet, netpoll):
// the contract gives OnClose the reset, not io.EOF.
package sockstate

import (
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// TCP states (tcpi_state, include/net/tcp_states.h) that OrderlyEOF tells apart.
const (
	tcpTimeWait  = 6
	tcpClose     = 7
	tcpCloseWait = 8
	tcpClosing   = 11
)

// OrderlyEOF tells whether the socket fd, at a hang-up, ended with the peer's FIN rather than a
// reset. A library's read that met a reset has consumed its error, so the socket's state
// says: a FIN leaves it in CLOSE-WAIT while this side still sends; after this side's own FIN
// (wdone) the peer's FIN ends the socket (TIME-WAIT lives on without it, and the socket reads
// CLOSE), as a reset does, and the two cannot be told apart: both count as an end of stream.
func OrderlyEOF(fd int, wdone bool) bool {
	if SoError(fd) != 0 {
		return false
	}
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return false
	}
	switch info.State {
	case tcpCloseWait:
		return true
	case tcpClose, tcpClosing, tcpTimeWait:
		return wdone
	}
	return false
}

// HangupCause is the cause OnClose gets when the library saw the peer hang up: io.EOF for an
// orderly end of stream, else the socket's error — ECONNRESET for a reset whose error
// the library's read has already taken, leaving the socket closed with none pending.
func HangupCause(fd int, wdone bool) error {
	if e := SoError(fd); e != 0 {
		return os.NewSyscallError("read", e)
	}
	if OrderlyEOF(fd, wdone) {
		return io.EOF
	}
	return os.NewSyscallError("read", syscall.ECONNRESET)
}

// SoError takes the socket's pending error (SO_ERROR), 0 when none.
func SoError(fd int) syscall.Errno {
	e, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if errno, ok := err.(syscall.Errno); ok {
		return errno
	}
	return syscall.Errno(e)
}
