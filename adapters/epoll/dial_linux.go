//go:build linux

package epoll

// Outbound connections: Conn.Dial connects without blocking, on the loop of the connection that
// asks. The new connection waits in the loop's table, in stateConnecting, for its socket to
// become writable; a host name is resolved on a goroutine, whose answer comes back through the
// inbox; the loop's timer heap keeps the deadline.

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
	"golang.org/x/sys/unix"
)

// dialing is a Dial in progress. Its loop keeps it in loop.dials from Dial until the new
// connection opens or fails; a task about a connection no longer there (a cancel, a lookup's
// answer) comes too late and is dropped.
type dialing struct {
	addr     string // as given to Dial, for DialError
	ctx      context.Context
	deadline time.Time // Config.DialTimeout from Dial, or ctx's deadline if earlier
	port     int
	addrs    []netip.Addr       // the addresses not tried yet, in order
	err      error              // the first attempt's failure: the cause if no address connects
	stopCtx  func() bool        // stops the context.AfterFunc that posts ctx's end, or nil
	cancel   context.CancelFunc // ends the host name's lookup, or nil

	// Written by the lookup's goroutine before it posts opResolved, read by the loop after.
	resolved []netip.Addr
	rerr     error
}

// lookupIP looks up the addresses of a host name for Dial; tests make it slow.
var lookupIP = net.DefaultResolver.LookupNetIP

// errNoAddress is the cause of a dial whose host name resolved to nothing.
var errNoAddress = errors.New("no address for the host")

// Dial connects to addr without blocking, on this connection's loop, and serves the new
// connection there with h: OnOpen once connected, or h.OnClose with a DialError if it cannot
// be made. A host name is resolved on a goroutine of its own; its addresses are tried in
// order, one at a time, until one connects. Only from the connection's own callbacks.
func (c *conn) Dial(ctx context.Context, addr string, h reactor.Handler) error {
	if err := backendkit.CheckDialAddr(addr); err != nil {
		return err
	}
	if h == nil {
		return errors.New("epoll: Dial needs a handler")
	}
	if c.state != stateOpen || c.req.Load()&reqEnding != 0 {
		return reactor.ErrConnClosed
	}
	if ctx == nil {
		ctx = context.Background()
	}
	c.l.dial(ctx, addr, h)
	return nil
}

// dial starts a Dial: the new connection takes a slot of the loop (so that it counts for
// Shutdown, which fails it if still connecting) and a deadline in its timer heap. Nothing here
// calls a handler: a dial that fails at once fails through the inbox, after the asking
// callback has returned.
func (l *loop) dial(ctx context.Context, addr string, h reactor.Handler) {
	c := &conn{l: l, h: newHandler(h), fd: -1, state: stateConnecting}
	d := &dialing{addr: addr, ctx: ctx}
	l.addConn(c)
	if l.dials == nil {
		l.dials = make(map[*conn]*dialing)
	}
	l.dials[c] = d
	d.deadline = time.Now().Add(l.s.cfg.DialTimeout)
	if deadline, ok := ctx.Deadline(); ok && deadline.Before(d.deadline) {
		d.deadline = deadline
	}
	l.schedule(c, time.Until(d.deadline), dialTimedOut)
	if ctx.Done() != nil {
		d.stopCtx = context.AfterFunc(ctx, func() { l.post(task{c: c, op: opDialCancel}) })
	}
	switch {
	case ctx.Err() != nil:
		l.post(task{c: c, op: opDialCancel}) // no connect: it could beat the AfterFunc's task
		return
	case l.draining:
		d.err = reactor.ErrServerClosed
		l.post(task{c: c, op: opDialFail})
		return
	}
	host, port, _ := net.SplitHostPort(addr) // CheckDialAddr has vouched for both
	d.port, _ = strconv.Atoi(port)
	if host == "" {
		host = "0.0.0.0" // the local system, as net.Dial has it
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		d.addrs = []netip.Addr{ip}
		l.connectNext(c, d)
		return
	}
	lookup, cancel := context.WithCancel(ctx) // the loop's timer ends it at the deadline
	d.cancel = cancel
	l.s.lookups.Add(1)
	go func() {
		defer l.s.lookups.Done()
		d.resolved, d.rerr = lookupIP(lookup, "ip", host)
		l.post(task{c: c, op: opResolved}) // refused if the loop has stopped: nothing to undo
	}()
}

// dialTimedOut is the timer of a dial that has not connected by its deadline.
func dialTimedOut(rc reactor.Conn) {
	c := rc.(*conn)
	c.l.failDial(c, context.DeadlineExceeded)
}

// dialTask carries out a task about a dial: the end of its context, a host name's addresses,
// or a failure noted when it could not be acted on.
func (l *loop) dialTask(c *conn, o op) {
	d, ok := l.dials[c]
	if !ok {
		return // the dial has ended meanwhile
	}
	switch {
	case d.ctx.Err() != nil:
		l.failDial(c, context.Cause(d.ctx))
	case o == opDialFail:
		l.failDial(c, d.err)
	case o == opResolved && d.rerr != nil:
		l.failDial(c, d.rerr)
	case o == opResolved && len(d.resolved) == 0:
		l.failDial(c, errNoAddress)
	case o == opResolved:
		d.addrs = d.resolved
		l.connectNext(c, d)
	}
}

