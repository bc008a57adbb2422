//go:build linux

package nbioloop

import (
	"context"
	"net"

	"github.com/lesismal/nbio"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

// dial makes an outbound connection for a connection owned by owner: Go's dialer on a
// goroutine of the adapter's (nbio's DialAsync takes no context and resolves names on the
// caller), then the socket goes to nbio's poller for its descriptor and the handler to owner,
// whose goroutine runs every callback of both connections. Only from owner's goroutine.
func (b *backend) dial(ctx context.Context, owner *loop, addr string, h reactor.Handler) error {
	if err := backendkit.CheckDialAddr(addr); err != nil {
		return err
	}
	if !b.dials.Add(1) {
		return reactor.ErrConnClosed
	}
	dctx, cancel := context.WithCancelCause(ctx)
	stopOnShutdown := context.AfterFunc(b.stopCtx, func() { cancel(context.Cause(b.stopCtx)) })
	// Exits once the dial is answered: its result is handed to a loop, or the failure reported
	// on owner.
	go func() {
		defer b.dials.Done()
		defer cancel(nil)
		defer stopOnShutdown()
		tc, err := backendkit.DialTCP(dctx, b.cfg.DialTimeout, addr)
		var nc *nbio.Conn
		if err == nil {
			// nbio keeps a duplicate of the socket and closes tc.
			if nc, err = nbio.NBConn(tc); err != nil {
				tc.Close()
				err = backendkit.DialError(addr, err)
			}
		}
		if err != nil {
			b.dialFailed(owner, addr, h, err)
			return
		}
		pl := b.loops[nc.Hash()%len(b.loops)]
		c := newConn(b, owner, pl, nc, h)
		c.dst = addr
		b.adopt(c)
	}()
	return nil
}

// dialFailed reports a dial that made no connection: OnClose on the owner loop with err, a
// backendkit.DialError, given a Conn that refuses everything as a closed one does.
func (b *backend) dialFailed(owner *loop, addr string, h reactor.Handler, err error) {
	c := &conn{b: b, lp: owner, pl: owner, h: h, dst: addr, closed: true, finished: true}
	c.laddr, c.raddr = &net.TCPAddr{}, &net.TCPAddr{}
	if a, err := net.ResolveTCPAddr("tcp", addr); err == nil {
		c.raddr = a
	}
	c.settleTask = func() {}
	c.ending.Store(true)
	c.noWrite.Store(true)
	b.tasks.Add(1)
	ok := owner.post(func() {
		defer b.tasks.Done()
		owner.shard.DialFailed()
		if backendkit.CallClose(b.cfg.Logger, h, c, err) {
			owner.shard.HandlerPanic()
		}
	})
	if !ok {
		b.tasks.Done()
	}
}
