//go:build linux

package netpoller

import (
	"container/heap"
	"sync/atomic"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// Timer states. A timer moves from armed, through posted, to done, or straight to done when
// stopped, run by another timer's turn, or cancelled by the close.
const (
	timerArmed  = iota // its time.Timer is pending
	timerPosted        // its time.Timer fired and posted a turn to the owner
	timerDone          // ran, stopped or cancelled: f will not run (again)
)

// timer is one AfterFunc. Its state word lets stop tell, even after the time.Timer fired,
// whether f can still be kept from running.
type timer struct {
	c     *conn
	f     func(reactor.Conn)
	when  time.Time   // the deadline; f never runs before it
	seq   uint64      // arming order, which breaks ties between equal deadlines
	t     *time.Timer // set under c.mu before anyone else can reach the timer
	index int         // in c.timers, or -1 once taken out
	state atomic.Int32
}

// AfterFunc implements reactor.Conn. Only from the connection's own callbacks (posted
// functions included). Each timer is a time.Timer whose goroutine only posts a turn to the
// owner; the turn runs every timer of the connection that is due, in deadline order. Timer
// goroutines are scheduled in no particular order, so a timer's own post may come after a
// later timer's: the turn that comes first runs both, in order.
func (c *conn) AfterFunc(d time.Duration, f func(reactor.Conn)) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOpen || c.closeReq {
		return stopNothing
	}
	c.timerSeq++
	t := &timer{c: c, f: f, when: time.Now().Add(d), seq: c.timerSeq}
	heap.Push(&c.timers, t)
	t.t = time.AfterFunc(d, t.fire)
	return t.stop
}

// stopNothing is the stop of a timer that never started.
func stopNothing() bool { return false }

// fire runs on the time.Timer's goroutine and posts a turn of the connection's due timers.
// A Post refused because the connection is closing leaves f unrun, as the close would have.
func (t *timer) fire() {
	if t.state.CompareAndSwap(timerArmed, timerPosted) && t.c.Post(t.c.runDue) != nil {
		t.state.Store(timerDone)
	}
}

// runDue runs, on the owner, the functions of the timers due now, earliest first, while the
// connection stays open. A timer run here before its own time.Timer's goroutine got to post
// is done, and that post finds nothing to do.
func (c *conn) runDue(reactor.Conn) {
	now := time.Now()
	for {
		c.mu.Lock()
		if c.state != stateOpen || c.closeReq || len(c.timers) == 0 || c.timers[0].when.After(now) {
			c.mu.Unlock()
			return
		}
		t := heap.Pop(&c.timers).(*timer)
		c.mu.Unlock()
		if t.state.CompareAndSwap(timerArmed, timerDone) {
			t.t.Stop()
			t.f(c)
		} else if t.state.CompareAndSwap(timerPosted, timerDone) {
			t.f(c)
		}
	}
}

// stop keeps f from running if it has not run yet, whether or not the time.Timer fired.
func (t *timer) stop() bool {
	if t.state.CompareAndSwap(timerArmed, timerDone) {
		t.t.Stop()
	} else if !t.state.CompareAndSwap(timerPosted, timerDone) {
		return false
	}
	t.c.mu.Lock()
	if t.index >= 0 {
		heap.Remove(&t.c.timers, t.index)
	}
	t.c.mu.Unlock()
	return true
}

// cancel ends the timer because its connection closed. The caller has taken it from c.timers.
func (t *timer) cancel() {
	t.state.Store(timerDone)
	t.t.Stop()
}

// timerHeap orders a connection's live timers by deadline, for heap; under c.mu.
type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }

func (h timerHeap) Less(i, j int) bool {
	if !h[i].when.Equal(h[j].when) {
		return h[i].when.Before(h[j].when)
	}
	return h[i].seq < h[j].seq
}

func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.index = len(*h)
	*h = append(*h, t)
}

func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}
