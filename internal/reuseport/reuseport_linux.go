//go:build linux

package reuseport

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

func setReusePort(fd uintptr) error {
	return os.NewSyscallError("setsockopt", unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1))
}

// Reserve binds addr with SO_REUSEPORT without listening. That holds the port — the one the
// kernel picks when addr asks for port 0 — for other SO_REUSEPORT listeners to bind, and takes
// no connections itself, since only listening sockets are handed any. It returns the bound
// address and a function that releases the reservation once the listeners are up.
func Reserve(addr string) (*net.TCPAddr, func() error, error) {
	fd, bound, err := bind(addr, unix.SO_REUSEPORT)
	if err != nil {
		return nil, nil, err
	}
	return bound, func() error { return unix.Close(fd) }, nil
}

// CheckFree fails with an error wrapping ErrInUse when some socket is already bound to addr's
// port, SO_REUSEPORT listeners included — the case where binding with SO_REUSEPORT would
// quietly join them and take a share of their connections. It binds without SO_REUSEPORT and
// without listening, so it takes no connection, and closes at once. SO_REUSEADDR keeps
// connections left in TIME_WAIT from counting as a user. Port 0 is always free.
func CheckFree(addr string) error {
	fd, _, err := bind(addr, unix.SO_REUSEADDR)
	if errors.Is(err, unix.EADDRINUSE) {
		return fmt.Errorf("%s: %w", addr, ErrInUse)
	}
	if err != nil {
		return err
	}
	return unix.Close(fd)
}

// bind makes a TCP socket with the socket option opt set, binds it to addr and returns it with
// the address it got.
func bind(addr string, opt int) (int, *net.TCPAddr, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return -1, nil, err
	}
	var sa unix.Sockaddr
	family := unix.AF_INET
	if ip4 := ta.IP.To4(); ip4 != nil || ta.IP == nil {
		s4 := &unix.SockaddrInet4{Port: ta.Port}
		copy(s4.Addr[:], ip4)
		sa = s4
	} else {
		family = unix.AF_INET6
		s6 := &unix.SockaddrInet6{Port: ta.Port}
		copy(s6.Addr[:], ta.IP.To16())
		sa = s6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, nil, os.NewSyscallError("socket", err)
	}
	fail := func(err error) (int, *net.TCPAddr, error) {
		unix.Close(fd)
		return -1, nil, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, 1); err != nil {
		return fail(os.NewSyscallError("setsockopt", err))
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail(os.NewSyscallError("bind", err))
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		return fail(os.NewSyscallError("getsockname", err))
	}
	switch b := bound.(type) {
	case *unix.SockaddrInet4:
		return fd, &net.TCPAddr{IP: net.IP(b.Addr[:]), Port: b.Port}, nil
	case *unix.SockaddrInet6:
		return fd, &net.TCPAddr{IP: net.IP(b.Addr[:]), Port: b.Port}, nil
	}
	return fail(os.NewSyscallError("getsockname", unix.EAFNOSUPPORT))
}
