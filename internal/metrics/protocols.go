package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/reactorlab/reactor/protocols/chat"
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
