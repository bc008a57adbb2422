//go:build linux

package epoll

import (
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The few system calls below are made directly rather than through x/sys's friendlier
// wrappers, because those allocate on every call (accept4 boxes the peer address in a new
// Sockaddr, writev builds a fresh iovec slice) and these calls sit on paths that must not.

// accept4 accepts one connection as a non-blocking, close-on-exec socket and leaves the peer's
// address in rsa.
func accept4(lfd int, rsa *unix.RawSockaddrAny) (int, error) {
	size := uint32(unix.SizeofSockaddrAny)
	fd, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(lfd), uintptr(unsafe.Pointer(rsa)),
		uintptr(unsafe.Pointer(&size)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// getsockname leaves the local address of fd in rsa.
func getsockname(fd int, rsa *unix.RawSockaddrAny) error {
	size := uint32(unix.SizeofSockaddrAny)
	_, _, e := unix.RawSyscall(unix.SYS_GETSOCKNAME, uintptr(fd), uintptr(unsafe.Pointer(rsa)),
		uintptr(unsafe.Pointer(&size)))
	if e != 0 {
		return e
	}
	return nil
}

// getpeername leaves the address of fd's peer in rsa.
func getpeername(fd int, rsa *unix.RawSockaddrAny) error {
	size := uint32(unix.SizeofSockaddrAny)
	_, _, e := unix.RawSyscall(unix.SYS_GETPEERNAME, uintptr(fd), uintptr(unsafe.Pointer(rsa)),
		uintptr(unsafe.Pointer(&size)))
	if e != 0 {
		return e
	}
	return nil
}

// writev sends iov with one system call and returns the bytes written.
func writev(fd int, iov []unix.Iovec) (int, error) {
	n, _, e := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// sockAddr is an IPv4 or IPv6 address and port kept in a fixed array, so that a connection
// stores both of its ends in 40 bytes and builds a *net.TCPAddr only when someone asks.
// IPv6 zones are not kept: link-local peers are reported without their interface.
type sockAddr struct {
	ip   [16]byte
	port uint16
	v6   bool
}

// set copies the address out of a raw socket address filled in by the kernel.
func (a *sockAddr) set(rsa *unix.RawSockaddrAny) {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		a.ip = [16]byte{}
		copy(a.ip[:4], sa.Addr[:])
		a.port = networkPort(&sa.Port)
		a.v6 = false
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		a.ip = sa.Addr
		a.port = networkPort(&sa.Port)
		a.v6 = true
	}
}

// setIP sets a to ip and port (ip's zone is not kept).
func (a *sockAddr) setIP(ip netip.Addr, port int) {
	a.ip, a.port, a.v6 = [16]byte{}, uint16(port), ip.Is6()
	if a.v6 {
		a.ip = ip.As16()
	} else {
		v4 := ip.As4()
		copy(a.ip[:4], v4[:])
	}
}

// networkPort reads a port stored in network byte order, whatever the machine's order.
func networkPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// tcpAddr returns a new *net.TCPAddr for a; the caller owns it.
func (a *sockAddr) tcpAddr() *net.TCPAddr {
	var ip net.IP
	if a.v6 {
		ip = make(net.IP, 16)
		copy(ip, a.ip[:])
	} else {
		ip = make(net.IP, 4)
		copy(ip, a.ip[:4])
	}
	return &net.TCPAddr{IP: ip, Port: int(a.port)}
}

// unspecified reports whether a is a wildcard address (0.0.0.0 or ::), for which the local end
// of each accepted connection has to be asked of the kernel.
func (a *sockAddr) unspecified() bool {
	return a.ip == [16]byte{}
}
