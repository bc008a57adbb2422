// Package reuseport binds TCP sockets with SO_REUSEPORT, so that several listeners — in one
// process or in several (reactor serve --procs) — can serve one port, the kernel spreading new
// connections across them.
package reuseport

import (
	"context"
	"errors"
	"net"
	"syscall"
)

// ErrInUse is returned by CheckFree when another socket already holds the port.
var ErrInUse = errors.New("reuseport: address already in use")

// ListenTCP is the listener a backend serves: net.Listen("tcp", addr), or with share (the
// backend's Config.ReusePort) Listen. Both set SO_REUSEADDR, as net.Listen does, so that a
// restart binds past the sockets of connections that were open at the stop, and their errors
// name the address.
func ListenTCP(addr string, share bool) (*net.TCPListener, error) {
	var ln net.Listener
	var err error
	if share {
		ln, err = Listen(addr)
	} else {
		ln, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	return ln.(*net.TCPListener), nil
}

// Listen is net.Listen("tcp", addr) with SO_REUSEPORT set before the bind.
func Listen(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: control}
	return lc.Listen(context.Background(), "tcp", addr)
}

func control(network, address string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) { serr = setReusePort(fd) })
	if err != nil {
		return err
	}
	return serr
}
