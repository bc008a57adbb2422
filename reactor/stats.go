package reactor

import (
	"errors"
	"io"
	"sync/atomic"
	"syscall"
	"time"
)

// Stats is what a backend counts about its connections, when Config.Stats points at one: the
// same counters with the same meaning on every backend, for metrics (reactor serve
// --metrics-addr) and for the benchmark's audit. A nil *Stats counts nothing, and every
// method is then a no-op, so a backend calls them unconditionally.
//
// Counting costs an atomic add on a shard of the backend's choosing, never a lock or an
// allocation: a backend with event loops gives each loop its own shard (Shard), so loops on
// different cores never write the same cache line. Snapshot sums the shards at any moment, from
// any goroutine; counters only grow, except the Buffered gauge.
//
// What is counted, and when:
//   - Accepted: a connection accepted, counted before OnOpen. Dialed: an outbound connection
//     made (Conn.Dial), before its OnOpen; DialFailed: a dial that failed (its OnClose carries
//     ErrDialFailed and is not a close).
//   - Closed: a connection that was open (accepted or dialed) ended, counted once, when OnClose
//     is called, by the cause OnClose gets (CloseCause), with how long it lived.
//   - Received: bytes read from sockets. Sent: bytes the kernel took. Buffered: bytes accepted
//     by Write or AsyncWrite and not yet taken by the kernel, over all connections.
//   - AcceptErrors: accept failures other than a peer that left first. HandlerPanics: callbacks,
//     posted functions and timers that panicked. A panic costs its connection, so most are
//     counted by their close (cause handler_panic); only a panic in OnClose, which has no
//     connection left to close, is counted with HandlerPanic. Snapshot adds the two.
type Stats struct {
	shards [statShards]StatShard
}

// statShards is how many shards a Stats has: one per loop up to this many; more loops share.
const statShards = 16

// Close causes as Stats counts them and metrics label them (connections_closed_total{cause}).
const (
	CauseLocal        = "local"         // the handler closed it (Close, a returned Close, CloseWrite after the peer's end)
	CauseEOF          = "eof"           // the peer closed it
	CauseReset        = "reset"         // the peer reset it (ECONNRESET, EPIPE)
	CauseTimeout      = "timeout"       // a deadline passed (an error that says Timeout())
	CauseOutboundFull = "outbound_full" // ErrOutboundFull
	CauseInboundFull  = "inbound_full"  // ErrInboundFull
	CauseServerClosed = "server_closed" // ErrServerClosed: Shutdown
	CauseHandlerPanic = "handler_panic" // ErrHandlerPanic
	CauseError        = "error"         // any other I/O error
)

// CloseCauses lists every cause CloseCause returns, in the order Snapshot reports them.
var CloseCauses = [...]string{CauseLocal, CauseEOF, CauseReset, CauseTimeout, CauseOutboundFull,
	CauseInboundFull, CauseServerClosed, CauseHandlerPanic, CauseError}

// CloseCause names the cause of a close as Stats counts it: err as OnClose receives it.
func CloseCause(err error) string { return CloseCauses[causeIndex(err)] }

func causeIndex(err error) int {
	switch {
	case err == nil, errors.Is(err, ErrConnClosed):
		return 0
	case errors.Is(err, io.EOF):
		return 1
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return 2
	case isTimeout(err):
		return 3
	case errors.Is(err, ErrOutboundFull):
		return 4
	case errors.Is(err, ErrInboundFull):
		return 5
	case errors.Is(err, ErrServerClosed):
		return 6
	case errors.Is(err, ErrHandlerPanic):
		return 7
	}
	return 8
}

// isTimeout reports whether err or an error it wraps says Timeout(), as errors.As would find
// it, without the allocation errors.As costs.
func isTimeout(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if t, ok := err.(interface{ Timeout() bool }); ok && t.Timeout() {
			return true
		}
	}
	return false
}

// DurationBuckets are the upper bounds, in seconds, of the histogram of connection lifetimes
// (connection_duration_seconds): from a request and a close to a day-long session.
var DurationBuckets = [...]float64{0.001, 0.01, 0.1, 1, 10, 60, 600, 3600, 86400}

// StatShard is one shard of a Stats. Its methods are safe from any goroutine, and do nothing
// on a nil shard.
type StatShard struct {
	accepted, dialed, dialFailed atomic.Uint64
	closed                       [len(CloseCauses)]atomic.Uint64
	received, sent               atomic.Uint64
	acceptErrors, panics         atomic.Uint64
	buffered                     atomic.Int64
	lifeCount                    [len(DurationBuckets) + 1]atomic.Uint64 // the last: +Inf
	lifeNanos                    atomic.Uint64
	_                            [64]byte // keeps neighbouring shards off one cache line
}

