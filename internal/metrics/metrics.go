// Package metrics exports what reactor serve counts in the Prometheus text format, and serves
// it with health and readiness probes on a listener of its own (net/http: the metrics port is
// for an operator and a scraper, not for load, so it stays off the backend under test).
//
// The counters themselves live where the work is done (reactor.Stats in the backends, the
// protocols' own counters) as atomics; a Collector reads them only when scraped, so metrics
// cost the served path nothing but those atomic adds.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/reactorlab/reactor/reactor"
)

// Namespace prefixes every series this package exports.
const Namespace = "reactor"

// Labels every series carries, so that servers of several backends or protocols scraped into
// one Prometheus stay apart.
func constLabels(backend, proto string) prometheus.Labels {
	return prometheus.Labels{"backend": backend, "proto": proto}
}

// stats exports a reactor.Stats.
type stats struct {
	s                                                  *reactor.Stats
	accepted, dialed, dialFailed, active, closed, life *prometheus.Desc
	received, sent, buffered, acceptErrors, panics     *prometheus.Desc
}

// NewStatsCollector returns a collector of s, labelled with the backend and protocol served.
func NewStatsCollector(s *reactor.Stats, backend, proto string) prometheus.Collector {
	l := constLabels(backend, proto)
	d := func(name, help string, vars ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, vars, l)
	}
	return &stats{
		s:            s,
		accepted:     d("connections_accepted_total", "Connections accepted."),
		dialed:       d("connections_dialed_total", "Outbound connections made (Conn.Dial)."),
		dialFailed:   d("dials_failed_total", "Outbound connections that could not be made."),
		active:       d("connections_active", "Connections open: accepted and dialed, less those closed."),
		closed:       d("connections_closed_total", "Connections closed, by the cause their handler was given.", "cause"),
		life:         d("connection_duration_seconds", "How long connections lived, from accept (or connect) to close."),
		received:     d("received_bytes_total", "Bytes read from sockets."),
		sent:         d("sent_bytes_total", "Bytes the kernel took for sending."),
		buffered:     d("outbound_buffered_bytes", "Bytes written by handlers and not yet taken by the kernel, over all connections."),
		acceptErrors: d("accept_errors_total", "Failed accepts, other than a peer that left first."),
		panics:       d("handler_panics_total", "Handler callbacks, posted functions and timers that panicked."),
	}
}

// Describe implements prometheus.Collector.
func (c *stats) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.accepted, c.dialed, c.dialFailed, c.active, c.closed, c.life,
		c.received, c.sent, c.buffered, c.acceptErrors, c.panics} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one snapshot of the counters per scrape.
func (c *stats) Collect(ch chan<- prometheus.Metric) {
	s := c.s.Snapshot()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter(c.accepted, s.Accepted)
	counter(c.dialed, s.Dialed)
	counter(c.dialFailed, s.DialFailed)
	gauge(c.active, s.Active())
	for i, cause := range reactor.CloseCauses {
		counter(c.closed, s.Closed[i], cause)
	}
	ch <- prometheus.MustNewConstHistogram(c.life, sum(s.Lifetimes[:]), s.LifetimeSum, cumulative(reactor.DurationBuckets[:], s.Lifetimes[:]))
	counter(c.received, s.Received)
	counter(c.sent, s.Sent)
	gauge(c.buffered, s.Buffered)
	counter(c.acceptErrors, s.AcceptErrors)
	counter(c.panics, s.HandlerPanics)
}

// cumulative turns per-bucket counts (the last one past every bound) into Prometheus's
// cumulative buckets keyed by upper bound.
func cumulative(bounds []float64, counts []uint64) map[float64]uint64 {
	m := make(map[float64]uint64, len(bounds))
	var run uint64
	for i, b := range bounds {
		run += counts[i]
		m[b] = run
	}
	return m
}

func sum(counts []uint64) uint64 {
	var n uint64
	for _, c := range counts {
		n += c
	}
	return n
}
