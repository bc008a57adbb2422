package conntest

import (
	"sync"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// Clock is the fake time of the timers that Conn.AfterFunc arms. It stands still until Advance
// moves it, so a test decides exactly when each timer fires. Conns made by the package's NewConn
// and Open have a Clock each; Conns made by one Clock's NewConn and Open share it, and Advance
// then fires their timers in one deadline order. The zero Clock reads 0 and is ready to use;
// its methods are safe from any goroutine.
type Clock struct {
	mu     sync.Mutex
	now    time.Duration
	seq    uint64   // registration order, to fire timers with equal deadlines as armed
	timers []*timer // pending, in no order: tests hold few, so a scan beats a heap's upkeep
}

type timer struct {
	c    *Conn
	f    func(reactor.Conn)
	when time.Duration
	seq  uint64
	done bool // fired, stopped, or dropped when its Conn closed
}

// Now is the time the Clock has been advanced by since it started.
func (k *Clock) Now() time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.now
}

// NewConn returns a Conn whose timers run on k, with the given remote address.
func (k *Clock) NewConn(remote string) *Conn {
	c := NewConn(remote)
	c.clock = k
	return c
}

// Open is the package's Open for a Conn whose timers run on k.
func (k *Clock) Open(h reactor.Handler, remote string) *Driver {
	d := &Driver{H: h, C: k.NewConn(remote)}
	h.OnOpen(d.C)
	return d
}

// Advance moves the clock forward by d. Every timer due by then fires in deadline order (armed
// order among equal deadlines), the clock reading the timer's deadline while it runs; each
// runs on the calling goroutine as its connection's owner, followed by the functions posted to
// that connection (Conn.RunPosted). A timer armed while Advance runs fires in the same call if
// it falls due by the new time. Call it only where a backend's owner would be free, not from a
// handler's callback.
func (k *Clock) Advance(d time.Duration) {
	k.mu.Lock()
	end := k.now + max(d, 0)
	for {
		t := k.popDue(end)
		if t == nil {
			break
		}
		k.now = t.when
		k.mu.Unlock()
		if !t.c.Closed() {
			t.f(t.c)
			t.c.RunPosted()
		}
		k.mu.Lock()
	}
	k.now = end
	k.mu.Unlock()
}

// popDue removes and returns the earliest live timer due by end, marked done, or nil. k.mu is
// held.
func (k *Clock) popDue(end time.Duration) *timer {
	live := k.timers[:0]
	var first *timer
	for _, t := range k.timers {
		if t.done {
			continue
		}
		live = append(live, t)
		if t.when <= end && (first == nil || t.when < first.when || t.when == first.when && t.seq < first.seq) {
			first = t
		}
	}
	clear(k.timers[len(live):])
	k.timers = live
	if first != nil {
		first.done = true
	}
	return first
}

// arm registers f to run on c once the clock reaches d from now; stop reports whether it
// prevented that.
func (k *Clock) arm(c *Conn, d time.Duration, f func(reactor.Conn)) (stop func() bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.seq++
	t := &timer{c: c, f: f, when: k.now + max(d, 0), seq: k.seq}
	k.timers = append(k.timers, t)
	return func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		if t.done {
			return false
		}
		t.done = true
		return true
	}
}

// drop stops c's timers: it is closing.
func (k *Clock) drop(c *Conn) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, t := range k.timers {
		if t.c == c {
			t.done = true
		}
	}
}

// pending counts c's timers still to fire.
func (k *Clock) pending(c *Conn) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, t := range k.timers {
		if t.c == c && !t.done {
			n++
		}
	}
	return n
}
