package stdnet

import (
	"sync/atomic"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// The connection's owner is its reader goroutine: besides the callbacks, it runs every function
// posted to the connection (Post, AfterFunc, OnDrain), between reads. A post wakes a reader
// blocked in Read by moving the read deadline into the past, and a paused reader by signalling
// c.wake.

// aLongTimeAgo is a read deadline that has passed, to cut a blocked Read short.
var aLongTimeAgo = time.Unix(1, 0)

// Post implements reactor.Conn. Safe from any goroutine; f runs on the reader goroutine.
func (c *conn) Post(f func(reactor.Conn)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.postLocked(f)
}

// postLocked queues f for the reader and wakes it. Output written before the call is already in
// c.out, so whatever f writes goes out after it.
func (c *conn) postLocked(f func(reactor.Conn)) error {
	if c.closing || c.closed {
		return reactor.ErrConnClosed
	}
	c.posts = append(c.posts, f)
	if c.reading && !c.woken {
		c.woken = true
		c.nc.SetReadDeadline(aLongTimeAgo)
	}
	c.wake.Signal()
	return nil
}

// runPosts runs, on the reader goroutine, what was posted, then flushes what it wrote; while
// reading is paused it waits for more posts. It returns when the reader may read: nothing is
// queued and reading is not paused, or the connection is closing (its input is then drained,
// whatever the pause, and its posts dropped).
func (c *conn) runPosts() {
	c.mu.Lock()
	for {
		if c.closing || c.closed {
			c.posts = nil
			break
		}
		if len(c.posts) > 0 {
			posts := c.posts
			c.posts = nil
			c.mu.Unlock()
			c.runEach(posts)
			c.flushInline()
			c.mu.Lock()
			continue
		}
		if !c.paused {
			break
		}
		c.wake.Wait()
	}
	c.reading = true
	c.mu.Unlock()
}

// runEach runs posts in order until one of them, or another goroutine, closes the connection:
// the rest are dropped with it.
func (c *conn) runEach(posts []func(reactor.Conn)) {
	for _, f := range posts {
		c.mu.Lock()
		open := !c.closing && !c.closed
		c.mu.Unlock()
		if !open {
			return
		}
		c.call(f)
	}
}

// call runs one posted function. A panic costs the connection, as in a callback.
func (c *conn) call(f func(reactor.Conn)) {
	defer func() {
		if v := recover(); v != nil {
			c.Abort(reactor.HandlerPanic(c.b.cfg.Logger, c.remote.String(), v))
		}
	}()
	f(c)
}

// A timer's state. It moves from armed to posted when it fires, and to done when its function
// runs, when stop prevents that, or when the connection closes; only the first move to done
// counts, which is how stop knows whether it prevented the function.
const (
	timerArmed int32 = iota
	timerPosted
	timerDone
)

type timer struct {
	state atomic.Int32
	t     *time.Timer
	f     func(reactor.Conn)
}

// AfterFunc implements reactor.Conn. Only from the connection's own callbacks (and posted
// functions): the timer's goroutine only posts f, which then runs on the reader goroutine.
func (c *conn) AfterFunc(d time.Duration, f func(reactor.Conn)) (stop func() bool) {
	c.mu.Lock()
	open := !c.closing && !c.closed
	c.mu.Unlock()
	if !open {
		return func() bool { return false }
	}
	tm := &timer{f: f}
	if c.timers == nil {
		c.timers = make(map[*timer]struct{})
	}
	c.timers[tm] = struct{}{}
	tm.t = time.AfterFunc(d, func() {
		if tm.state.CompareAndSwap(timerArmed, timerPosted) {
			// Refused once the connection is closing; the close then stops the timer.
			c.Post(func(reactor.Conn) { c.fire(tm) })
		}
	})
	return func() bool { return c.stopTimer(tm) }
}

// fire runs a timer's function on the reader goroutine, unless stop came first.
func (c *conn) fire(tm *timer) {
	if tm.state.CompareAndSwap(timerPosted, timerDone) {
		delete(c.timers, tm)
		tm.f(c)
	}
}

// stopTimer is a timer's stop, on the reader goroutine. A timer that fired but whose function
// waits in the post queue is still prevented: fire finds it done.
func (c *conn) stopTimer(tm *timer) bool {
	tm.t.Stop()
	if tm.state.Swap(timerDone) == timerDone {
		return false
	}
	delete(c.timers, tm)
	return true
}

// stopTimers stops every timer of a connection that has closed, before OnClose.
func (c *conn) stopTimers() {
	for tm := range c.timers {
		tm.t.Stop()
		tm.state.Store(timerDone)
	}
	c.timers = nil
}

// PauseRead implements reactor.Conn. Only from the connection's own callbacks: the reader,
// which runs them, then waits instead of reading until ResumeRead or the connection closes.
func (c *conn) PauseRead() { c.paused = true }

// ResumeRead implements reactor.Conn. Only from the connection's own callbacks.
func (c *conn) ResumeRead() { c.paused = false }
