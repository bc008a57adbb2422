//go:build linux

package epoll

// Timers: Conn.AfterFunc's functions, kept by the loop in a min-heap of deadlines that sets
// the wait's timeout. No goroutine and no runtime timer per AfterFunc.

import (
	"math"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// timer is one AfterFunc: a node in its loop's deadline heap and in its connection's list of
// timers, by which a closing connection finds and stops them. Nodes are recycled through the
// loop's free list; gen tells a stop function made for an earlier use of the node that its
// timer is gone.
type timer struct {
	c    *conn
	f    func(reactor.Conn)
	when int64  // deadline, in nanoseconds of the loop's clock
	next *timer // c's next timer, or the free list's next node
	at   int32  // index in l.timers; -1 when not scheduled
	gen  uint32 // incremented at every recycling
}

// maxFreeTimers bounds the loop's free list: steady use (a timer reset per request) needs a
// node or two, and a burst of timers should not stay allocated after it.
const maxFreeTimers = 1024

// noStop is AfterFunc's answer on a connection that is closing: there is nothing to stop.
func noStop() bool { return false }

// AfterFunc arranges for f to run on the loop once d has passed, unless stop is called first
// or the connection closes. Only from the connection's own callbacks (posted and timer
// functions included). It allocates the stop function (24 bytes), which must name this timer
// and no later use of its recycled node; the node itself comes from the loop's free list.
func (c *conn) AfterFunc(d time.Duration, f func(reactor.Conn)) (stop func() bool) {
	if c.state != stateOpen || c.req.Load()&reqEnding != 0 {
		return noStop
	}
	t := c.l.schedule(c, d, f)
	gen := t.gen
	return func() bool { return t.stop(gen) }
}

// clock is the loop's monotonic time in nanoseconds since it was made.
func (l *loop) clock() int64 { return int64(time.Since(l.epoch)) }

// schedule makes a timer for c that runs f after d.
func (l *loop) schedule(c *conn, d time.Duration, f func(reactor.Conn)) *timer {
	t := l.freeTimers
	if t != nil {
		l.freeTimers, l.nfree = t.next, l.nfree-1
	} else {
		t = &timer{}
	}
	when := l.clock() + int64(max(d, 0))
	if when < 0 {
		when = math.MaxInt64 // d so long that the sum overflowed: never, in effect
	}
	t.c, t.f, t.when = c, f, when
	t.next, c.timers = c.timers, t
	t.at = int32(len(l.timers))
	l.timers = append(l.timers, t)
	l.siftUp(int(t.at))
	return t
}

// stop cancels t if it is still the timer gen names, and reports whether it did.
func (t *timer) stop(gen uint32) bool {
	if t.gen != gen || t.at < 0 {
		return false
	}
	c := t.c
	c.unlinkTimer(t)
	c.l.unschedule(t)
	return true
}

// unlinkTimer takes t out of c's list. A connection has a timer or two, so the walk is short.
func (c *conn) unlinkTimer(t *timer) {
	for p := &c.timers; *p != nil; p = &(*p).next {
		if *p == t {
			*p = t.next
			return
		}
	}
}

// stopTimers cancels every timer of c, which is closing: none fires after OnClose.
func (l *loop) stopTimers(c *conn) {
	for t := c.timers; t != nil; {
		next := t.next
		l.unschedule(t)
		t = next
	}
	c.timers = nil
}

// unschedule removes t from the heap and recycles it. t is no longer in its connection's list.
func (l *loop) unschedule(t *timer) {
	i, last := int(t.at), len(l.timers)-1
	if i != last {
		l.timers[i] = l.timers[last]
		l.timers[i].at = int32(i)
	}
	l.timers[last] = nil
	l.timers = l.timers[:last]
	if i != last {
		l.siftDown(i)
		l.siftUp(i)
	}
	t.c, t.f, t.at = nil, nil, -1
	t.gen++
	if l.nfree < maxFreeTimers {
		t.next, l.freeTimers = l.freeTimers, t
		l.nfree++
	} else {
		t.next = nil // left to the collector, and to any stop function still holding it
	}
}

// runTimers runs the functions whose deadline has passed, earliest first, each followed by its
// connection's settle as after a callback. It reads the clock after the wait, so a timer never
// runs early, whatever the rounding of the wait's timeout.
func (l *loop) runTimers() {
	now := l.clock()
	for len(l.timers) > 0 && l.timers[0].when <= now {
		t := l.timers[0]
		c, f := t.c, t.f
		c.unlinkTimer(t)
		l.unschedule(t)
		if err := l.callFunc(c, f); err != nil {
			l.abort(c, err)
			continue
		}
		l.settle(c)
	}
}

// nextTimer is the time until the earliest deadline, and whether there is one.
func (l *loop) nextTimer() (time.Duration, bool) {
	if len(l.timers) == 0 {
		return 0, false
	}
	return time.Duration(l.timers[0].when - l.clock()), true
}

func (l *loop) siftUp(i int) {
	h := l.timers
	for i > 0 {
		p := (i - 1) / 2
		if h[p].when <= h[i].when {
			break
		}
		h[p], h[i] = h[i], h[p]
		h[p].at, h[i].at = int32(p), int32(i)
		i = p
	}
}

func (l *loop) siftDown(i int) {
	h := l.timers
	for {
		m := i
		if k := 2*i + 1; k < len(h) && h[k].when < h[m].when {
			m = k
		}
		if k := 2*i + 2; k < len(h) && h[k].when < h[m].when {
			m = k
		}
		if m == i {
			return
		}
		h[m], h[i] = h[i], h[m]
		h[m].at, h[i].at = int32(m), int32(i)
		i = m
	}
}
