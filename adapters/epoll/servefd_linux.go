//go:build linux

package epoll

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/reactorlab/reactor/reactor"
	"golang.org/x/sys/unix"
)

// ServeFD serves the one connected TCP socket fd with h and returns once the connection has
// closed (OnClose has run): the child's half of process per connection (package
// adapters/process), which hands a child process the socket its parent accepted. It takes fd
// over: the socket is made non-blocking and closed at the end. The connection runs on a loop
// of its own, on an OS thread of its own, waiting in poll(2), as a connection of the thread
// backend does; every contract point holds, Dial included. When ctx ends first, the
// connection is closed gracefully, OnClose getting reactor.ErrServerClosed. Config.Addr,
// Loops and ReusePort do not apply; EdgeTriggered is refused with reactor.ErrNotSupported.
func ServeFD(ctx context.Context, fd int, cfg reactor.Config, h reactor.Handler) error {
	if h == nil {
		return errors.New("epoll: ServeFD needs a handler")
	}
	if cfg.EdgeTriggered {
		return fmt.Errorf("epoll: ServeFD with edge-triggered readiness: %w", reactor.ErrNotSupported)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return os.NewSyscallError("fcntl", err)
	}
	s := &server{cfg: cfg.WithDefaults(), mech: mechThread, done: make(chan struct{}), started: true}
	s.h = newHandler(h)
	l, err := newLoop(s, 1) // shaped as a connection's own loop (newLoop: index > 0)
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("epoll: ServeFD: %w", err)
	}
	l.single = true
	s.loops = []*loop{l}
	s.running.Store(1)
	c := &conn{l: l, h: s.h, fd: int32(fd)}
	if getpeername(fd, &l.rsa) == nil {
		c.remote.set(&l.rsa)
	}
	if getsockname(fd, &l.rsa) == nil {
		c.local.set(&l.rsa)
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1) // as accept does
	l.post(task{c: c, op: opAttach})
	go func() {
		// Exits when the loop has, or after asking it to drain.
		select {
		case <-ctx.Done():
			l.post(task{op: opDrain})
		case <-s.done:
		}
	}()
	go l.run() // its thread ends with it (run locks it)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
