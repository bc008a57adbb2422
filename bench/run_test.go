package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunReportsWrongServerAsErrors benches a correct server and a deliberately wrong one side
// by side: the wrong one must come out as errors, invalid, unranked and never the reference,
// in the JSON, the table and the chart.
func TestRunReportsWrongServerAsErrors(t *testing.T) {
	good := httpServer(t, func(int) string { return okResponse })
	// Fast and wrong: a body one letter off.
	wrong := httpServer(t, func(int) string { return strings.Replace(okResponse, "Hello", "Hallo", 1) })
	// Answers every other request: half the responses never come.
	drops := httpServer(t, func(i int) string {
		if i%2 == 0 {
			return okResponse
		}
		return ""
	})
	defer func(g time.Duration) { graceAfterRun = g }(graceAfterRun)
	graceAfterRun = 300 * time.Millisecond
	o := Defaults("http", true)
	o.Pin = false // the test shares the machine; pinning is exercised end to end by cmd/reactor
	o.Rounds = 2
	o.Duration = 200 * time.Millisecond
	o.Contenders = []Contender{
		{Name: "good", Kind: KindTarget, Addr: good},
		{Name: "wrong", Kind: KindTarget, Addr: wrong},
		{Name: "drops", Kind: KindTarget, Addr: drops},
	}
	var progress bytes.Buffer
	rep, err := Run(context.Background(), o, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(progress.String(), "round "); got != 6 {
		t.Errorf("%d progress lines; want 6 (2 rounds × 3 servers):\n%s", got, progress.String())
	}
	if len(rep.Scenarios) != 3 {
		t.Fatalf("%d scenarios; want 3", len(rep.Scenarios))
	}
	for _, sc := range rep.Scenarios {
		byName := map[string]Result{}
		for _, r := range sc.Results {
			byName[r.Contender.Name] = r
		}
		g, w, d := byName["good"], byName["wrong"], byName["drops"]
		// An external target's CPU time is unknown, so it is not ranked; it can still be the
		// reference for throughput.
		if !g.Valid || g.Errors != 0 || float64(g.Throughput.Median) <= 0 || g.Rank != 0 {
			t.Errorf("%s: good server: valid %v, errors %d %v, throughput %v, rank %d", sc.Name, g.Valid, g.Errors, g.ErrorSamples, g.Throughput.Median, g.Rank)
		}
		if w.Valid || w.ErrorKinds["bad-body"] == 0 || w.Rank != 0 || float64(w.Throughput.Median) != 0 {
			t.Errorf("%s: wrong server: valid %v, errors %v, rank %d, throughput %v; want invalid, bad-body errors, unranked, none counted",
				sc.Name, w.Valid, w.ErrorKinds, w.Rank, w.Throughput.Median)
		}
		if d.Valid || d.ErrorKinds["no-response"] == 0 {
			t.Errorf("%s: dropping server: valid %v, errors %v; want invalid with no-response errors", sc.Name, d.Valid, d.ErrorKinds)
		}
		if want := map[bool]string{true: "", false: "good"}[sc.Name == ScenarioRate]; sc.Ref != want {
			t.Errorf("%s: reference %q; want %q (the only valid server; none at a fixed rate)", sc.Name, sc.Ref, want)
		}
		if !math.IsNaN(float64(g.CPUPerOp.Median)) {
			t.Errorf("%s: CPU per op %v for an external target; want unknown", sc.Name, g.CPUPerOp.Median)
		}
	}

	var text, md, svg, js bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{text.String(), md.String()} {
		if strings.Count(out, "INVALID (errors)") != 6 {
			t.Errorf("want 6 INVALID cells (2 servers × 3 scenarios) in:\n%s", out)
		}
		if !strings.Contains(out, "bad-body") || !strings.Contains(out, "no-response") {
			t.Errorf("error kinds missing from:\n%s", out)
		}
	}
	wellFormed(t, svg.Bytes())
	if !strings.Contains(svg.String(), "INVALID") {
		t.Error("the chart does not mark the wrong servers")
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON does not read back: %v", err)
	}
	if back.Scenarios[0].Results[1].Valid || back.Scenarios[0].Results[1].Errors == 0 {
		t.Error("JSON lost the wrong server's errors")
	}
}

func TestRunEchoChatIdleTargets(t *testing.T) {
	for _, c := range []struct {
		proto string
		addr  string
	}{
		{"echo", echoServer(t, func([]byte) {})},
		{"chat", chatServer(t, nil)},
		{"idle", echoServer(t, func([]byte) {})},
	} {
		o := Defaults(c.proto, true)
		o.Pin = false
		o.Contenders = []Contender{{Name: "t", Kind: KindTarget, Addr: c.addr}}
		rep, err := Run(context.Background(), o, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.proto, err)
		}
		r := rep.Scenarios[0].Results[0]
		if r.Errors != 0 || r.Failed != "" {
			t.Errorf("%s: errors %v, failed %q", c.proto, r.ErrorSamples, r.Failed)
		}
		if c.proto == "idle" {
			// Without a process of ours, memory is unknown: the sweep still runs.
			if len(r.Rounds[0].Idle) != len(o.IdleSweep) {
				t.Errorf("idle: %d points; want %d", len(r.Rounds[0].Idle), len(o.IdleSweep))
			}
		} else if float64(r.Throughput.Median) <= 0 {
			t.Errorf("%s: throughput %v", c.proto, r.Throughput.Median)
		}
		var svg, js bytes.Buffer
		if err := rep.WriteSVG(&svg); err != nil {
			t.Fatal(err)
		}
		wellFormed(t, svg.Bytes())
		// Unknown values (a target's CPU and memory) must still make valid JSON.
		if err := rep.WriteJSON(&js); err != nil {
			t.Errorf("%s: JSON: %v", c.proto, err)
		}
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	base := Defaults("http", true)
	base.Contenders = []Contender{{Name: "x", Kind: KindTarget, Addr: "127.0.0.1:1"}}
	for name, mod := range map[string]func(*Options){
		"proto":                   func(o *Options) { o.Proto = "ftp" },
		"nothing":                 func(o *Options) { o.Contenders = nil },
		"no binary":               func(o *Options) { o.Contenders = []Contender{{Name: "std", Kind: KindBackend}} },
		"ref":                     func(o *Options) { o.Ref = "nobody" },
		"scenario":                func(o *Options) { o.Scenarios = []string{"slowloris"} },
		"loader":                  func(o *Options) { o.Loader = "ab" },
		"depth":                   func(o *Options) { o.Depth = 0 },
		"dup":                     func(o *Options) { o.Contenders = append(o.Contenders, o.Contenders[0]) },
		"idle proto":              func(o *Options) { o.Proto, o.IdleProto = "idle", "ftp" },
		"idle proto without idle": func(o *Options) { o.IdleProto = "http" },
		"tool":                    func(o *Options) { o.Contenders = []Contender{ParseContender("haproxy")} },
		"proxy scenario": func(o *Options) {
			o.Proto, o.Self, o.Scenarios = "proxy", "reactor", []string{"pipelined"}
		},
		"proxy sweep": func(o *Options) {
			o.Proto, o.Self, o.Scenarios, o.IdleSweep = "proxy", "reactor", []string{ScenarioIdle}, []int{100, 10000}
		},
		"proxy bulk": func(o *Options) {
			o.Proto, o.Self, o.Scenarios, o.BulkConns = "proxy", "reactor", []string{ScenarioBulk}, 0
		},
	} {
		o := base
		mod(&o)
		if _, err := Run(context.Background(), o, nil); err == nil {
			t.Errorf("%s: Run accepted bad options", name)
		}
	}
}

func TestRunUnreachableTarget(t *testing.T) {
	o := Defaults("echo", true)
	o.Pin = false
	o.Rounds = 2
	// Port 1 on loopback: nothing listens there.
	o.Contenders = []Contender{{Name: "gone", Kind: KindTarget, Addr: "127.0.0.1:1"}}
	rep, err := Run(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Scenarios[0].Results[0]
	if r.Failed == "" || r.Valid || len(r.Rounds) != 2 {
		t.Errorf("unreachable target: failed %q, valid %v, %d rounds; want failed, invalid, 2 rounds", r.Failed, r.Valid, len(r.Rounds))
	}
}

// TestRunBackgroundIdle sweeps idle connections held open behind an echo load: every count a
// server holds is measured with the connections really open; a count beyond a contender's
// MaxConns is reported as not held (no failure, its curve stops); a server that refuses idle
// connections below its limit fails at that count.
func TestRunBackgroundIdle(t *testing.T) {
	var open, peak atomic.Int64
	counting := testServer(t, func(c net.Conn) {
		n := open.Add(1)
		defer open.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		_, _ = io.Copy(c, c) // echo until the peer goes
	})
	var accepted atomic.Int64
	refusing := testServer(t, func(c net.Conn) {
		// Like select past its descriptor limit: connections after the 4th (the reachability
		// check, 2 load connections and 1 idle one) are closed unread.
		if accepted.Add(1) > 4 {
			return
		}
		_, _ = io.Copy(c, c) // echo until the peer goes
	})
	o := Defaults("echo", true)
	o.Pin = false
	o.Conns = 2
	o.Background = []int{0, 5, 40}
	o.Contenders = []Contender{
		{Name: "held", Kind: KindTarget, Addr: counting, MaxConns: 30},
		{Name: "refuses", Kind: KindTarget, Addr: refusing},
	}
	rep, err := Run(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Scenarios) != 3 || !slices.Equal(rep.Settings.Background, o.Background) {
		t.Fatalf("%d scenarios, background %v; want one per count of %v", len(rep.Scenarios), rep.Settings.Background, o.Background)
	}
	for i, sc := range rep.Scenarios {
		if sc.Background != o.Background[i] || !strings.Contains(sc.Describe, fmt.Sprintf("%d idle connections held open", sc.Background)) {
			t.Errorf("scenario %d: background %d, %q", i, sc.Background, sc.Describe)
		}
	}
	held := func(i int) Result { return rep.Scenarios[i].Results[0] }
	for i := 0; i < 2; i++ {
		if r := held(i); !r.Valid || float64(r.Throughput.Median) <= 0 {
			t.Errorf("held @%d: valid %v, throughput %v, failed %q, unheld %q", o.Background[i], r.Valid, r.Throughput.Median, r.Failed, r.Unheld)
		}
	}
	// 5 idle plus 2 load connections were open at once (the load's own may come and go).
	if p := peak.Load(); p < 7 {
		t.Errorf("server saw at most %d connections at once; want ≥ 7", p)
	}
	// 40 + 2 load + the reserve exceed MaxConns 30: not held, not failed, not throughput.
	if r := held(2); r.Valid || r.Unheld == "" || r.Failed != "" || r.Throughput.N != 0 {
		t.Errorf("held @40: valid %v, unheld %q, failed %q, throughput n %d; want not held", r.Valid, r.Unheld, r.Failed, r.Throughput.N)
	}
	ref := func(i int) Result { return rep.Scenarios[i].Results[1] }
	if r := ref(0); !r.Valid {
		t.Errorf("refuses @0: valid %v, failed %q", r.Valid, r.Failed)
	}
	for i := 1; i < 3; i++ {
		if r := ref(i); r.Valid || !strings.Contains(r.Failed, "could not hold") {
			t.Errorf("refuses @%d: valid %v, failed %q; want could not hold", o.Background[i], r.Valid, r.Failed)
		}
	}
	var md, svg bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"@40 idle", "not held", "FAILED"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
	if err := rep.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	wellFormed(t, svg.Bytes())
	// A target's CPU time is unknown, so there are no points; the legend says so, never a curve.
	if !strings.Contains(svg.String(), "held (stops: not measured at 0)") || strings.Contains(svg.String(), "<polyline") {
		t.Errorf("chart legend lacks where the curves stop:\n%s", svg.String())
	}
}

// TestRunIdleNotHeld sweeps idle connections on three servers that cannot take the whole
// sweep. A count past a contender's MaxConns and a count at which connections are refused are
// "not held": no error, no failure, the counts before still measured, and no connection dialled
// past the first refusal but those already in flight. A wrong answer stays an error.
func TestRunIdleNotHeld(t *testing.T) {
	// counted echoes on the connections it accepts up to limit (0: all) and closes the rest
	// unread, as select does past its descriptor limit; accepted counts them all.
	counted := func(limit int64, accepted *atomic.Int64) string {
		return testServer(t, func(c net.Conn) {
			if n := accepted.Add(1); limit > 0 && n > limit {
				return
			}
			_, _ = io.Copy(c, c) // echo until the peer goes
		})
	}
	var limitedSeen, refusingSeen atomic.Int64
	limited := counted(0, &limitedSeen)
	// The reachability check and 10 idle connections, then no more.
	refusing := counted(11, &refusingSeen)
	wrong := echoServer(t, func(b []byte) { b[0] ^= 1 })

	o := Defaults("idle", true)
	o.Pin = false
	o.IdleSweep = []int{5, 20, 60}
	o.Contenders = []Contender{
		// 60 connections and the descriptor reserve exceed 40; 20 do not.
		{Name: "limited", Kind: KindTarget, Addr: limited, MaxConns: 40},
		{Name: "refusing", Kind: KindTarget, Addr: refusing},
		{Name: "wrong", Kind: KindTarget, Addr: wrong},
	}
	rep, err := Run(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := rep.Scenarios[0].Results
	for i, c := range []struct {
		name string
		held int   // sweep points measured
		most int64 // connections the server may have seen
	}{
		{"limited", 2, 1 + 20},
		{"refusing", 1, 11 + idleDialers},
	} {
		r := res[i]
		if r.Valid || r.Unheld == "" || r.Failed != "" || r.Errors != 0 || r.Rank != 0 {
			t.Errorf("%s: valid %v, unheld %q, failed %q, errors %d %v, rank %d; want not held, no error, unranked",
				c.name, r.Valid, r.Unheld, r.Failed, r.Errors, r.ErrorSamples, r.Rank)
		}
		if got := len(r.Rounds[0].Idle); got != c.held {
			t.Errorf("%s: %d points measured; want %d", c.name, got, c.held)
		}
	}
	if !strings.Contains(res[0].Unheld, "from 60 up") || !strings.Contains(res[1].Unheld, "from 20 up") {
		t.Errorf("unheld %q, %q; want from 60 up and from 20 up", res[0].Unheld, res[1].Unheld)
	}
	// Nothing dialled past a known limit, and nothing past a refusal but the dialers in flight.
	if n := limitedSeen.Load(); n > 1+20 {
		t.Errorf("limited: %d connections dialled; want at most 21 (the check and 20 held)", n)
	}
	if n := refusingSeen.Load(); n > 11+idleDialers {
		t.Errorf("refusing: %d connections dialled; want at most %d (11 accepted, then those in flight)", n, 11+idleDialers)
	}
	if w := res[2]; w.Valid || w.Unheld != "" || w.ErrorKinds["wrong-bytes"] == 0 {
		t.Errorf("wrong: valid %v, unheld %q, errors %v; want invalid with wrong-bytes errors", w.Valid, w.Unheld, w.ErrorKinds)
	}

	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	// One column per count of the sweep; a count not held says so in its own cell.
	for _, want := range []string{"| @5 | @20 | @60 |", "| limited | not held |", "| n/a | n/a | not held |", "| refusing | not held |", "| n/a | not held | not held |"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
}

// TestRunQuickSaysSo: a --quick run says so in every table of the text and the Markdown, in a
// JSON field and in the chart's title; a run that is not quick says nothing of the kind.
func TestRunQuickSaysSo(t *testing.T) {
	addr := httpServer(t, func(int) string { return okResponse })
	for _, quick := range []bool{true, false} {
		o := Defaults("http", true)
		// The same tiny load either way: only the flag differs.
		o.Quick = quick
		o.Pin = false
		o.Contenders = []Contender{{Name: "t", Kind: KindTarget, Addr: addr}}
		rep, err := Run(context.Background(), o, nil)
		if err != nil {
			t.Fatal(err)
		}
		var text, md, svg, js bytes.Buffer
		for _, w := range []struct {
			buf   *bytes.Buffer
			write func(*Report, io.Writer) error
		}{{&text, (*Report).WriteText}, {&md, (*Report).WriteMarkdown}, {&svg, (*Report).WriteSVG}, {&js, (*Report).WriteJSON}} {
			if err := w.write(rep, w.buf); err != nil {
				t.Fatal(err)
			}
		}
		tables := len(o.Scenarios)
		const tag = "[QUICK run: tiny load, one round, no ranges] "
		want := map[bool]int{true: tables, false: 0}[quick]
		if got := strings.Count(text.String(), "\n"+tag+"http "); got != want {
			t.Errorf("quick %v: %d text tables tagged; want %d:\n%s", quick, got, want, text.String())
		}
		if got := strings.Count(md.String(), "**"+tag+"http "); got != want {
			t.Errorf("quick %v: %d Markdown tables tagged; want %d:\n%s", quick, got, want, md.String())
		}
		if got := strings.Contains(svg.String(), "— QUICK run: tiny load, one round, no ranges —"); got != quick {
			t.Errorf("quick %v: chart title says quick %v", quick, got)
		}
		var doc struct {
			Settings map[string]any `json:"settings"`
		}
		if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if got, ok := doc.Settings["quick"].(bool); !ok || got != quick {
			t.Errorf("quick %v: JSON settings.quick = %v", quick, doc.Settings["quick"])
		}
	}
}
