// Package ownertimer gives the native baselines' glue the timers of reactor.Conn.AfterFunc:
// time.AfterFunc does the waiting, and the library's own way of reaching a connection's owner
// (an event loop's task queue, a wake, a lock) does the running, so the timer's function runs
// where the handler's callbacks run and never beside them.
package ownertimer

import "time"

// Set is the timers of one connection. Its methods, and the functions post is given, are for
// the connection's owner only; the zero Set is ready to use.
type Set struct {
	closed bool
	live   map[*timer]struct{} // armed and neither fired nor stopped, for Close to stop
}

type timer struct {
	t              *time.Timer
	stopped, fired bool
}

// AfterFunc arms a timer. Once d has passed, post is called on the timer's goroutine with a
// function that post must run on the connection's owner; that function calls fire unless the
// timer was stopped or the Set closed in the meantime. stop reports whether it prevented fire.
// After Close, AfterFunc arms nothing and returns a stop that does nothing.
func (s *Set) AfterFunc(d time.Duration, post func(run func()), fire func()) (stop func() bool) {
	if s.closed {
		return func() bool { return false }
	}
	if s.live == nil {
		s.live = make(map[*timer]struct{})
	}
	e := &timer{}
	s.live[e] = struct{}{}
	e.t = time.AfterFunc(d, func() {
		post(func() {
			if e.stopped || s.closed {
				return
			}
			e.fired = true
			delete(s.live, e)
			fire()
		})
	})
	return func() bool {
		if e.stopped || e.fired || s.closed {
			return false
		}
		e.stopped = true
		delete(s.live, e)
		e.t.Stop()
		return true
	}
}

// Close stops every timer of the Set: the connection is gone.
func (s *Set) Close() {
	s.closed = true
	for e := range s.live {
		e.t.Stop()
	}
	s.live = nil
}
