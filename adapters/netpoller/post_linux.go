//go:build linux

package netpoller

import (
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

// Post implements reactor.Conn. Safe from any goroutine. f joins the connection's queue of
// posted functions; the owner runs them in order at the end of its turn (settle). When no
// callback runs, Post takes the owner for a goroutine of its own that runs the queue and exits,
// rather than running f on the caller's goroutine, which may be another connection's callback
// or hold locks f needs. What f writes joins the one outbound queue that Write and AsyncWrite
// append to at once, so it goes out after every byte written before the Post.
func (c *conn) Post(f func(reactor.Conn)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOpen || c.closeReq {
		return reactor.ErrConnClosed
	}
	c.postLocked(f)
	return nil
}

// postLocked queues f for the owner, and takes the owner for a runner goroutine when nobody
// holds it. c.mu held; the connection is open.
func (c *conn) postLocked(f func(reactor.Conn)) {
	c.posts = append(c.posts, f)
	if !c.busy {
		c.busy = true
		c.b.wg.Add(1)
		go c.runPosted()
	}
}

// runPosted is the owner for functions posted while no callback ran; it exits once the queue
// is empty (or the connection closed).
func (c *conn) runPosted() {
	defer c.b.wg.Done()
	c.settle()
}

// dropPostsLocked forgets the functions not yet run: a connection that closes drops them.
// c.mu held.
func (c *conn) dropPostsLocked() {
	clear(c.posts)
	c.posts, c.postHead = c.posts[:0], 0
}

// callPosted runs f as the owner; a panic is reported as a callback's would be.
func (c *conn) callPosted(f func(reactor.Conn)) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = backendkit.HandlerPanic(c.b.cfg.Logger, c.remote.String(), v)
		}
	}()
	f(c)
	return nil
}

// Buffered implements reactor.Conn. Safe from any goroutine.
func (c *conn) Buffered() int { return int(c.pending.Load()) }

// outChanged follows the queue's length, c.mu held: for Buffered, and for OnDrain, which is
// posted to the owner when output that was above LowWater falls to it or below (it is mostly
// the flusher that sees this, and the flusher is not the owner).
func (c *conn) outChanged() {
	n := c.out.Len()
	c.st.Buffer(n - int(c.pending.Swap(int64(n))))
	switch {
	case n > c.b.cfg.LowWater:
		c.high = true
	case c.high:
		c.high = false
		if c.onDrain != nil && c.state == stateOpen && !c.closeReq {
			c.postLocked(c.onDrain)
		}
	}
}
