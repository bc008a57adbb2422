//go:build linux

package netpoller

import (
	"sync/atomic"
	"time"

	"github.com/reactorlab/reactor/reactor"
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
			err = reactor.HandlerPanic(c.b.cfg.Logger, c.remote.String(), v)
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
	c.pending.Store(int64(n))
	switch {
	case n > c.b.cfg.LowWater:
		c.high = true
	case c.high:
		c.high = false
		if c.b.onDrain != nil && c.state == stateOpen && !c.closeReq {
			c.postLocked(c.b.onDrain)
		}
	}
}

// Timer states; a timer moves from armed, through posted, to done, or straight to done when
// stopped or its connection closes.
const (
	timerArmed  = iota // time.Timer pending
	timerPosted        // fired; its run is queued for the owner
	timerDone          // ran, stopped, or cancelled: f will not run (again)
)

// timer is one AfterFunc. Its state word lets stop tell, even after the time.Timer fired,
// whether f can still be kept from running.
type timer struct {
	c     *conn
	f     func(reactor.Conn)
	t     *time.Timer // set under c.mu before anyone else can reach the timer
	state atomic.Int32
}

// AfterFunc implements reactor.Conn. Only from the connection's own callbacks (posted
// functions included). The time.Timer's goroutine only posts f; f runs on the owner.
func (c *conn) AfterFunc(d time.Duration, f func(reactor.Conn)) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOpen || c.closeReq {
		return stopNothing
	}
	t := &timer{c: c, f: f}
	if c.timers == nil {
		c.timers = make(map[*timer]struct{})
	}
	c.timers[t] = struct{}{}
	t.t = time.AfterFunc(d, t.fire)
	return t.stop
}

// stopNothing is the stop of a timer that never started.
func stopNothing() bool { return false }

// fire runs on the time.Timer's goroutine: it posts f's run. A Post refused because the
// connection is closing leaves f unrun, as the close would have.
func (t *timer) fire() {
	if t.state.CompareAndSwap(timerArmed, timerPosted) && t.c.Post(t.run) != nil {
		t.state.Store(timerDone)
	}
}

// run is the posted function: f, unless stop came first.
func (t *timer) run(c reactor.Conn) {
	if !t.state.CompareAndSwap(timerPosted, timerDone) {
		return
	}
	t.c.forget(t)
	t.f(c)
}

// stop keeps f from running if it has not run yet, whether or not the time.Timer fired.
func (t *timer) stop() bool {
	if t.state.CompareAndSwap(timerArmed, timerDone) {
		t.t.Stop()
	} else if !t.state.CompareAndSwap(timerPosted, timerDone) {
		return false
	}
	t.c.forget(t)
	return true
}

// cancel ends the timer because its connection closed. The caller has taken it from c.timers.
func (t *timer) cancel() {
	t.state.Store(timerDone)
	t.t.Stop()
}

// forget drops a timer that is done from the connection's live timers.
func (c *conn) forget(t *timer) {
	c.mu.Lock()
	delete(c.timers, t)
	c.mu.Unlock()
}
