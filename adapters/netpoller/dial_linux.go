//go:build linux

package netpoller

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"

	"github.com/cloudwego/netpoll"
	"golang.org/x/sys/unix"

	"github.com/reactorlab/reactor/internal/netaddr"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

// Dial implements reactor.Conn. Only from c's own callbacks. A goroutine of the adapter's
// connects (see dial and dialTCP) and serves the new connection with h like an accepted one;
// netpoll has no loop per connection for the two to share, and each has its own owner.
func (c *conn) Dial(ctx context.Context, addr string, h reactor.Handler) error {
	if err := backendkit.CheckDialAddr(addr); err != nil {
		return err
	}
	c.mu.Lock()
	open := c.state == stateOpen && !c.closeReq
	c.mu.Unlock()
	if !open {
		return reactor.ErrConnClosed
	}
	c.b.dial(ctx, addr, h)
	return nil
}

// dialing is a Dial in flight, which Shutdown cancels.
type dialing struct{ cancel context.CancelCauseFunc }

// dial connects to addr for h on a goroutine of its own, bounded by Config.DialTimeout and
// ctx, and cancelled by Shutdown. The goroutine exits once it has delivered the connection
// (OnOpen returned) or the failure (OnClose returned).
func (b *backend) dial(ctx context.Context, addr string, h reactor.Handler) {
	ctx, cancel := context.WithCancelCause(ctx)
	d := &dialing{cancel: cancel}
	b.dialMu.Lock()
	if b.dialsStopped {
		cancel(reactor.ErrServerClosed)
	} else {
		if b.dials == nil {
			b.dials = make(map[*dialing]struct{})
		}
		b.dials[d] = struct{}{}
	}
	b.dialMu.Unlock()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		nc, local, remote, err := dialTCP(ctx, addr, b.cfg)
		b.dialMu.Lock()
		delete(b.dials, d)
		b.dialMu.Unlock()
		cancel(nil)
		if err != nil {
			b.dialFailed(addr, h, err)
			return
		}
		b.serveDialed(nc, local, remote, addr, h)
	}()
}

// stopDials cancels the dials in flight, whose handlers are told ErrServerClosed, and makes
// those that begin later fail the same way at once.
func (b *backend) stopDials() {
	b.dialMu.Lock()
	defer b.dialMu.Unlock()
	b.dialsStopped = true
	for d := range b.dials {
		d.cancel(reactor.ErrServerClosed)
	}
}

// dialTCP connects to addr with the standard library's dialer (backendkit.DialTCP), bounded by
// Config.DialTimeout and ctx, and hands the connected descriptor to netpoll, which then reads
// and schedules it as it does an accepted one. netpoll's own client is not used: its
// DialConnection takes a timeout but no context, and its connect reports every failure the
// poller sees — a refusal, an unreachable host, even a peer that sends its FIN before the
// poller noticed the connect completed — as "connection has been closed by peer", losing the
// cause the contract passes on (ECONNREFUSED …). The returned error is a DialError; when the
// deadline or ctx ended the dial it carries context.DeadlineExceeded or ctx's cause
// (ErrServerClosed for a Shutdown).
func dialTCP(ctx context.Context, addr string, cfg reactor.Config) (nc netpoll.Connection, local, remote net.Addr, err error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	tc, err := backendkit.DialTCP(ctx, 0, addr)
	if err != nil {
		return nil, nil, nil, err
	}
	defer tc.Close() // netpoll gets a duplicate
	local, remote = tc.LocalAddr(), tc.RemoteAddr()
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil, nil, nil, backendkit.DialError(addr, err)
	}
	fd := -1
	cerr := rc.Control(func(s uintptr) { fd, err = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) })
	if err = errors.Join(cerr, err); err != nil {
		return nil, nil, nil, backendkit.DialError(addr, os.NewSyscallError("fcntl", err))
	}
	// Go's dialer set TCP_NODELAY, as netpoll sets it on accepted connections; the option
	// belongs to the socket, which the duplicate shares.
	if nc, err = netpoll.NewFDConnection(fd); err != nil {
		return nil, nil, nil, backendkit.DialError(addr, err)
	}
	return nc, local, remote, nil
}

