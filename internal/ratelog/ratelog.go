// Package ratelog keeps a warning that can repeat once per connection or per accept from
// flooding the log: at most one line a second gets through a Limiter, and that line says how
// many were held back since the previous one.
//
// A call site asks before it builds its log record, so that a suppressed line costs an atomic
// load and a clock read, and allocates nothing:
//
//	if n, ok := lim.Allow(); ok {
//		log.Warn("out of descriptors", "err", err, "suppressed", n)
//	}
package ratelog

import (
	"sync/atomic"
	"time"
)

// Interval is the least time between two lines that pass one Limiter.
const Interval = time.Second

// epoch anchors the monotonic clock the limiters read, so that a wall-clock step neither
// silences a warning for long nor lets a burst through.
var epoch = time.Now()

// Limiter lets one line an Interval through. The zero value is ready to use and lets the
// first line through; a Limiter is safe for use by many goroutines at once.
type Limiter struct {
	next       atomic.Int64 // when the next line may pass, in nanoseconds since epoch
	suppressed atomic.Int64 // lines held back since the last that passed
}

// Allow reports whether a line may be logged now. When it may, it also returns how many
// lines were held back since the last one that passed (0 if none), and the count starts over.
func (l *Limiter) Allow() (suppressed int64, ok bool) {
	return l.allowAt(int64(time.Since(epoch)))
}

func (l *Limiter) allowAt(now int64) (int64, bool) {
	next := l.next.Load()
	// The compare-and-swap lets exactly one of several goroutines arriving together through.
	if now < next || !l.next.CompareAndSwap(next, now+int64(Interval)) {
		l.suppressed.Add(1)
		return 0, false
	}
	return l.suppressed.Swap(0), true
}
