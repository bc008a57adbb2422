package stdnet

import (
	"container/heap"
	"time"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
)

// The connection's owner is its reader goroutine: besides the callbacks, it runs every function
// posted to the connection (Post, AfterFunc, OnDrain), between reads. A post wakes a reader
// blocked in Read, or in the wait of a paused reader, with wakeReaderLocked.

// aLongTimeAgo is a read deadline that has passed, to cut a blocked Read short.
var aLongTimeAgo = time.Unix(1, 0)

// Post implements reactor.Conn. Safe from any goroutine; f runs on the reader goroutine.
func (c *conn) Post(f func(reactor.Conn)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.postLocked(f)
}

// postLocked queues f for the reader and wakes it. Output written before the call is already in
// c.out, so whatever f writes goes out after it.
func (c *conn) postLocked(f func(reactor.Conn)) error {
	if c.closing || c.closed {
		return reactor.ErrConnClosed
	}
	c.posts = append(c.posts, f)
	c.wakeReaderLocked()
	return nil
}

// runPosts runs, on the reader goroutine, what was posted, then flushes what it wrote, until
// nothing is queued; from then on a post wakes the reader. It reports whether the reader is to
// wait instead of reading: reading is paused, or the peer's end of stream went to the
// HalfCloser. A closing connection is not to wait, as its input is drained whatever the pause,
// and its posts are dropped.
func (c *conn) runPosts() (wait bool) {
	c.mu.Lock()
	for len(c.posts) > 0 && !c.closing && !c.closed {
		posts := c.posts
		c.posts = nil
		c.mu.Unlock()
		c.runEach(posts)
		c.flushInline()
		c.mu.Lock()
	}
	open := !c.closing && !c.closed
	if !open {
		c.posts = nil
	}
	c.reading = true
	c.mu.Unlock()
	return (c.paused || c.readEOF) && open
}

// runEach runs posts in order until one of them, or another goroutine, closes the connection:
// the rest are dropped with it.
func (c *conn) runEach(posts []func(reactor.Conn)) {
	for _, f := range posts {
		c.mu.Lock()
		open := !c.closing && !c.closed
		c.mu.Unlock()
		if !open {
			return
		}
		c.call(f)
	}
}

// call runs one posted function. A panic costs the connection, as in a callback.
func (c *conn) call(f func(reactor.Conn)) {
	defer func() {
		if v := recover(); v != nil {
			c.Abort(backendkit.HandlerPanic(c.b.cfg.Logger, c.remote.String(), v))
		}
	}()
	f(c)
}

// timer is one AfterFunc. Its runtime timer only posts runDue; the owner keeps its timers in a
// heap by deadline and runs whichever are due, so that a connection's timers run in deadline
// order even when the runtime's goroutines for them are scheduled out of order.
type timer struct {
	when  time.Time
	seq   uint64 // arming order, for timers with one deadline
	index int    // in c.timers; -1 once run or stopped
	t     *time.Timer
	f     func(reactor.Conn)
}

// timerHeap is container/heap's interface over a connection's armed timers, earliest first.
type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }

func (h timerHeap) Less(i, j int) bool {
	if c := h[i].when.Compare(h[j].when); c != 0 {
		return c < 0
	}
	return h[i].seq < h[j].seq
}

func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *timerHeap) Push(x any) {
	tm := x.(*timer)
	tm.index = len(*h)
	*h = append(*h, tm)
}

func (h *timerHeap) Pop() any {
	old := *h
	tm := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	tm.index = -1
	return tm
}

// AfterFunc implements reactor.Conn. Only from the connection's own callbacks (and posted
// functions): the timer's goroutine only posts, and f runs on the reader goroutine.
func (c *conn) AfterFunc(d time.Duration, f func(reactor.Conn)) (stop func() bool) {
	c.mu.Lock()
	open := !c.closing && !c.closed
	c.mu.Unlock()
	if !open {
		return func() bool { return false }
	}
	// when is taken before the runtime timer starts, so the timer never fires before it.
	tm := &timer{when: time.Now().Add(d), seq: c.timerSeq, f: f}
	c.timerSeq++
	heap.Push(&c.timers, tm)
	tm.t = time.AfterFunc(d, func() {
		// Refused once the connection is closing; the close then stops the timers.
		c.Post(c.runDue)
	})
	return func() bool { return c.stopTimer(tm) }
}

// runDue runs, on the reader goroutine and in deadline order, every timer whose time has come,
// until one of them closes the connection.
func (c *conn) runDue(reactor.Conn) {
	now := time.Now()
	for len(c.timers) > 0 && !c.timers[0].when.After(now) {
		c.mu.Lock()
		open := !c.closing && !c.closed
		c.mu.Unlock()
		if !open {
			return
		}
		tm := heap.Pop(&c.timers).(*timer)
		tm.f(c)
	}
}

// stopTimer is a timer's stop, on the reader goroutine. A timer that has fired but whose post
// still waits is prevented too: runDue no longer finds it.
func (c *conn) stopTimer(tm *timer) bool {
	tm.t.Stop()
	if tm.index < 0 {
		return false
	}
	heap.Remove(&c.timers, tm.index)
	return true
}

// stopTimers stops every timer of a connection that has closed, before OnClose.
func (c *conn) stopTimers() {
	for _, tm := range c.timers {
		tm.t.Stop()
		tm.index = -1
	}
	c.timers = nil
}

// PauseRead implements reactor.Conn. Only from the connection's own callbacks: the reader,
// which runs them, then waits instead of reading until ResumeRead or the connection closes.
func (c *conn) PauseRead() { c.paused = true }

// ResumeRead implements reactor.Conn. Only from the connection's own callbacks.
func (c *conn) ResumeRead() { c.paused = false }
