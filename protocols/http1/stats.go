package http1

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// LatencyBuckets are the upper bounds, in seconds, of the histogram Stats keeps of the time a
// request took: from the start of the OnData call that brought its first byte to the end of
// the call that answered it. That is the server's share of a request's latency — parsing,
// waiting for the rest of a request that arrives in pieces, answering — not the network's.
var LatencyBuckets = [...]float64{0.00001, 0.0001, 0.001, 0.01, 0.1, 1, 10, 60}

// statusSlots covers the statuses a Handler sends besides 200: 400 to 599.
const statusSlots = 200

// Stats is what a Handler has counted. Requests counts the replies by status; a request
// refused for bad input counts too, under its 4xx or 5xx. The latency histogram is kept only
// when Config.Timing is set.
type Stats struct {
	Requests map[int]uint64
	// Latency counts requests by time taken, not cumulated: Latency[i] took at most
	// LatencyBuckets[i] seconds and more than the bound before it; the last, longer than
	// every bound. LatencySum is their total, in seconds.
	Latency    [len(LatencyBuckets) + 1]uint64
	LatencySum float64
}

// counts are a Handler's counters. ok200 is derived: every request answered is counted in
// Handler.requests (once per OnData call, not per request), 404s and 405s among them, while
// refusals are rare and each counted by status.
type counts struct {
	refused  [statusSlots]atomic.Uint64 // by status − 400
	latency  [len(LatencyBuckets) + 1]atomic.Uint64
	latNanos atomic.Uint64
}

func (k *counts) refusal(status int) {
	if i := status - 400; i >= 0 && i < statusSlots {
		k.refused[i].Add(1)
	}
}

// observe adds n requests that each took d.
func (k *counts) observe(d int64, n int) {
	if n <= 0 {
		return
	}
	sec := float64(d) / float64(time.Second)
	i := 0
	for i < len(LatencyBuckets) && sec > LatencyBuckets[i] {
		i++
	}
	k.latency[i].Add(uint64(n))
	k.latNanos.Add(uint64(max(d, 0)) * uint64(n))
}

// Stats reports the Handler's counts. Safe from any goroutine; taken while requests are being
// served, the figures are each exact but not of one instant.
func (h *Handler) Stats() Stats {
	s := Stats{Requests: map[int]uint64{}}
	var misses uint64
	for i := range h.counts.refused {
		if n := h.counts.refused[i].Load(); n > 0 {
			s.Requests[400+i] = n
			if i+400 == 404 || i+400 == 405 {
				misses += n
			}
		}
	}
	// 404 and 405 are answered requests too; read them before the total they are part of,
	// so that the difference never goes below zero.
	if ok := h.requests.Load() - misses; ok > 0 {
		s.Requests[200] = ok
	}
	for i := range s.Latency {
		s.Latency[i] = h.counts.latency[i].Load()
	}
	s.LatencySum = float64(h.counts.latNanos.Load()) / float64(time.Second)
	return s
}

// accessLog writes at most perSecond lines a second, so that it can never become what limits
// the server; the first line of a second says how many were left out in the one before.
type accessLog struct {
	log       *slog.Logger
	perSecond int64
	second    atomic.Int64 // the Unix second being counted, from the Date goroutine's clock
	lines     atomic.Int64 // lines asked for in that second
	dropped   atomic.Int64 // lines left out in the second before
}

// allow reports whether one more line may be written now.
func (a *accessLog) allow(now int64) (ok bool, droppedBefore int64) {
	if s := a.second.Load(); s != now && a.second.CompareAndSwap(s, now) {
		over := a.lines.Swap(0) - a.perSecond
		a.dropped.Store(max(over, 0))
	}
	n := a.lines.Add(1)
	if n == 1 {
		droppedBefore = a.dropped.Swap(0)
	}
	return n <= a.perSecond, droppedBefore
}

// line logs one request.
func (a *accessLog) line(c reactor.Conn, method, target []byte, status int, took time.Duration, droppedBefore int64) {
	attrs := []slog.Attr{
		slog.String("remote", addrString(c.RemoteAddr())),
		slog.String("method", string(method)),
		slog.String("target", string(target)),
		slog.Int("status", status),
		slog.Duration("took", took),
	}
	if droppedBefore > 0 {
		attrs = append(attrs, slog.Int64("dropped_last_second", droppedBefore))
	}
	a.log.LogAttrs(context.Background(), slog.LevelInfo, "http", attrs...)
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
