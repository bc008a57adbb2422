// Package backoff paces an accept loop through failures that pass on their own, such as
// running out of descriptors (EMFILE, ENFILE). The connection that could not be accepted
// stays in the kernel's queue and the listener stays ready, so a loop that retried at once
// would spin; one that gave up would stop serving.
package backoff

import (
	"log/slog"
	"time"

	"github.com/reactorlab/reactor/internal/ratelog"
)

// The wait after the first failure in a row, and the longest wait.
const (
	First = 5 * time.Millisecond
	Most  = time.Second
)

// Accept is the pace of one accept loop: after each failure in a row it waits twice as long,
// from First up to Most, and warns at most once a second. Only the accept loop uses it.
type Accept struct {
	Logger *slog.Logger
	Msg    string           // the warning, e.g. "gnet: accept failed; retrying"
	Limit  *ratelog.Limiter // shared with the backend's other warnings of this kind; nil: its own

	delay time.Duration
	own   ratelog.Limiter
}

// Failed warns about err, rate-limited, and waits before the next attempt. It returns early
// when stop is closed; a nil stop waits the whole delay.
func (a *Accept) Failed(err error, stop <-chan struct{}) {
	a.delay = min(max(2*a.delay, First), Most)
	lim := a.Limit
	if lim == nil {
		lim = &a.own
	}
	if n, ok := lim.Allow(); ok {
		a.Logger.Warn(a.Msg, "err", err, "in", a.delay, "suppressed", n)
	}
	t := time.NewTimer(a.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-stop:
	}
}

// Succeeded starts the next run of failures from First again.
func (a *Accept) Succeeded() { a.delay = 0 }