// Shard returns the shard for loop (or connection) number i: shards are shared round-robin
// when there are more loops than shards. It returns nil for a nil Stats.
func (s *Stats) Shard(i int) *StatShard {
	if s == nil {
		return nil
	}
	return &s.shards[uint(i)%statShards]
}

// Accepted counts an accepted connection.
func (s *StatShard) Accepted() {
	if s != nil {
		s.accepted.Add(1)
	}
}

// Dialed counts an outbound connection made.
func (s *StatShard) Dialed() {
	if s != nil {
		s.dialed.Add(1)
	}
}

// DialFailed counts an outbound connection that could not be made.
func (s *StatShard) DialFailed() {
	if s != nil {
		s.dialFailed.Add(1)
	}
}

// Closed counts the end of a connection that was open for lived, with OnClose's cause.
func (s *StatShard) Closed(cause error, lived time.Duration) {
	if s == nil {
		return
	}
	s.closed[causeIndex(cause)].Add(1)
	sec := lived.Seconds()
	i := 0
	for i < len(DurationBuckets) && sec > DurationBuckets[i] {
		i++
	}
	s.lifeCount[i].Add(1)
	s.lifeNanos.Add(uint64(max(lived, 0)))
}

// Received counts n bytes read from a socket.
func (s *StatShard) Received(n int) {
	if s != nil && n > 0 {
		s.received.Add(uint64(n))
	}
}

// Sent counts n bytes the kernel took.
func (s *StatShard) Sent(n int) {
	if s != nil && n > 0 {
		s.sent.Add(uint64(n))
	}
}

// Buffer adds delta (negative when the kernel took bytes, or pending output was dropped) to
// the output waiting to be sent.
func (s *StatShard) Buffer(delta int) {
	if s != nil && delta != 0 {
		s.buffered.Add(int64(delta))
	}
}

// AcceptError counts a failed accept.
func (s *StatShard) AcceptError() {
	if s != nil {
		s.acceptErrors.Add(1)
	}
}

// HandlerPanic counts a panic in OnClose (backendkit.CallClose reports one); other panics are
// counted by the close they cause.
func (s *StatShard) HandlerPanic() {
	if s != nil {
		s.panics.Add(1)
	}
}

// StatsSnapshot is a Stats summed over its shards at one moment (each counter read atomically;
// the set is not one instant, so Active may be off by the connections opening or closing while
// it was taken).
type StatsSnapshot struct {
	Accepted, Dialed, DialFailed uint64
	Closed                       [len(CloseCauses)]uint64 // by cause, in CloseCauses' order
	Received, Sent               uint64
	Buffered                     int64
	AcceptErrors, HandlerPanics  uint64
	// Lifetimes counts connections by lifetime, not cumulated: Lifetimes[i] lived at most
	// DurationBuckets[i] seconds and more than the bound before it; the last, longer than every
	// bound. LifetimeSum is their total, in seconds.
	Lifetimes   [len(DurationBuckets) + 1]uint64
	LifetimeSum float64
}

// Snapshot sums the shards. A nil Stats gives zeros.
func (s *Stats) Snapshot() StatsSnapshot {
	var out StatsSnapshot
	if s == nil {
		return out
	}
	var nanos uint64
	for i := range s.shards {
		sh := &s.shards[i]
		out.Accepted += sh.accepted.Load()
		out.Dialed += sh.dialed.Load()
		out.DialFailed += sh.dialFailed.Load()
		for j := range sh.closed {
			out.Closed[j] += sh.closed[j].Load()
		}
		out.Received += sh.received.Load()
		out.Sent += sh.sent.Load()
		out.Buffered += sh.buffered.Load()
		out.AcceptErrors += sh.acceptErrors.Load()
		out.HandlerPanics += sh.panics.Load()
		for j := range sh.lifeCount {
			out.Lifetimes[j] += sh.lifeCount[j].Load()
		}
		nanos += sh.lifeNanos.Load()
	}
	out.LifetimeSum = float64(nanos) / float64(time.Second)
	out.HandlerPanics += out.Closed[causeIndex(ErrHandlerPanic)]
	return out
}

// Active is the connections open: accepted and dialed, less those closed.
func (s StatsSnapshot) Active() int64 {
	open := int64(s.Accepted + s.Dialed)
	for _, n := range s.Closed {
		open -= int64(n)
	}
	return open
}

// ClosedBy returns the closes counted with the given cause (one of CloseCauses).
func (s StatsSnapshot) ClosedBy(cause string) uint64 {
	for i, c := range CloseCauses {
		if c == cause {
			return s.Closed[i]
		}
	}
	return 0
}
