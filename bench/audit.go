package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The audit: a server the bench starts from this project's `reactor serve` is given
// --metrics-addr, and after each scenario the bench reads its counters (/metrics) and compares
// them with its own account of what it did to that server. The load generators count every
// byte they write and read, every http answer and every chat line; once a generator has
// stopped and every answer owed has been read, nothing is in flight, so the two accounts must
// be equal — not close, equal. A difference is an error of the server, like a wrong answer.

// Audit statuses.
const (
	AuditOK       = "ok"
	AuditMismatch = "mismatch"
	AuditNone     = "not audited"
	// AuditPartial marks a contender audited in some rounds and not in others (Why says why
	// not); no round of it mismatched.
	AuditPartial = "partly audited"
)

// Traffic is what passed between the bench and a server, seen from the server: bytes in (the
// bench wrote them), bytes out (the bench read them), http requests answered (any status) and
// chat lines delivered (announcements included).
type Traffic struct {
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`
	Requests int64 `json:"requests,omitempty"`
	Lines    int64 `json:"lines,omitempty"`
}

func (t Traffic) plus(u Traffic) Traffic {
	return Traffic{t.BytesIn + u.BytesIn, t.BytesOut + u.BytesOut, t.Requests + u.Requests, t.Lines + u.Lines}
}

func (t Traffic) minus(u Traffic) Traffic {
	return Traffic{t.BytesIn - u.BytesIn, t.BytesOut - u.BytesOut, t.Requests - u.Requests, t.Lines - u.Lines}
}

// Audit is one measured scenario's check of a server's counters against the bench's account.
type Audit struct {
	// Status is AuditOK, AuditMismatch or AuditNone.
	Status string `json:"status"`
	// Why says why the window was not audited.
	Why string `json:"why,omitempty"`
	// Load is what the bench counted since the previous audit of this server (the scenario's
	// warm-up and window, and the round trips of idle connections opened for it); Server is
	// what the server's counters grew by meanwhile.
	Load   Traffic `json:"load"`
	Server Traffic `json:"server"`
	// Checked names what was compared; Mismatches says how each that differed differed.
	Checked    []string `json:"checked,omitempty"`
	Mismatches []string `json:"mismatches,omitempty"`
}

// AuditSummary is a contender's audits over its rounds.
type AuditSummary struct {
	// Status is AuditOK (every round's windows audited and equal), AuditMismatch (some
	// window differed), AuditPartial or AuditNone; empty when no round ran.
	Status string `json:"status,omitempty"`
	// Why says why windows were not audited (the first reason seen).
	Why string `json:"why,omitempty"`
	// Windows is how many rounds ran, Audited how many of them were audited, Mismatched how
	// many of those differed.
	Windows    int `json:"windows"`
	Audited    int `json:"audited"`
	Mismatched int `json:"mismatched"`
	// Total is the bench's account summed over the audited windows.
	Total Traffic `json:"total"`
	// First describes the first mismatch.
	First string `json:"first_mismatch,omitempty"`
}

// summariseAudits sums the audits of a contender's rounds; a round that did not run (it
// failed, or was not held) has none and is not counted.
func summariseAudits(rounds []Sample) AuditSummary {
	var s AuditSummary
	for _, r := range rounds {
		a := r.Audit
		if a == nil {
			continue
		}
		s.Windows++
		switch a.Status {
		case AuditNone:
			if s.Why == "" {
				s.Why = a.Why
			}
			continue
		case AuditMismatch:
			s.Mismatched++
			if s.First == "" {
				s.First = strings.Join(a.Mismatches, "; ")
			}
		}
		s.Audited++
		s.Total = s.Total.plus(a.Load)
	}
	switch {
	case s.Windows == 0:
	case s.Mismatched > 0:
		s.Status = AuditMismatch
	case s.Audited == s.Windows:
		s.Status = AuditOK
	case s.Audited == 0:
		s.Status = AuditNone
	default:
		s.Status = AuditPartial
	}
	return s
}

// Why a contender is not audited.
const (
	whyTarget    = "no counters: a server the bench did not start"
	whyNative    = "no counters: a native baseline"
	whyNoMetrics = "metrics off"
	// A proxy's counters count its upstream connections too, which the bench does not see.
	whyProxy     = "a proxy: its counters include the upstream's side"
	whyTool      = "no counters: a program from the OS packages"
	whyFloor     = "no counters: the C floor"
	whySilent    = "silent chat members: the server counts lines to them that are never read"
	whyWrk       = "wrk drove the load: it counts no bytes and stops with requests in flight"
	whyAfterWrk  = "an earlier scenario of the round was driven by wrk, whose traffic is unknown"
	whyAfterChat = "the chat room's members have left, and the server's announcements of it were not read"
	whyBus       = "the chat room is spread over several servers, each counting its own share"
)

// settleTimeout bounds how long an audit waits for a server's counters to catch up with the
// bench's account: a count is added a moment after the bytes it counts have moved, so the
// bench may have read an answer before the server has counted it.
var settleTimeout = 2 * time.Second

// settlePoll is the pause between two reads of the counters while they settle.
const settlePoll = 5 * time.Millisecond

// auditor audits one server for one round: it holds the server's counters as of its last
// audit and what the bench has done to the server since.
type auditor struct {
	url   string
	proto string // what the server serves (http, echo or chat): decides what is compared
	// why, once set, is why nothing more is audited on this server.
	why    string
	seen   Traffic // the server's counters at the last audit
	owed   Traffic // the bench's account since then
	client *http.Client
}

// unaudited returns an auditor that audits nothing, for why.
func unaudited(why string) *auditor { return &auditor{why: why} }

// quietTimeout bounds how long newAuditor waits for a server that has just started to be
// done with the bench's readiness probe. A variable so that a test of a server that never is
// need not wait as long.
var quietTimeout = 5 * time.Second

// newAuditor starts auditing the server whose metrics listen on addr: it reads the counters
// the server starts from, once the server is quiet. The bench has made one connection to it
// before (the readiness probe, which reads nothing and closes at once), and a server may
// accept that connection, and say something to it (chat's welcome), well after the port first
// answered: the kernel completes the handshake, the server's loop gets to it when it runs. A
// start read before then would charge the window with what the server said to the probe.
// Quiet is every accepted connection closed, at least one accepted, and the counters the
// same in two reads in a row; a server not quiet within quietTimeout is not audited.
func newAuditor(ctx context.Context, addr, proto string) *auditor {
	a := &auditor{
		url:    "http://" + addr + "/metrics",
		proto:  proto,
		client: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	deadline := time.Now().Add(quietTimeout)
	var last counters
	calm := 0
	for {
		c, err := a.scrape(ctx)
		if err != nil {
			return unaudited(err.Error())
		}
		switch {
		case c.accepted < 1 || c.active != 0:
			calm = 0
		case calm > 0 && c == last:
			a.seen = c.Traffic
			return a
		default:
			calm++
			last = c
			continue
		}
		if time.Now().After(deadline) {
			return unaudited(fmt.Sprintf("not quiet %v after it started (%d connections accepted, %d open), so what it said to the bench's readiness probe is unknown", quietTimeout, c.accepted, c.active))
		}
		if !sleepCtx(ctx, settlePoll) {
			return unaudited("the run stopped")
		}
	}
}

// add counts traffic the bench had with the server outside a generator's window (the round
// trips of idle connections).
func (a *auditor) add(t Traffic) { a.owed = a.owed.plus(t) }

// absorb adds the traffic of idle connections; if their account is not exact, auditing stops.
func (a *auditor) absorb(l ledger) {
	a.add(l.Traffic)
	if l.lost != "" {
		a.stop(l.lost)
	}
}

// stop ends the audit of this server for the rest of the round: what reached it is no longer
// known, for the reason why. It returns the window's audit.
func (a *auditor) stop(why string) *Audit {
	if a.why == "" {
		a.why = why
	}
	return &Audit{Status: AuditNone, Why: a.why}
}

// checked names what is compared for the protocol served.
func (a *auditor) checked() []string {
	switch a.proto {
	case "http":
		return []string{"bytes in", "bytes out", "requests"}
	case "chat":
		return []string{"bytes in", "bytes out", "lines"}
	}
	return []string{"bytes in", "bytes out"}
}

// differences lists how server differs from load in what is checked, empty when it does not.
func (a *auditor) differences(server, load Traffic) []string {
	var out []string
	diff := func(what string, s, l int64) {
		if s != l {
			out = append(out, fmt.Sprintf("%s: server counted %d, load generator %d", what, s, l))
		}
	}
	diff("bytes in", server.BytesIn, load.BytesIn)
	diff("bytes out", server.BytesOut, load.BytesOut)
	switch a.proto {
	case "http":
		diff("requests", server.Requests, load.Requests)
	case "chat":
		diff("lines", server.Lines, load.Lines)
	}
	return out
}

// check audits the server now, at a quiet point: the bench owes the server nothing and the
// server owes the bench nothing (a generator stopped, every answer read). live is the
// generator's account of the window, which may still grow while the server's last writes are
// read (chat's announcements). The server's counters must grow by exactly the bench's
// account; since a count may trail the bytes it counts, they are read until they agree twice
// in a row, or until settleTimeout, and then compared. The next audit starts from there, so
// one mismatch does not spill into the next window.
func (a *auditor) check(ctx context.Context, live func() Traffic) *Audit {
	if a.why != "" {
		return &Audit{Status: AuditNone, Why: a.why}
	}
	deadline := time.Now().Add(settleTimeout)
	var got, want Traffic
	agreed := 0
	for {
		now, err := a.scrape(ctx)
		if err != nil {
			return a.stop(err.Error())
		}
		got, want = now.Traffic.minus(a.seen), a.owed.plus(live())
		if len(a.differences(got, want)) == 0 {
			if agreed++; agreed == 2 {
				break
			}
			continue
		}
		agreed = 0
		if time.Now().After(deadline) || !sleepCtx(ctx, settlePoll) {
			break
		}
	}
	if ctx.Err() != nil {
		return a.stop("the run stopped")
	}
	a.seen, a.owed = a.seen.plus(got), Traffic{}
	au := &Audit{Status: AuditOK, Load: want, Server: got, Checked: a.checked()}
	if d := a.differences(got, want); len(d) > 0 {
		au.Status, au.Mismatches = AuditMismatch, d
	}
	return au
}

// counters is one reading of a server's metrics: the traffic the audit compares, and the
// connections accepted and open, which say when the server is quiet.
type counters struct {
	Traffic
	accepted, active int64
}

// scrape reads the server's counters.
func (a *auditor) scrape(ctx context.Context) (counters, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url, nil)
	if err != nil {
		return counters{}, err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return counters{}, fmt.Errorf("reading its metrics failed: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return counters{}, fmt.Errorf("reading its metrics failed: %s", resp.Status)
	}
	t, have, err := parseMetrics(resp.Body)
	if err != nil {
		return counters{}, fmt.Errorf("its metrics do not parse: %v", err)
	}
	need := []string{seriesIn, seriesOut, seriesAccepted, seriesActive}
	switch a.proto {
	case "http":
		need = append(need, seriesRequests)
	case "chat":
		need = append(need, seriesLines)
	}
	for _, n := range need {
		if !have[n] {
			return counters{}, fmt.Errorf("its metrics lack %s", n)
		}
	}
	return t, nil
}

// The series the audit reads (docs/operations.md).
const (
	seriesIn       = "reactor_received_bytes_total"
	seriesOut      = "reactor_sent_bytes_total"
	seriesRequests = "reactor_http_requests_total"
	seriesLines    = "reactor_chat_lines_delivered_total"
	seriesAccepted = "reactor_connections_accepted_total"
	seriesActive   = "reactor_connections_active"
)

// parseMetrics reads the series the audit reads from a Prometheus text exposition, each
// summed over its label sets (http's requests over their status codes), and says which were
// there. Every other line is skipped unread.
func parseMetrics(r io.Reader) (counters, map[string]bool, error) {
	var t counters
	have := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		end := strings.IndexAny(line, "{ ")
		if end < 0 {
			return t, nil, fmt.Errorf("no value: %q", line)
		}
		name := line[:end]
		var dst *int64
		switch name {
		case seriesIn:
			dst = &t.BytesIn
		case seriesOut:
			dst = &t.BytesOut
		case seriesRequests:
			dst = &t.Requests
		case seriesLines:
			dst = &t.Lines
		case seriesAccepted:
			dst = &t.accepted
		case seriesActive:
			dst = &t.active
		default:
			continue
		}
		rest := line[end:]
		if rest[0] == '{' {
			n := labelsEnd(rest)
			if n < 0 {
				return t, nil, fmt.Errorf("unterminated labels: %q", line)
			}
			rest = rest[n:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return t, nil, fmt.Errorf("no value: %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		// The open connections' gauge may read a moment below zero: its parts are not
		// read at one instant.
		if err != nil || v < 0 && name != seriesActive || v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return t, nil, fmt.Errorf("%s: %q is not a count", name, f[0])
		}
		*dst += int64(v)
		have[name] = true
	}
	return t, have, sc.Err()
}

// labelsEnd returns the length of the label set at the start of s ("{a="x",b="y"}"), quoted
// values and their escapes included, or -1 when it does not end.
func labelsEnd(s string) int {
	quoted := false
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == '}':
			return i + 1
		}
	}
	return -1
}

// metricsLine is the record serve logs (text format) once its metrics listener is up, with
// the address it really listens on.
var metricsLine = regexp.MustCompile(`msg=metrics addr=(\S+)`)

// probeMetrics asks a reactor binary whether its serve takes --metrics-addr, from its help:
// an older build that does not would refuse to start with it. It returns why not, or "".
func probeMetrics(ctx context.Context, bin string, env []string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--help")
	cmd.Env = env
	// The help goes to stderr and the status is 0; an older build may differ in either, so
	// only what it says counts.
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "-metrics-addr") {
		return "its serve has no --metrics-addr: an older build"
	}
	return ""
}
