package backendkit

import (
	"sync/atomic"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// PostedTimers are the AfterFunc timers of one connection, for a backend whose loops keep no
// timers of their own. Each is a time.Timer, which never fires early, whose function posts a
// run to the connection's owner; the run (RunDue) calls every timer that is due, in deadline
// order, since the time.Timers' goroutines may reach the owner in any order on a busy
// machine. Every method is the owner's; the zero value is ready to use.
type PostedTimers struct {
	head *postedTimer
	post func(func(reactor.Conn)) error
	run  func(reactor.Conn)
}

// Timer states. A timer leaves timerArmed once: to timerFired when its time.Timer fires, to
// timerStopped when stop comes first, to timerDone when the connection's close comes first or
// a run finds it due. A run moves timerFired to timerDone before it calls f, so a stop until
// then still prevents f.
const (
	timerArmed int32 = iota
	timerFired
	timerStopped
	timerDone
)

// postedTimer is one AfterFunc. state is shared with the time.Timer's goroutine; the rest is
// the owner's.
type postedTimer struct {
	set        *PostedTimers
	f          func(reactor.Conn)
	when       time.Time
	t          *time.Timer
	state      atomic.Int32
	prev, next *postedTimer // the connection's live timers in deadline order
}

// Arm arms a timer for f, due after d, and returns its stop, which reports whether it kept f
// from running: true while the timer waits, and while its run waits in the owner's queue.
// When it fires, post (the connection's Post) is given run, which must call RunDue; a post
// refused (the connection is closing) means f never runs. post and run are taken from the
// first Arm: they should be made once, so that no post allocates a method value.
func (ts *PostedTimers) Arm(d time.Duration, f func(reactor.Conn), post func(func(reactor.Conn)) error, run func(reactor.Conn)) (stop func() bool) {
	if ts.post == nil {
		ts.post, ts.run = post, run
	}
	tm := &postedTimer{set: ts, f: f, when: time.Now().Add(d)}
	tm.link()
	tm.t = time.AfterFunc(d, tm.fire)
	return tm.stop
}

// RunDue calls call with the function of every timer due by now and not stopped, fired or
// not, earliest first, while open reports true: one whose time.Timer has yet to fire is done
// here, and its fire then finds nothing to do.
func (ts *PostedTimers) RunDue(open func() bool, call func(func(reactor.Conn))) {
	now := time.Now()
	for tm := ts.head; tm != nil && !tm.when.After(now) && open(); tm = ts.head {
		tm.unlink()
		if tm.state.CompareAndSwap(timerArmed, timerDone) {
			tm.t.Stop()
		} else if !tm.state.CompareAndSwap(timerFired, timerDone) {
			continue
		}
		call(tm.f)
	}
}

// StopAll ends every timer of a closing connection: none runs after OnClose, and a stop called
// later reports false, as the close, not the stop, kept f from running.
func (ts *PostedTimers) StopAll() {
	for tm := ts.head; tm != nil; {
		next := tm.next
		tm.state.Store(timerDone)
		tm.t.Stop()
		tm.prev, tm.next = nil, nil
		tm = next
	}
	ts.head = nil
}

// link puts tm into the list, after the timers due no later.
func (tm *postedTimer) link() {
	ts := tm.set
	var prev *postedTimer
	next := ts.head
	for next != nil && !next.when.After(tm.when) {
		prev, next = next, next.next
	}
	tm.prev, tm.next = prev, next
	if prev != nil {
		prev.next = tm
	} else {
		ts.head = tm
	}
	if next != nil {
		next.prev = tm
	}
}

// unlink takes tm off the list, if it is on it.
func (tm *postedTimer) unlink() {
	ts := tm.set
	if tm.prev != nil {
		tm.prev.next = tm.next
	} else if ts.head == tm {
		ts.head = tm.next
	}
	if tm.next != nil {
		tm.next.prev = tm.prev
	}
	tm.prev, tm.next = nil, nil
}

// fire runs on the time.Timer's goroutine: a run goes to the owner, behind what was posted
// before.
func (tm *postedTimer) fire() {
	if tm.state.CompareAndSwap(timerArmed, timerFired) && tm.set.post(tm.set.run) != nil {
		// Closing: f will never run, and a stop from now on must say it did not prevent it.
		tm.state.CompareAndSwap(timerFired, timerDone)
	}
}

func (tm *postedTimer) stop() bool {
	if tm.state.CompareAndSwap(timerArmed, timerStopped) {
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
