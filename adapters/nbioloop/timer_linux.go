//go:build linux

package nbioloop

import (
	"sync/atomic"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// nbio's pollers have no timers (its Engine.AfterFunc is time.AfterFunc, whose function runs
// on a goroutine of its own), so a timer is a time.Timer whose function posts a run of the
// connection's due timers to its loop. The run takes them in deadline order, as time.Timers'
// goroutines may reach the loop in any order on a busy machine.

// Timer states; a timer leaves armed once. stop wins while the timer is armed or its run is
// still queued (fired); a run, or the connection's close, makes it done.
const (
	timerArmed int32 = iota
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
	prev, next *timer // the connection's timers, earliest first
}

// AfterFunc implements reactor.Conn. Only from the connection's own callbacks.
func (c *conn) AfterFunc(d time.Duration, f func(reactor.Conn)) (stop func() bool) {
	if c.closed || c.ending.Load() {
		return func() bool { return false }
	}
	if c.runTimers == nil {
		c.runTimers = c.runDue
	}
	tm := &timer{c: c, f: f, when: time.Now().Add(d)}
	tm.insert()
	tm.t = time.AfterFunc(d, tm.fire)
	return tm.stop
}

// insert links tm after every timer due no later than it. Loop only.
func (tm *timer) insert() {
	c := tm.c
	var prev *timer
	next := c.timers
	for next != nil && !next.when.After(tm.when) {
		prev, next = next, next.next
	}
	tm.prev, tm.next = prev, next
	if prev == nil {
		c.timers = tm
	} else {
		prev.next = tm
	}
	if next != nil {
		next.prev = tm
	}
}

// remove unlinks tm when linked. Loop only.
func (tm *timer) remove() {
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

// fire is the time.Timer's function: it posts a run to the loop. A closing connection refuses
// the post; f then never runs, and a later stop must report that it did not prevent it.
func (tm *timer) fire() {
	if tm.state.CompareAndSwap(timerArmed, timerFired) && tm.c.Post(tm.c.runTimers) != nil {
		tm.state.CompareAndSwap(timerFired, timerDone)
	}
}

// runDue calls every due timer's f that was not stopped, earliest first, until one closes
// the connection. A due timer whose time.Timer has not fired yet is run too (its fire then
// finds it done). Loop only.
func (c *conn) runDue(reactor.Conn) {
	now := time.Now()
	for tm := c.timers; tm != nil && !tm.when.After(now) && !c.ending.Load(); tm = c.timers {
		tm.remove()
		if tm.state.CompareAndSwap(timerArmed, timerDone) {
			tm.t.Stop()
		} else if !tm.state.CompareAndSwap(timerFired, timerDone) {
			continue
		}
		c.callFunc(tm.f)
	}
}

// stop reports whether it kept f from running. Loop only.
func (tm *timer) stop() bool {
	if tm.state.CompareAndSwap(timerArmed, timerStopped) {
		tm.t.Stop()
		tm.remove()
		return true
	}
	if tm.state.CompareAndSwap(timerFired, timerStopped) {
		tm.remove()
		return true
	}
	return false
}

// stopTimers ends the timers of a closing connection: none runs after OnClose. Loop only.
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
