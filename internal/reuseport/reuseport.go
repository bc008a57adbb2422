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
