//go:build linux

package reuseport

import (
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
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, nil, err
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
		return nil, nil, os.NewSyscallError("socket", err)
	}
	release := func() error { return unix.Close(fd) }
	if err := setReusePort(uintptr(fd)); err != nil {
		release()
		return nil, nil, err
	}
	if err := unix.Bind(fd, sa); err != nil {
		release()
		return nil, nil, os.NewSyscallError("bind", err)
	}
	bound, err := unix.Getsockname(fd)
	if err != nil {
		release()
		return nil, nil, os.NewSyscallError("getsockname", err)
	}
	switch b := bound.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(b.Addr[:]), Port: b.Port}, release, nil
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(b.Addr[:]), Port: b.Port}, release, nil
	}
	release()
	return nil, nil, os.NewSyscallError("getsockname", unix.EAFNOSUPPORT)
}