// testHookDialed, when set by a test, runs between the connecting and attach.
var testHookDialed func()

// serveDialed serves nc, just connected to addr, with h, on the dial goroutine until OnOpen
// has returned. The goroutine owns the connection (busy) from the start, so that nothing —
// a Shutdown closing it, netpoll's first input, its close — reaches the handler before OnOpen.
func (b *backend) serveDialed(nc netpoll.Connection, local, remote net.Addr, addr string, h reactor.Handler) {
	var onDrain func(reactor.Conn)
	if d, ok := h.(reactor.Drainer); ok {
		onDrain = d.OnDrain
	}
	c, err := newConn(b, nc, h, onDrain)
	if err != nil {
		nc.Close()
		b.dialFailed(addr, h, backendkit.DialError(addr, err))
		return
	}
	// netpoll knows no addresses for a descriptor handed to it.
	c.local, c.remote = netaddr.Clone(local), netaddr.Clone(remote)
	c.dialed, c.busy = true, true
	if b.stopping.Load() || !b.conns.Add(c) {
		nc.Close()
		b.dialFailed(addr, h, backendkit.DialError(addr, reactor.ErrServerClosed))
		return
	}
	if testHookDialed != nil {
		testHookDialed()
	}
	early, err := c.attach()
	if err != nil {
		b.conns.Remove(c)
		nc.Close()
		b.dialFailed(addr, h, backendkit.DialError(addr, err))
		return
	}
	c.st.Dialed()
	c.open()
	if early {
		c.onRequest() // what netpoll read before the hang-up; settle delivers the end of stream
	}
}

// attach has netpoll deliver nc's input, hang-up and close to c, while holding off its poller
// (holdOperator): netpoll registered the connection before handing it over, and the poller may
// have seen a hang-up already (early). netpoll's onHup runs a dialed connection's close
// callbacks only when the connection has an OnRequest (or OnConnect), and otherwise leaves the
// close to its user: so after an early hang-up the adapter sets none, reads netpoll's buffer
// itself, and takes the end of stream as its HalfCloser hook would (takeEOFLocked).
func (c *conn) attach() (early bool, err error) {
	op, early, ok, err := holdOperator(c.nc)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, errors.New("netpoll: connection closed as it was made")
	}
	defer releaseOperator(op)
	if err := c.watchWindow(); err != nil {
		return false, err
	}
	if c.hc != nil {
		if err := c.interceptHup(); err != nil {
			return false, err
		}
	}
	c.nc.AddCloseCallback(c.onClosed)
	if early {
		c.mu.Lock()
		err := c.takeEOFLocked()
		c.mu.Unlock()
		if err != nil {
			c.Abort(err) // closed once OnOpen has run: the goroutine owns the connection
		}
		return true, nil
	}
	c.nc.SetOnRequest(c.request)
	return false, nil
}

// request is a dialed connection's netpoll OnRequest.
func (c *conn) request(context.Context, netpoll.Connection) error {
	c.onRequest()
	return nil
}

// dialFailed tells h that its connection to addr could not be made (err, a DialError), on a
// connection that never was: every method refuses or does nothing, and RemoteAddr is addr.
func (b *backend) dialFailed(addr string, h reactor.Handler, err error) {
	c := &conn{b: b, h: h, state: stateClosed, local: &net.TCPAddr{}, remote: dialAddr(addr), st: b.cfg.Stats.Shard(0)}
	c.drained.L = &c.mu
	c.st.DialFailed()
	c.callClose(err)
}

// dialAddr is addr as a net.Addr: a *net.TCPAddr for an IP address, else the name unresolved.
func dialAddr(addr string) net.Addr {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return unresolvedAddr(addr)
}

// unresolvedAddr is a host:port whose host is a name.
type unresolvedAddr string

func (unresolvedAddr) Network() string  { return "tcp" }
func (a unresolvedAddr) String() string { return string(a) }
