//go:build linux

package epoll

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// listenBacklog is the accept queue asked of the kernel; it caps the value at
// net.core.somaxconn, so asking for more than any default costs nothing.
const listenBacklog = 4096

// listenSpec is the resolved form of Config.Addr.
type listenSpec struct {
	family int
	ip     net.IP // nil: every address of the family
	port   int
}

// resolve turns host:port into a listenSpec. An empty host means every address, IPv6 and IPv4
// alike when the machine has IPv6, as the net package does.
func resolve(addr string) (listenSpec, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return listenSpec{}, fmt.Errorf("epoll: listen address %q: %w", addr, err)
	}
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return listenSpec{}, fmt.Errorf("epoll: listen address %q: %w", addr, err)
	}
	spec := listenSpec{port: ta.Port}
	switch {
	case host == "":
		spec.family = unix.AF_INET6
	case ta.IP.To4() != nil:
		spec.family, spec.ip = unix.AF_INET, ta.IP.To4()
	default:
		spec.family, spec.ip = unix.AF_INET6, ta.IP.To16()
	}
	return spec, nil
}

// listen opens a non-blocking listening socket for spec. With reusePort several sockets may
// bind the same port and the kernel spreads incoming connections among them.
func listen(spec listenSpec, reusePort bool) (int, error) {
	fd, err := listenFamily(spec, reusePort)
	if spec.ip == nil && errors.Is(err, unix.EAFNOSUPPORT) {
		// No IPv6 on this machine: "every address" means every IPv4 address.
		spec.family = unix.AF_INET
		fd, err = listenFamily(spec, reusePort)
	}
	return fd, err
}

func listenFamily(spec listenSpec, reusePort bool) (fd int, err error) {
	fd, err = unix.Socket(spec.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	// The error returns below set fd to -1, so the socket to close is kept apart.
	sock := fd
	defer func() {
		if err != nil {
			unix.Close(sock)
		}
	}()
	// SO_REUSEADDR lets a restarted server bind while old connections sit in TIME_WAIT.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return -1, os.NewSyscallError("setsockopt", err)
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return -1, os.NewSyscallError("setsockopt", err)
		}
	}
	var sa unix.Sockaddr
	if spec.family == unix.AF_INET {
		sa4 := &unix.SockaddrInet4{Port: spec.port}
		copy(sa4.Addr[:], spec.ip)
		sa = sa4
	} else {
		if spec.ip == nil || spec.ip.IsUnspecified() {
			// The wildcard IPv6 socket also takes IPv4 connections, as net.Listen's does.
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
				return -1, os.NewSyscallError("setsockopt", err)
			}
		}
		sa6 := &unix.SockaddrInet6{Port: spec.port}
		copy(sa6.Addr[:], spec.ip)
		sa = sa6
	}
	if err := unix.Bind(fd, sa); err != nil {
		return -1, os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(fd, listenBacklog); err != nil {
		return -1, os.NewSyscallError("listen", err)
	}
	return fd, nil
}

// listenAll opens the listeners: one, or with reusePort one per loop on the same port. When
// the configured port is 0, the first socket's port (chosen by the kernel) is used for the
// others. It returns the listeners and the bound address.
func listenAll(addr string, n int, reusePort bool) (fds []int, bound sockAddr, err error) {
	spec, err := resolve(addr)
	if err != nil {
		return nil, bound, err
	}
	if !reusePort {
		n = 1
	}
	defer func() {
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			fds = nil
		}
	}()
	for i := 0; i < n; i++ {
		fd, err := listen(spec, reusePort)
		if err != nil {
			return fds, bound, fmt.Errorf("epoll: listen on %s: %w", addr, err)
		}
		fds = append(fds, fd)
		if i == 0 {
			var rsa unix.RawSockaddrAny
			if err := getsockname(fd, &rsa); err != nil {
				return fds, bound, os.NewSyscallError("getsockname", err)
			}
			bound.set(&rsa)
			spec.port = int(bound.port)
		}
	}
	return fds, bound, nil
}
