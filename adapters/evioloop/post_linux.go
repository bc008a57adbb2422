package evioloop

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

// Post queues f for the connection's loop and wakes it, as AsyncWrite does: the queue shares
// AsyncWrite's lock, so f runs after the bytes of every AsyncWrite made before the Post. Safe
// from any goroutine.
func (c *conn) Post(f func(reactor.Conn)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.flags.Load()&(flagClose|flagAbort) != 0 {
		return reactor.ErrConnClosed
	}
	c.posts = append(c.posts, f)
	c.flags.Or(flagPost)
	c.wakeLocked()
	return nil
}

// runPosts runs the functions posted so far, on the loop, between callbacks. Those posted
// while they run wait for the next wake, which their Post asked for. A close asked for on
// the way drops the rest.
func (c *conn) runPosts() {
	c.mu.Lock()
	fs := c.posts
	c.posts, c.postSpare = c.postSpare, nil
	c.flags.And(^uint32(flagPost))
	c.mu.Unlock()
	for i, f := range fs {
		fs[i] = nil
		if !c.closing() {
			c.call(f)
		}
	}
	c.mu.Lock()
	c.postSpare = fs[:0]
	c.mu.Unlock()
}

// call runs f, posted or a timer's, for the connection; a panic costs the connection, as one
// in a callback does.
func (c *conn) call(f func(reactor.Conn)) {
	defer func() {
		if v := recover(); v != nil {
			c.Abort(backendkit.HandlerPanic(c.b.cfg.Logger, c.remote.String(), v))
		}
	}()
	f(c)
}

// closing reports whether the connection is on its way out: nothing more is run for it.
// Only on the loop.
func (c *conn) closing() bool {
	return c.gone || c.closeSent || c.flags.Load()&(flagClose|flagAbort) != 0
}

// States of a timer, in its state word.
const (
	timerArmed = iota // waiting for time.AfterFunc
	timerFired        // fired: a run of what is due is posted to the loop
	timerDone         // ran, stopped, or its connection closed
)

// timer is one AfterFunc. evio's Tick is per server, not per connection, and its ticker
// goroutine outlives the server (see stopLoops), so a timer is a time.Timer whose callback
// posts to the loop. The state word settles the race between the loop's stop and the timer's
// goroutine: whoever moves it to timerDone first decides whether f runs.
type timer struct {
	c     *conn
	f     func(reactor.Conn)
	when  time.Time
	t     *time.Timer
	state atomic.Int32
}

// AfterFunc arranges for f to run on the loop once d has passed. Only from the connection's
// own callbacks.
func (c *conn) AfterFunc(d time.Duration, f func(reactor.Conn)) (stop func() bool) {
	if c.closing() {
		return noStop
	}
	t := &timer{c: c, f: f, when: time.Now().Add(d)}
	if c.timers == nil {
		c.timers = make(map[*timer]struct{})
		c.runDueFn = c.runDue
	}
	c.timers[t] = struct{}{}
	t.t = time.AfterFunc(d, t.fire)
	return t.stop
}

// noStop is the stop of a timer that was never armed: it prevents nothing.
func noStop() bool { return false }

// fire runs on the timer's goroutine and posts a run of every due timer, not of this one
// alone: timer goroutines are scheduled in no particular order, and under load one can run
// after a later timer's, which must not overtake it. A Post refused because the connection
// is closing leaves nothing to do; finish marks the timer done.
func (t *timer) fire() {
	c := t.c
	if t.state.CompareAndSwap(timerArmed, timerFired) && c.duePosted.CompareAndSwap(false, true) {
		if c.Post(c.runDueFn) != nil {
			c.duePosted.Store(false)
		}
	}
}

// runDue runs, on the loop, the functions of the timers that have fired or whose time has
// come, in the order of their deadlines. A timer that has fired makes every timer due before
// it due now, though the clock read at the start may say otherwise: a timer's goroutine may
// fire it while runDue looks, ahead of an earlier one whose goroutine has yet to run.
func (c *conn) runDue(reactor.Conn) {
	c.duePosted.Store(false)
	now := time.Now()
	due := c.due[:0]
	for t := range c.timers {
		switch t.state.Load() {
		case timerFired:
			if t.when.After(now) {
				now = t.when
			}
			due = append(due, t)
		case timerArmed:
			due = append(due, t)
		}
	}
	// Timers not due by now are left for a later run, which their firing posts (one that fires
	// meanwhile too: its state is not looked at again).
	n := 0
	for _, t := range due {
		if !t.when.After(now) {
			due[n] = t
			n++
		}
	}
	clear(due[n:])
	due = due[:n]
	slices.SortFunc(due, func(a, b *timer) int { return a.when.Compare(b.when) })
	for i, t := range due {
		due[i] = nil
		// A function that ran before may have stopped this one, or closed the connection.
		if c.closing() || !t.claim() {
			continue
		}
		t.t.Stop()
		delete(c.timers, t)
		c.call(t.f)
	}
	c.due = due[:0]
}

// claim moves the timer to timerDone, and reports whether it was the one that did.
func (t *timer) claim() bool {
	for {
		s := t.state.Load()
		if s == timerDone {
			return false
		}
		if t.state.CompareAndSwap(s, timerDone) {
			return true
		}
	}
}

// stop prevents f from running if it has not yet: armed, or fired with its run still
// queued. Only on the loop.
func (t *timer) stop() bool {
	if !t.claim() {
		return false
	}
	t.t.Stop()
	delete(t.c.timers, t)
	return true
}

// stopTimers stops every timer of a connection that has closed. On the loop.
func (c *conn) stopTimers() {
	for t := range c.timers {
		t.state.Store(timerDone)
		t.t.Stop()
	}
	c.timers = nil
}
