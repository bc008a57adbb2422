package http1

import (
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// Defaults for the time limits; a zero Config field means its default, a negative one none.
const (
	DefaultIdleTimeout   = 60 * time.Second
	DefaultHeaderTimeout = 10 * time.Second
	DefaultBodyTimeout   = 30 * time.Second
)

// Where a connection is between requests, as its timer sees it. timedOut is final.
const (
	waitIdle uint8 = iota
	waitHead
	waitBody
	timedOut
)

// timeouts holds the limits in nanoseconds of the Handler's monotonic clock (0: none), and the
// longest a connection's timer may sleep: the shortest limit set (0 when none is, and a
// connection has no timer at all).
type timeouts struct {
	idle, head, body int64
	nap              int64
}

func (c Config) timeouts() timeouts {
	limit := func(d, def time.Duration) int64 {
		switch {
		case d < 0:
			return 0
		case d == 0:
			d = def
		}
		return int64(d)
	}
	t := timeouts{
		idle: limit(c.IdleTimeout, DefaultIdleTimeout),
		head: limit(c.HeaderTimeout, DefaultHeaderTimeout),
		body: limit(c.BodyTimeout, DefaultBodyTimeout),
	}
	for _, l := range [...]int64{t.idle, t.head, t.body} {
		if l > 0 && (t.nap == 0 || l < t.nap) {
			t.nap = l
		}
	}
	return t
}

func (t timeouts) of(phase uint8) int64 {
	switch phase {
	case waitIdle:
		return t.idle
	case waitHead:
		return t.head
	case waitBody:
		return t.body
	}
	return 0
}

// The time limits are kept lazily, so that requests never touch a timer: OnData only records
// the phase and, when it changes or a request completes, the time it began. Each connection
// has one timer (Conn.AfterFunc, run on the connection's owner, so nothing here is shared),
// which on waking compares the phase's age with its limit: past it, the connection is closed;
// short of it, the timer sleeps again until the limit or for nap, whichever is sooner. A phase
// that begins while the timer sleeps can bring a deadline closer (idle, 60 s, to header, 10 s)
// without reaching the timer; the cap of nap is what catches it in time, since no deadline a
// new phase sets is less than nap away. A connection's timer thus wakes about once per nap,
// however many requests it serves.

// watch arms the connection's timer for the first time.
func (h *Handler) watch(c reactor.Conn) {
	if h.tmo.nap > 0 {
		c.AfterFunc(time.Duration(h.tmo.nap), h.wake)
	}
}

// expire is the timer's function (h.wake): it closes a connection whose phase has lasted its
// limit by now — an idle one quietly, one in the middle of a request with 408 Request Timeout —
// or sleeps again.
func (h *Handler) expire(c reactor.Conn) {
	cs, _ := c.Context().(*conn)
	if cs == nil || cs.phase == timedOut {
		return
	}
	sleep := h.tmo.nap
	if limit := h.tmo.of(cs.phase); limit > 0 {
		left := cs.since + limit - h.clock()
		if left <= 0 {
			h.strike(c, cs)
			return
		}
		sleep = min(sleep, left)
	}
	c.AfterFunc(time.Duration(sleep), h.wake)
}

func (h *Handler) strike(c reactor.Conn, cs *conn) {
	if cs.phase != waitIdle {
		w := writer{c: c, h: h}
		w.refuse(errRequestTimeout, false, nil, 1, false)
		w.flush()
	}
	cs.phase = timedOut
	c.Close()
}
