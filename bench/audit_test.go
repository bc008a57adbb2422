package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseMetrics(t *testing.T) {
	const exposition = `# HELP reactor_received_bytes_total Bytes read from sockets.
# TYPE reactor_received_bytes_total counter
reactor_received_bytes_total{backend="epoll",proto="http"} 1.2345678e+07
reactor_sent_bytes_total{backend="epoll",proto="http"} 987654
reactor_http_requests_total{backend="epoll",code="200",proto="http"} 1000
reactor_http_requests_total{backend="epoll",code="404",proto="http"} 3
reactor_http_request_duration_seconds_bucket{backend="epoll",proto="http",le="+Inf"} 1003
reactor_http_request_duration_seconds_sum{backend="epoll",proto="http"} NaN
reactor_connections_active{backend="ep}oll",proto="http"} 5
reactor_connections_active_thing 7
go_gc_duration_seconds{quantile="0.5"} 1.5e-05
`
	got, have, err := parseMetrics(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	if want := (counters{Traffic{BytesIn: 12345678, BytesOut: 987654, Requests: 1003}, 0, 5}); got != want {
		t.Errorf("got %+v; want %+v", got, want)
	}
	if !have[seriesIn] || !have[seriesOut] || !have[seriesRequests] || have[seriesLines] || !have[seriesActive] || have[seriesAccepted] {
		t.Errorf("series seen %v; want in, out, requests and open connections, not lines nor accepted", have)
	}
	for _, bad := range []string{
		"reactor_sent_bytes_total{backend=\"x\" 5\n",  // labels that do not end
		"reactor_sent_bytes_total{backend=\"x\"}\n",   // no value
		"reactor_sent_bytes_total 1.5\n",              // not a count
		"reactor_received_bytes_total -3\n",           // nor this
		"reactor_connections_active 0.5\n",            // a gauge of connections counts too
		"reactor_chat_lines_delivered_total NaN\n",    // nor this
		"reactor_http_requests_total{code=\"200\"} x", // nor this
	} {
		if _, _, err := parseMetrics(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: parsed; want an error", bad)
		}
	}
}

// fakeMetrics serves /metrics with the counters counts returns, from a server that is quiet
// (one connection accepted, none open); it returns the address.
func fakeMetrics(t *testing.T, counts func() Traffic) string {
	return fakeConnMetrics(t, func() counters { return counters{counts(), 1, 0} })
}

// fakeConnMetrics serves /metrics with the counters counts returns; it returns the address.
func fakeConnMetrics(t *testing.T, counts func() counters) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := counts()
		fmt.Fprintf(w, "reactor_connections_accepted_total{backend=\"f\",proto=\"http\"} %d\n", c.accepted)
		fmt.Fprintf(w, "reactor_connections_active{backend=\"f\",proto=\"http\"} %d\n", c.active)
		fmt.Fprintf(w, "# TYPE reactor_received_bytes_total counter\n")
		fmt.Fprintf(w, "reactor_received_bytes_total{backend=\"f\",proto=\"http\"} %d\n", c.BytesIn)
		fmt.Fprintf(w, "reactor_sent_bytes_total{backend=\"f\",proto=\"http\"} %d\n", c.BytesOut)
		fmt.Fprintf(w, "reactor_http_requests_total{backend=\"f\",code=\"200\",proto=\"http\"} %d\n", c.Requests)
		fmt.Fprintf(w, "reactor_chat_lines_delivered_total{backend=\"f\",proto=\"http\"} %d\n", c.Lines)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestAuditCatchesMismatch feeds the audit fabricated counters: equal to the load's account
// is ok, one byte or one request off either way is a mismatch that names the counter and both
// figures, a count that trails the bytes a few reads is waited for, and the next window is
// audited from where the last one ended, so one mismatch does not spill into it.
func TestAuditCatchesMismatch(t *testing.T) {
	defer func(d time.Duration) { settleTimeout = d }(settleTimeout)
	settleTimeout = 200 * time.Millisecond
	var server atomic.Pointer[Traffic]
	server.Store(&Traffic{BytesIn: 10, BytesOut: 20, Requests: 1}) // what the server did before
	addr := fakeMetrics(t, func() Traffic { return *server.Load() })
	ctx := context.Background()
	a := newAuditor(ctx, addr, "http")
	if a.why != "" {
		t.Fatalf("not audited: %s", a.why)
	}
	load := Traffic{BytesIn: 4400, BytesOut: 13000, Requests: 100}
	live := func() Traffic { return load }
	for _, c := range []struct {
		name   string
		server Traffic // the server's counters grow by this in the window
		want   string  // the mismatch reported, "" for ok
	}{
		{"equal", load, ""},
		{"a byte more out", Traffic{4400, 13001, 100, 0}, "bytes out: server counted 13001, load generator 13000"},
		{"a byte less in", Traffic{4399, 13000, 100, 0}, "bytes in: server counted 4399, load generator 4400"},
		{"a request lost", Traffic{4400, 13000, 99, 0}, "requests: server counted 99, load generator 100"},
		{"equal again", load, ""},
	} {
		before := *server.Load()
		grown := before.plus(c.server)
		server.Store(&grown)
		au := a.check(ctx, live)
		switch {
		case c.want == "" && (au.Status != AuditOK || len(au.Mismatches) > 0):
			t.Errorf("%s: %s %v; want ok", c.name, au.Status, au.Mismatches)
		case c.want != "" && (au.Status != AuditMismatch || len(au.Mismatches) != 1 || au.Mismatches[0] != c.want):
			t.Errorf("%s: %s %q; want a mismatch %q", c.name, au.Status, au.Mismatches, c.want)
		}
		if au.Load != load || au.Server != c.server {
			t.Errorf("%s: audit load %+v, server %+v; want %+v, %+v", c.name, au.Load, au.Server, load, c.server)
		}
	}

	// The server counts the last answers a moment after the load has read them.
	var reads atomic.Int64 // -1 until the window has run
	reads.Store(-1)
	before := *server.Load()
	trailing := fakeMetrics(t, func() Traffic {
		switch n := reads.Add(1); {
		case n <= 0:
			reads.Store(-1)
			return before
		case n <= 4:
			return before.plus(Traffic{4400, 12870, 99, 0})
		}
		return before.plus(load)
	})
	a = newAuditor(ctx, trailing, "http")
	reads.Store(0)
	if au := a.check(ctx, live); au.Status != AuditOK || reads.Load() < 6 {
		t.Errorf("trailing count: %s %v after %d reads; want ok once it caught up", au.Status, au.Mismatches, reads.Load())
	}

	// Traffic of idle connections opened for the window is owed too; a connection that failed
	// midway stops the audit for the rest of the round.
	a = newAuditor(ctx, addr, "http")
	now := *server.Load()
	grown := now.plus(load).plus(Traffic{44, 130, 1, 0})
	server.Store(&grown)
	a.absorb(ledger{Traffic: Traffic{44, 130, 1, 0}})
	if au := a.check(ctx, live); au.Status != AuditOK {
		t.Errorf("with an idle round trip owed: %s %v; want ok", au.Status, au.Mismatches)
	}
	a.absorb(ledger{lost: "an idle connection failed midway"})
	if au := a.check(ctx, live); au.Status != AuditNone || au.Why != "an idle connection failed midway" {
		t.Errorf("after a lost connection: %s %q; want not audited, and why", au.Status, au.Why)
	}

	if a := newAuditor(ctx, "127.0.0.1:1", "http"); a.why == "" || a.check(ctx, live).Status != AuditNone {
		t.Errorf("metrics that do not answer: audited; want not audited, and why")
	}
}

// TestAuditStartsWhenQuiet: a server that has just started may accept the bench's readiness
// probe, and greet it (chat's 83-byte welcome), after the port first answered. The audit's
// start waits for that connection to be accepted and closed, so the greeting is not charged
// to the first window; it counts a connection that is still open as not yet quiet, takes a
// gauge read a moment below zero in its stride, and gives up, saying why, on a server that
// never is quiet.
func TestAuditStartsWhenQuiet(t *testing.T) {
	defer func(d time.Duration) { settleTimeout = d }(settleTimeout)
	settleTimeout = 200 * time.Millisecond
	ctx := context.Background()
	greeted := counters{Traffic{BytesOut: 83}, 1, 0}
	var reads atomic.Int64
	addr := fakeConnMetrics(t, func() counters {
		switch n := reads.Add(1); {
		case n <= 3: // the probe not accepted yet
			return counters{}
		case n == 4: // accepted, greeted, open
			return counters{Traffic{BytesOut: 83}, 1, 1}
		case n == 5: // closing, the gauge's parts read apart
			return counters{Traffic{BytesOut: 83}, 1, -1}
		}
		return greeted
	})
	a := newAuditor(ctx, addr, "chat")
	if a.why != "" || a.seen != greeted.Traffic || reads.Load() < 7 {
		t.Fatalf("audit started from %+v after %d reads (%q); want from %+v, once quiet", a.seen, reads.Load(), a.why, greeted.Traffic)
	}
	if au := a.check(ctx, func() Traffic { return Traffic{} }); au.Status != AuditOK {
		t.Errorf("a window without load: %s %v; want ok", au.Status, au.Mismatches)
	}

	defer func(d time.Duration) { quietTimeout = d }(quietTimeout)
	quietTimeout = 100 * time.Millisecond
	busy := fakeConnMetrics(t, func() counters { return counters{Traffic{BytesOut: 83}, 1, 1} })
	if a := newAuditor(ctx, busy, "chat"); !strings.Contains(a.why, "not quiet 100ms after it started (1 connections accepted, 1 open)") {
		t.Errorf("a server never quiet: not audited because %q; want why", a.why)
	}
}

// TestAuditSummary: a contender's rounds sum up to ok only when every round that ran was
// audited and equal; one mismatch makes the whole a mismatch, shown as such in the table.
func TestAuditSummary(t *testing.T) {
	ok := &Audit{Status: AuditOK, Load: Traffic{BytesIn: 1 << 20, BytesOut: 3 << 30, Requests: 24000}}
	bad := &Audit{Status: AuditMismatch, Mismatches: []string{"bytes out: server counted 5, load generator 4"}}
	none := &Audit{Status: AuditNone, Why: whyNative}
	for _, c := range []struct {
		name   string
		rounds []*Audit
		status string
		cell   string
	}{
		{"all ok", []*Audit{ok, ok, nil}, AuditOK, "ok (48.0k requests, 2.00 MiB in, 6.00 GiB out)"},
		{"one off", []*Audit{ok, bad, ok}, AuditMismatch, "MISMATCH in 1 of 3 rounds: bytes out: server counted 5, load generator 4"},
		{"none", []*Audit{none, none}, AuditNone, "not audited (no counters: a native baseline)"},
		{"some", []*Audit{ok, none}, AuditPartial, "ok in 1 of 2 rounds (24.0k requests, 1.00 MiB in, 3.00 GiB out), not audited in the others: no counters: a native baseline"},
		{"no round ran", []*Audit{nil}, "", "–"},
	} {
		var rounds []Sample
		for _, a := range c.rounds {
			rounds = append(rounds, Sample{Audit: a})
		}
		r := Result{Audit: summariseAudits(rounds)}
		if r.Audit.Status != c.status || auditHuman(r) != c.cell {
			t.Errorf("%s: status %q, cell %q; want %q, %q", c.name, r.Audit.Status, auditHuman(r), c.status, c.cell)
		}
	}
}
