package evioloop

import (
	"context"
	"net"
	"os"
	"syscall"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

// Dial connects to addr off the loop and serves the connection with h on c's loop. Only from
// c's own callbacks.
//
// evio has no client side, so a goroutine connects (backendkit.DialTCP, bounded by
// Config.DialTimeout and ctx), takes the socket's descriptor out of the net.TCPConn, and hands
// it to c's loop by the doorbell accepted connections take: the loop enrolls it with evio,
// which opens it like an accepted one, and h sees OnOpen there. A dial that fails is reported
// there too, by h.OnClose.
func (c *conn) Dial(ctx context.Context, addr string, h reactor.Handler) error {
	if err := backendkit.CheckDialAddr(addr); err != nil {
		return err
	}
	if c.closing() {
		return reactor.ErrConnClosed
	}
	// The connection h sees, from OnOpen (or the OnClose of a failed dial) on. Until it is
	// connected its local address is unspecified, and its remote one is addr as given.
	out := &conn{b: c.b, h: h, bell: c.bell, st: c.st, local: &net.TCPAddr{}, remote: dialAddr(addr)}
	if d, ok := h.(reactor.Drainer); ok {
		out.onDrain = d.OnDrain
	}
	out.hc, _ = h.(reactor.HalfCloser)
	b := c.b
	dctx, cancel := context.WithCancelCause(ctx)
	b.mu.Lock()
	if b.stage != running || b.served {
		b.mu.Unlock()
		cancel(nil)
		out.bell.report(&accepted{fd: -1, bell: out.bell, out: out, addr: addr, err: backendkit.DialError(addr, reactor.ErrServerClosed)})
		return nil
	}
	b.dialing[out] = cancel
	b.dialWG.Add(1)
	b.mu.Unlock()
	// Exits once the connection is made or has failed, and the outcome is handed to the loop
	// (or, the loop gone, reported to h). Shutdown cancels it, and waits for it.
	go b.dial(dctx, addr, out)
	return nil
}

// dialAddr is the remote address of a connection being dialled: addr as Dial was given it.
type dialAddr string

func (a dialAddr) Network() string { return "tcp" }
func (a dialAddr) String() string  { return string(a) }

// dial connects to addr for out, on a goroutine of its own, and hands the outcome to out's
// loop.
func (b *backend) dial(ctx context.Context, addr string, out *conn) {
	defer b.dialWG.Done()
	a, err := b.connect(ctx, addr, out)
	b.mu.Lock()
	cancel := b.dialing[out]
	delete(b.dialing, out)
	b.mu.Unlock()
	cancel(nil)
	if err != nil {
		a = &accepted{fd: -1, err: err}
	}
	a.bell, a.out, a.addr = out.bell, out, addr
	out.bell.report(a)
}

// connect makes the connection and detaches its socket from the net package: the descriptor
// returned is a duplicate, non-blocking and close-on-exec, and the net.TCPConn is closed.
// Its error is a DialError.
func (b *backend) connect(ctx context.Context, addr string, out *conn) (*accepted, error) {
	// A dial Shutdown cancels fails with ErrServerClosed, ctx's cause (see stopDialsLocked).
	tc, err := backendkit.DialTCP(ctx, b.cfg.DialTimeout, addr)
	if err != nil {
		return nil, err
	}
	defer tc.Close()
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil, backendkit.DialError(addr, err)
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		fd, derr = dupCloexec(int(s))
	}); err != nil {
		return nil, backendkit.DialError(addr, err)
	}
	if derr != nil {
		return nil, backendkit.DialError(addr, derr)
	}
	a, err := b.adopt(fd, tc)
	if err != nil {
		syscall.Close(fd)
		return nil, backendkit.DialError(addr, err)
	}
	out.local, out.remote = tc.LocalAddr(), tc.RemoteAddr()
	return a, nil
}

// adopt readies the duplicate fd of tc's socket for a loop, as prepare does an accepted one.
func (b *backend) adopt(fd int, tc *net.TCPConn) (*accepted, error) {
	// The net package made the socket non-blocking, a flag the duplicate shares; set it all the
	// same, as the loop must never block on it. TCP_NODELAY likewise, as for accepted sockets.
	if err := syscall.SetNonblock(fd, true); err != nil {
		return nil, os.NewSyscallError("fcntl", err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); err != nil {
		return nil, os.NewSyscallError("setsockopt", err)
	}
	sa, err := syscall.Getpeername(fd)
	if err != nil {
		return nil, os.NewSyscallError("getpeername", err)
	}
	return &accepted{fd: fd, sa: sa, local: tc.LocalAddr()}, nil
}

// dupCloexec duplicates fd, close-on-exec.
func dupCloexec(fd int) (int, error) {
	nfd, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return -1, os.NewSyscallError("fcntl", errno)
	}
	return int(nfd), nil
}

// dialFailed reports a dial that made no connection to out's handler: OnClose with cause,
// OnOpen never. On out's loop, or on the dialling goroutine once that loop has stopped.
func (c *conn) dialFailed(cause error) {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.gone = true
	c.st.DialFailed()
	if backendkit.CallClose(c.b.cfg.Logger, c.h, c, cause) {
		c.st.HandlerPanic()
	}
}

// report hands a dial's outcome to the doorbell's loop, which enrolls the connection or
// reports the failure (see admit). Once evio has closed the doorbell, the loop is gone and
// the failure is reported here, with a cause that wraps reactor.ErrServerClosed.
func (d *doorbell) report(a *accepted) {
	if d.deliver(a) {
		return
	}
	if a.fd >= 0 {
		syscall.Close(a.fd)
	}
	a.out.dialFailed(backendkit.DialError(a.addr, reactor.ErrServerClosed))
}

// refuse closes a that a loop will not serve, and reports it to the handler when it was
// dialled: with the dial's own error, or else with cause.
func (a *accepted) refuse(cause error) {
	if a.fd >= 0 {
		syscall.Close(a.fd)
	}
	if a.out == nil {
		return
	}
	if a.err != nil {
		cause = a.err
	} else {
		cause = backendkit.DialError(a.addr, cause)
	}
	a.out.dialFailed(cause)
}