// connectNext starts connecting c to the next address that does not fail at once. When none is
// left, the dial fails through the inbox, as connectNext may run inside the asking callback.
func (l *loop) connectNext(c *conn, d *dialing) {
	for len(d.addrs) > 0 {
		ip := d.addrs[0]
		d.addrs = d.addrs[1:]
		err := l.connect(c, ip, d.port)
		if err == nil {
			return // the socket's writability will tell how it went (connected)
		}
		if d.err == nil {
			d.err = err
		}
	}
	l.post(task{c: c, op: opDialFail})
}

// connect opens a non-blocking socket for ip and port, starts connecting it and registers it
// for writability, which comes when the connection is made or has failed.
func (l *loop) connect(c *conn, ip netip.Addr, port int) error {
	ip = ip.Unmap()
	var sa unix.Sockaddr
	family := unix.AF_INET
	if ip.Is4() {
		sa = &unix.SockaddrInet4{Port: port, Addr: ip.As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: port, Addr: ip.As16(), ZoneId: zoneIndex(ip.Zone())}
	}
	c.remote.setIP(ip, port) // for OnClose should it fail; the kernel's word replaces it
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	if l.ring != nil {
		if err := l.ringConnect(c, fd, sa); err != nil {
			unix.Close(fd)
			return err
		}
		return nil
	}
	switch err := unix.Connect(fd, sa); err {
	case nil, unix.EINPROGRESS, unix.EINTR: // EINTR: the connection goes on in the background
	default:
		unix.Close(fd)
		return os.NewSyscallError("connect", err)
	}
	events := uint32(unix.EPOLLOUT)
	if l.edge {
		events = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET // as attach has it
	}
	if err := l.poll.add(fd, c.slot, events); err != nil {
		unix.Close(fd)
		return err
	}
	c.fd, c.events = int32(fd), events
	return nil
}

// zoneIndex is the interface index an IPv6 zone names, or 0.
func zoneIndex(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	n, _ := strconv.ParseUint(zone, 10, 32)
	return uint32(n)
}

// connected handles the readiness of a connecting socket: made, c opens as an accepted
// connection would; failed, the next address is tried, or the dial fails.
func (l *loop) connected(c *conn, events uint32) {
	err := socketError(int(c.fd))
	if err == io.EOF {
		// No error; but only a connected socket has a peer. Writable without one would be a
		// spurious wake-up, which waits on; a hang-up without one is a failure.
		switch perr := getpeername(int(c.fd), &l.rsa); {
		case perr == nil:
			err = nil
		case events&(unix.EPOLLERR|unix.EPOLLHUP) == 0:
			return
		default:
			err = os.NewSyscallError("connect", perr)
		}
	}
	l.connectResult(c, err)
	if l.edge && c.state == stateOpen {
		// Input that arrived with the connection was in this edge, and no other will come
		// for it.
		l.ready(c, events&^unix.EPOLLOUT)
	}
}

// connectResult finishes a connect: failed (err), the next address is tried, or the dial
// fails; made, with the peer's address in l.rsa, c opens as an accepted connection would.
func (l *loop) connectResult(c *conn, err error) {
	d := l.dials[c]
	if err != nil {
		if l.poll != nil {
			l.poll.del(int(c.fd))
		}
		unix.Close(int(c.fd)) // nothing is in flight on it
		c.fd = -1
		if d.err == nil {
			d.err = err
		}
		l.connectNext(c, d)
		return
	}
	// Connected; but its context may have ended, or its deadline passed, with the tasks and
	// timer that say so still to come this round.
	switch {
	case d.ctx.Err() != nil:
		l.failDial(c, context.Cause(d.ctx))
		return
	case !time.Now().Before(d.deadline):
		l.failDial(c, context.DeadlineExceeded)
		return
	}
	l.endDial(c, d)
	unix.SetsockoptInt(int(c.fd), unix.IPPROTO_TCP, unix.TCP_NODELAY, 1) // as accept does
	c.remote.set(&l.rsa)
	if getsockname(int(c.fd), &l.rsa) == nil {
		c.local.set(&l.rsa)
	}
	c.state = stateOpen
	l.countOpen(c, true)
	l.open(c) // settle, after OnOpen, registers the interest of an open connection
}

// failDial ends a dial that could not connect: h.OnClose gets a DialError with cause, and
// OnOpen never comes.
func (l *loop) failDial(c *conn, cause error) {
	d := l.dials[c]
	l.endDial(c, d)
	l.release(c, backendkit.DialError(d.addr, cause))
}

// endDial forgets a dial that connected or failed, and stops what would still act on it: its
// deadline, the watch on its context and the lookup of its host name.
func (l *loop) endDial(c *conn, d *dialing) {
	delete(l.dials, c)
	l.stopTimers(c)
	if d.stopCtx != nil {
		d.stopCtx()
	}
	if d.cancel != nil {
		d.cancel()
	}
}
