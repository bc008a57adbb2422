//go:build linux

package gnetloop

import (
	"sync/atomic"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// gnet's loops have no timers of their own (EventLoop.Schedule returns ErrUnsupportedOp, and
// OnTick is one ticker for the whole engine), so AfterFunc runs a time.Timer, which never fires
// early, whose function posts the run to the connection's loop.

// Timer states. A timer leaves timerPending once: to timerFired when the time.Timer fires, to
// timerStopped when stop or the connection's close comes first. The posted run moves
// timerFired to timerDone before it calls f, so stop in between still prevents f.
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
	t          *time.Timer
	state      atomic.Int32
	prev, next *timer // the connection's live timers, stopped at close
}

// AfterFunc implements reactor.Conn. Only from the connection's own callbacks.
func (c *conn) AfterFunc(d time.Duration, f func(reactor.Conn)) (stop func() bool) {
	if c.state.Load() != stateOpen || c.closeReq.Load() {
		return func() bool { return false }
	}
	tm := &timer{c: c, f: f, next: c.timers}
	if c.timers != nil {
		c.timers.prev = tm
	}
	c.timers = tm
	tm.t = time.AfterFunc(d, tm.fire)
	return tm.stop
}

// fire runs on the time.Timer's goroutine: the run goes to the loop, behind what was posted
// before. A closed connection refuses it, and its close stopped the timer anyway.
func (tm *timer) fire() {
	if tm.state.CompareAndSwap(timerPending, timerFired) && tm.c.Post(tm.run) != nil {
		// Closing: f will never run, and a stop from now on must say it did not prevent it.
		tm.state.CompareAndSwap(timerFired, timerDone)
	}
}

// run is posted by fire; it calls f unless stop came first. Loop only.
func (tm *timer) run(reactor.Conn) {
	if tm.state.CompareAndSwap(timerFired, timerDone) {
		tm.unlink()
		tm.f(tm.c)
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

// unlink takes tm off its connection's list. Loop only.
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
