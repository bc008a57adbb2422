//go:build linux

package gnetloop

import (
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// gnet's loops have no timers of their own (EventLoop.Schedule returns ErrUnsupportedOp, and
// OnTick is one ticker for the whole engine), so AfterFunc runs backendkit.PostedTimers: a
// time.Timer per timer, whose function posts a run of the connection's due timers to its loop.

// AfterFunc implements reactor.Conn. Only from the connection's own callbacks.
func (c *conn) AfterFunc(d time.Duration, f func(reactor.Conn)) (stop func() bool) {
	if c.state.Load() != stateOpen || c.closeReq.Load() {
		return func() bool { return false }
	}
	if c.runTimers == nil {
		c.runTimers, c.post = c.runDue, c.Post
	}
	return c.timers.Arm(d, f, c.post, c.runTimers)
}

// runDue runs the connection's due timers until one closes it. Loop only.
func (c *conn) runDue(reactor.Conn) {
	c.timers.RunDue(func() bool { return c.state.Load() == stateOpen }, func(f func(reactor.Conn)) {
		c.callFunc(f)
		c.applyClose()
	})
}
