package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/reactorlab/reactor/protocols/chat"
	"github.com/reactorlab/reactor/protocols/http1"
)

// chatRoom exports a chat Room's counts.
type chatRoom struct {
	r                           *chat.Room
	members, delivered, dropped *prometheus.Desc
}

// NewChatCollector returns a collector of r's counts.
func NewChatCollector(r *chat.Room, backend string) prometheus.Collector {
	l := constLabels(backend, "chat")
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "chat", name), help, nil, l)
	}
	return &chatRoom{
		r:         r,
		members:   d("members", "Named members in the room."),
		delivered: d("lines_delivered_total", "Lines queued to members, once per recipient."),
		dropped:   d("members_dropped_total", "Members dropped for not reading (their pending output passed the limit)."),
	}
}

// Describe implements prometheus.Collector.
func (c *chatRoom) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.members
	ch <- c.delivered
	ch <- c.dropped
}

// Collect implements prometheus.Collector.
func (c *chatRoom) Collect(ch chan<- prometheus.Metric) {
	s := c.r.Stats()
	ch <- prometheus.MustNewConstMetric(c.members, prometheus.GaugeValue, float64(s.Members))
	ch <- prometheus.MustNewConstMetric(c.delivered, prometheus.CounterValue, float64(s.Delivered))
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.Dropped))
}

// httpHandler exports an http1 Handler's counts.
type httpHandler struct {
	h                  *http1.Handler
	requests, duration *prometheus.Desc
	timed              bool
}

// NewHTTPCollector returns a collector of h's counts; the latency histogram is exported when
// timed (h made with http1.Config.Timing).
func NewHTTPCollector(h *http1.Handler, backend string, timed bool) prometheus.Collector {
	l := constLabels(backend, "http")
	return &httpHandler{
		h:        h,
		timed:    timed,
		requests: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "http", "requests_total"), "Replies sent, by status code; requests refused for bad input count under their 4xx or 5xx.", []string{"code"}, l),
		duration: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "http", "request_duration_seconds"), "Server time per request: from the start of the read that brought its first byte to its reply being written.", nil, l),
	}
}

// Describe implements prometheus.Collector.
func (c *httpHandler) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	if c.timed {
		ch <- c.duration
	}
}

// Collect implements prometheus.Collector.
func (c *httpHandler) Collect(ch chan<- prometheus.Metric) {
	s := c.h.Stats()
	if _, ok := s.Requests[200]; !ok {
		s.Requests[200] = 0 // the series exists from the start, so rate() has a first point
	}
	for code, n := range s.Requests {
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(n), strconv.Itoa(code))
	}
	if c.timed {
		ch <- prometheus.MustNewConstHistogram(c.duration, sum(s.Latency[:]), s.LatencySum, cumulative(http1.LatencyBuckets[:], s.Latency[:]))
	}
}
