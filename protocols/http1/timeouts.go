package http1

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// Defaults for the time limits; a zero Config field means its default, a negative one none.
const (
	DefaultIdleTimeout   = 60 * time.Second
	DefaultHeaderTimeout = 10 * time.Second
	DefaultBodyTimeout   = 30 * time.Second
)

// Where a connection is between requests, as the timeout sweep sees it. busy marks an OnData
// call in progress; timedOut is final.
const (
	waitIdle uint32 = iota
	waitHead
	waitBody
	waitBusy
	waitTimedOut
)

// timeouts holds the limits in nanoseconds of the Handler's monotonic clock (0: none). The
// sweep runs once a second, so a limit of N seconds strikes after N to N+1 seconds: never early.
type timeouts struct {
	idle, head, body int64
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
	return timeouts{
		idle: limit(c.IdleTimeout, DefaultIdleTimeout),
		head: limit(c.HeaderTimeout, DefaultHeaderTimeout),
		body: limit(c.BodyTimeout, DefaultBodyTimeout),
	}
}

// clock is what the sweep and OnData share for each connection. OnData swaps the phase to busy
// on entry and stores the next phase on exit; the sweep claims a connection only by moving it
// from a waiting phase to timedOut, so a timeout never races a reply being written.
type clock struct {
	phase atomic.Uint32
	since atomic.Int64 // when the phase began, on the Handler's monotonic clock

	// Membership of the Handler's set of live connections, under the shard's lock.
	c                  reactor.Conn
	prevConn, nextConn *conn
	shard              uint8
}

const shards = 16

// connSet is every live connection of a Handler, in shards so OnOpen and OnClose on many loops
// rarely meet on one lock; each shard is an intrusive list, so membership costs two pointers.
type connSet struct {
	shard [shards]struct {
		mu   sync.Mutex
		head *conn
		_    [40]byte // keep shards on separate cache lines
	}
	turn atomic.Uint32
}

func (s *connSet) add(cs *conn) {
	i := uint8(s.turn.Add(1) % shards)
	cs.shard = i
	sh := &s.shard[i]
	sh.mu.Lock()
	cs.nextConn = sh.head
	if sh.head != nil {
		sh.head.prevConn = cs
	}
	sh.head = cs
	sh.mu.Unlock()
}

func (s *connSet) remove(cs *conn) {
	sh := &s.shard[cs.shard]
	sh.mu.Lock()
	if cs.prevConn != nil {
		cs.prevConn.nextConn = cs.nextConn
	} else if sh.head == cs {
		sh.head = cs.nextConn
	}
	if cs.nextConn != nil {
		cs.nextConn.prevConn = cs.prevConn
	}
	cs.prevConn, cs.nextConn = nil, nil
	sh.mu.Unlock()
}

// enter marks an OnData call in progress and reports whether the connection timed out already.
func (cs *conn) enter() (timedOut bool) {
	if cs.phase.Swap(waitBusy) == waitTimedOut {
		cs.phase.Store(waitTimedOut)
		return true
	}
	return false
}

// leave records where the connection stands after an OnData call. The phase's clock restarts
// when the phase changes or a request completed; a request trickling in keeps its first
// byte's time, which is what makes the header limit catch a slowloris.
func (cs *conn) leave(from, to uint32, completed bool, clock func() int64) {
	if to != from || completed {
		cs.since.Store(clock())
	}
	cs.phase.Store(to)
}

// sweep closes the connections that have waited too long by now (on the monotonic clock): idle
// ones quietly, and those in the middle of a request with 408 Request Timeout. Called about
// once a second.
func (h *Handler) sweep(now int64) {
	var expired []*conn
	for i := range h.conns.shard {
		sh := &h.conns.shard[i]
		sh.mu.Lock()
		for cs := sh.head; cs != nil; cs = cs.nextConn {
			var limit int64
			switch p := cs.phase.Load(); p {
			case waitIdle:
				limit = h.tmo.idle
			case waitHead:
				limit = h.tmo.head
			case waitBody:
				limit = h.tmo.body
			default:
				continue
			}
			if limit > 0 && now-cs.since.Load() >= limit {
				expired = append(expired, cs)
			}
		}
		sh.mu.Unlock()
	}
	for _, cs := range expired {
		p := cs.phase.Load()
		if (p != waitIdle && p != waitHead && p != waitBody) || !cs.phase.CompareAndSwap(p, waitTimedOut) {
			continue // OnData got there first
		}
		if p != waitIdle {
			w := writer{c: asyncConn{cs.c}, h: h}
			w.refuse(errRequestTimeout, false, nil, 1, false)
			w.flush()
		}
		cs.c.Close()
	}
}

// asyncConn lets the sweep, which runs on the Handler's own goroutine, write with AsyncWrite.
type asyncConn struct{ reactor.Conn }

func (a asyncConn) Write(p []byte) (int, error) {
	if err := a.Conn.AsyncWrite(p); err != nil {
		return 0, err
	}
	return len(p), nil
}
