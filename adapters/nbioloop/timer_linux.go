//go:build linux

package nbioloop

import (
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// nbio's pollers have no timers (its Engine.AfterFunc is time.AfterFunc, whose function runs
// on a goroutine of its own), so AfterFunc runs backendkit.PostedTimers: a time.Timer per
// timer, whose function posts a run of the connection's due timers to its loop.

// AfterFunc implements reactor.Conn. Only from the connection's own callbacks.
func (c *conn) AfterFunc(d time.Duration, f func(reactor.Conn)) (stop func() bool) {
	if c.closed || c.ending.Load() {
		return func() bool { return false }
	}
	if c.runTimers == nil {
		c.runTimers, c.post = c.runDue, c.Post
	}
	return c.timers.Arm(d, f, c.post, c.runTimers)
}

// runDue runs the connection's due timers until one closes it. Loop only.
func (c *conn) runDue(reactor.Conn) {
	c.timers.RunDue(func() bool { return !c.ending.Load() }, c.callFunc)
}
