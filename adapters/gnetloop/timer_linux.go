//go:build linux

package gnetloop

import (
	"sync/atomic"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// gnet's loops have no timers of their own (EventLoop.Schedule returns ErrUnsupportedOp, and
// OnTick is one ticker for the whole engine), so AfterFunc runs a time.Timer, which never fires
// early, whose function posts a run to the connection's loop. The run calls every timer of the
// connection that is due, in deadline order: the time.Timers' goroutines may reach the loop
// in another order when the machine is busy.

// Timer states. A timer leaves timerPending once: to timerFired when the time.Timer fires, to
// timerStopped when stop comes first, to timerDone when the connection's close comes first or
// a run finds it due. A run moves timerFired to timerDone before it calls f, so a stop until
// then still prevents f.
const (
	timerPending int32 = iota
	timerFired
	timerStopped
	timerDone
)

// timer is one AfterFunc. state is shared with the time.Timer's goroutine; the rest is the
// loop's.
type timer struct {
	c          *conn
	f          func(reactor.Conn)
	when       time.Time
	t          *time.Timer
	state      atomic.Int32
	prev, next *timer // the connection's live timers in deadline order, stopped at close
}

// AfterFunc implements reactor.Conn. Only from the connection's own callbacks.
func (c *conn) AfterFunc(d time.Duration, f func(reactor.Conn)) (stop func() bool) {
	if c.state.Load() != stateOpen || c.closeReq.Load() {
		return func() bool { return false }
	}
	if c.runTimers == nil {
		c.runTimers = c.runDue
	}
	tm := &timer{c: c, f: f, when: time.Now().Add(d)}
	tm.link()
	tm.t = time.AfterFunc(d, tm.fire)
	return tm.stop
}

// link puts tm into its connection's list, after the timers due no later. Loop only.
func (tm *timer) link() {
	c := tm.c
	var prev *timer
	next := c.timers
	for next != nil && !next.when.After(tm.when) {
		prev, next = next, next.next
	}
	tm.prev, tm.next = prev, next
	if prev != nil {
		prev.next = tm
	} else {
		c.timers = tm
	}
	if next != nil {
		next.prev = tm
	}
}

// fire runs on the time.Timer's goroutine: a run goes to the loop, behind what was posted
// before. A closed connection refuses it, and its close stopped the timer anyway.
func (tm *timer) fire() {
	if tm.state.CompareAndSwap(timerPending, timerFired) && tm.c.Post(tm.c.runTimers) != nil {
		// Closing: f will never run, and a stop from now on must say it did not prevent it.
		tm.state.CompareAndSwap(timerFired, timerDone)
	}
}

// runDue calls, in deadline order, the function of every timer due by now and not stopped,
// fired or not: one whose time.Timer has yet to fire is done here, and its fire then finds
// nothing to do. It stops when a function closes the connection. Loop only.
func (c *conn) runDue(reactor.Conn) {
	now := time.Now()
	for tm := c.timers; tm != nil && !tm.when.After(now) && c.state.Load() == stateOpen; tm = c.timers {
		tm.unlink()
		if tm.state.CompareAndSwap(timerPending, timerDone) {
			tm.t.Stop()
		} else if !tm.state.CompareAndSwap(timerFired, timerDone) {
			continue
		}
		c.callFunc(tm.f)
		c.applyClose()
	}
}

// stop reports whether it kept f from running: true while the timer waits, and while its run
// waits in the loop's queue. Loop only.
func (tm *timer) stop() bool {
	if tm.state.CompareAndSwap(timerPending, timerStopped) {
		tm.t.Stop()
		tm.unlink()
		return true
	}
	if tm.state.CompareAndSwap(timerFired, timerStopped) {
		tm.unlink()
		return true
	}
	return false
}

// unlink takes tm off its connection's list, if it is on it. Loop only.
func (tm *timer) unlink() {
	c := tm.c
	if tm.prev != nil {
		tm.prev.next = tm.next
	} else if c.timers == tm {
		c.timers = tm.next
	}
	if tm.next != nil {
		tm.next.prev = tm.prev
	}
	tm.prev, tm.next = nil, nil
}

// stopTimers ends every timer of a closing connection: none fires after OnClose, and a stop
// called later reports false, as the close, not the stop, kept f from running. Loop only.
func (c *conn) stopTimers() {
	for tm := c.timers; tm != nil; {
		next := tm.next
		tm.state.Store(timerDone)
		tm.t.Stop()
		tm.prev, tm.next = nil, nil
		tm = next
	}
	c.timers = nil
}
