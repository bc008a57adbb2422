package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
)

// table is one scenario laid out for people: a caption, a header and a row per contender.
type table struct {
	caption string
	header  []string
	rows    [][]string
}

// tables lays out every scenario of the report.
func (rep *Report) tables() []table {
	var ts []table
	if len(rep.Settings.Background) > 0 {
		ts = append(ts, backgroundTables(rep)...)
	}
	for _, sc := range rep.Scenarios {
		ts = append(ts, scenarioTable(rep, sc))
	}
	if tag := rep.quickTag(); tag != "" {
		// On every table, since tables are copied into documents one at a time.
		for i := range ts {
			ts[i].caption = "[" + tag + "] " + ts[i].caption
		}
	}
	return ts
}

// quickTag marks what a --quick run writes, empty for any other run: its tiny load and single
// round make a smoke test whose figures have no range and are no measurement.
func (rep *Report) quickTag() string {
	switch {
	case !rep.Settings.Quick:
		return ""
	case rep.Settings.Rounds == 1:
		return "QUICK run: tiny load, one round, no ranges"
	default:
		return fmt.Sprintf("QUICK run: tiny load, %d rounds", rep.Settings.Rounds)
	}
}

func scenarioTable(rep *Report, sc Scenario) table {
	t := table{caption: fmt.Sprintf("%s %s — %s", rep.Proto, sc.Name, sc.Describe)}
	switch rep.Proto {
	case "idle":
		t.caption = fmt.Sprintf("idle — %s", sc.Describe)
	case "http", "proxy":
	default:
		t.caption = fmt.Sprintf("%s — %s", sc.Name, sc.Describe)
	}
	if sc.Ref != "" {
		t.caption += "; ×ref against " + sc.Ref
	}
	op := sc.Op
	switch {
	case sc.Name == "idle":
		t.header = []string{"server", "bytes/" + op + " (min–max)", "×ref", "rank"}
		counts := rep.Settings.IdleSweep
		for _, n := range counts {
			t.header = append(t.header, fmt.Sprintf("@%d", n))
		}
		t.header = append(t.header, "peak RSS", "errors", "audit")
		for _, r := range sc.Results {
			row := []string{r.Contender.Name, validOr(r, spreadHuman(r.MemPerConn, bytesHuman)), ratioHuman(float64(r.CPURatio)), rankHuman(r)}
			for _, n := range counts {
				cell := "n/a"
				for _, p := range r.Sweep {
					switch {
					case p.Conns != n:
					case p.NotHeld > 0:
						cell = "not held"
					default:
						cell = bytesHuman(float64(p.PerConn.Median))
					}
				}
				row = append(row, cell)
			}
			row = append(row, bytesHuman(float64(r.PeakRSS.Max)), errorsHuman(r), auditHuman(r))
			t.rows = append(t.rows, row)
		}
	case sc.Name == ScenarioRate:
		t.header = []string{"server", "achieved " + sc.Unit, "p50", "p99", "p99.9", "CPU µs/" + op + " (min–max)", "errors", "audit"}
		for _, r := range sc.Results {
			p50, p99, p999 := "n/a", "n/a", "n/a"
			if r.Latency != nil {
				p50, p99, p999 = usHuman(float64(r.Latency.P50)), usHuman(float64(r.Latency.P99)), usHuman(float64(r.Latency.P999))
			}
			t.rows = append(t.rows, []string{r.Contender.Name, validOr(r, spreadHuman(r.Throughput, siHuman)),
				p50, p99, p999, cpuHuman(r), errorsHuman(r), auditHuman(r)})
		}
	default:
		t.header = []string{"server", sc.Unit + " (min–max)", "×ref"}
		if sc.Name == "echo" {
			t.header = append(t.header, "MB/s")
		}
		t.header = append(t.header, "CPU µs/"+op+" (min–max)", "CPU ×ref", "rank")
		if sc.Name == "chat" {
			t.header = append(t.header, "p50", "p99", "p99.9")
		}
		t.header = append(t.header, "CPUs busy srv/load", "peak RSS", "errors", "audit")
		for _, r := range sc.Results {
			row := []string{r.Contender.Name, validOr(r, spreadHuman(r.Throughput, siHuman)), ratioHuman(float64(r.ThroughputRatio))}
			if sc.Name == "echo" {
				row = append(row, validOr(r, spreadHuman(r.MBps, trim3)))
			}
			row = append(row, cpuHuman(r), ratioHuman(float64(r.CPURatio)), rankHuman(r))
			if sc.Name == "chat" {
				p50, p99, p999 := "n/a", "n/a", "n/a"
				if r.Latency != nil {
					p50, p99, p999 = usHuman(float64(r.Latency.P50)), usHuman(float64(r.Latency.P99)), usHuman(float64(r.Latency.P999))
				}
				row = append(row, p50, p99, p999)
			}
			row = append(row, busyHuman(r), bytesHuman(float64(r.PeakRSS.Max)), errorsHuman(r), auditHuman(r))
			t.rows = append(t.rows, row)
		}
	}
	// A contender asked for and not measured keeps its row, so a table copied on its own
	// still says it was left out, and why.
	for _, sk := range rep.Skipped {
		row := []string{sk.Name, "skipped"}
		for len(row) < len(t.header)-1 {
			row = append(row, "–")
		}
		t.rows = append(t.rows, append(row, "not run: "+sk.Why))
	}
	return t
}

// backgroundTables lays out a background sweep: for each scenario, server CPU per operation
// and p99 latency (where measured) with a column per count of idle connections held open.
func backgroundTables(rep *Report) []table {
	var ts []table
	var names []string
	byName := map[string][]Scenario{}
	for _, sc := range rep.Scenarios {
		if _, ok := byName[sc.Name]; !ok {
			names = append(names, sc.Name)
		}
		byName[sc.Name] = append(byName[sc.Name], sc)
	}
	for _, name := range names {
		scs := byName[name]
		metrics := []struct {
			title string
			cell  func(Result) string
		}{
			{"server CPU µs per " + scs[0].Op + ", median (min–max) over rounds", func(r Result) string { return cpuHuman(r) }},
		}
		if name == ScenarioRate {
			metrics = append(metrics, struct {
				title string
				cell  func(Result) string
			}{"p99 latency, median (min–max) of the rounds' p99", func(r Result) string { return spreadHuman(r.P99Rounds, usHuman) }})
		}
		for _, m := range metrics {
			t := table{caption: fmt.Sprintf("%s %s with idle connections held open — %s", rep.Proto, name, m.title)}
			t.header = []string{"server"}
			for _, sc := range scs {
				t.header = append(t.header, fmt.Sprintf("@%d idle", sc.Background))
			}
			for ci := range scs[0].Results {
				row := []string{scs[0].Results[ci].Contender.Name}
				for _, sc := range scs {
					r := sc.Results[ci]
					row = append(row, validOr(r, m.cell(r)))
				}
				t.rows = append(t.rows, row)
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// validOr shows a measurement only for a result that earned it: a contender that answered
// wrongly or failed is shown as such, never with a throughput.
func validOr(r Result, s string) string {
	switch {
	case r.Unheld != "":
		return "not held"
	case r.Failed != "":
		return "FAILED"
	case r.Errors > 0:
		return "INVALID (errors)"
	}
	return s
}

// cpuHuman shows CPU per op, starred when the tick resolution makes it coarse.
func cpuHuman(r Result) string {
	s := spreadHuman(r.CPUPerOp, trim3)
	if r.CoarseCPU {
		s += " *"
	}
	return s
}

// busyHuman shows how many CPUs the server and the load generator kept busy (medians).
func busyHuman(r Result) string {
	f := func(v Num) string {
		if math.IsNaN(float64(v)) {
			return "?"
		}
		return fmt.Sprintf("%.2f", float64(v))
	}
	return f(r.ServerBusy.Median) + "/" + f(r.LoadBusy.Median)
}

func rankHuman(r Result) string {
	if r.Rank == 0 {
		return "–"
	}
	if r.Tied {
		return fmt.Sprintf("%d=", r.Rank)
	}
	return fmt.Sprint(r.Rank)
}

func errorsHuman(r Result) string {
	if r.Unheld != "" {
		return "not held: " + r.Unheld
	}
	if r.Failed != "" {
		return "did not run: " + shorten(r.Failed, 100)
	}
	if r.Errors == 0 {
		return "0"
	}
	kinds := make([]string, 0, len(r.ErrorKinds))
	for k := range r.ErrorKinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s %d", k, r.ErrorKinds[k])
	}
	return fmt.Sprintf("%d (%s)", r.Errors, strings.Join(parts, ", "))
}

// auditHuman says how the server's own counters compared with the bench's account of what it
// did to the server.
func auditHuman(r Result) string {
	a := r.Audit
	rounds := ""
	if a.Windows > 1 {
		rounds = fmt.Sprintf(" in %d of %d rounds", a.Mismatched, a.Windows)
	}
	switch a.Status {
	case "":
		return "–"
	case AuditOK:
		return "ok (" + trafficHuman(a.Total) + ")"
	case AuditMismatch:
		return "MISMATCH" + rounds + ": " + a.First
	case AuditPartial:
		return fmt.Sprintf("ok in %d of %d rounds (%s), not audited in the others: %s", a.Audited, a.Windows, trafficHuman(a.Total), a.Why)
	}
	return "not audited (" + a.Why + ")"
}

// trafficHuman writes what an audit found: the answers, then the bytes the server took in and
// sent out.
func trafficHuman(t Traffic) string {
	var parts []string
	if t.Requests > 0 {
		parts = append(parts, siHuman(float64(t.Requests))+" requests")
	}
	if t.Lines > 0 {
		parts = append(parts, siHuman(float64(t.Lines))+" lines")
	}
	return strings.Join(append(parts, bytesHuman(float64(t.BytesIn))+" in", bytesHuman(float64(t.BytesOut))+" out"), ", ")
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// WriteText writes the report as aligned tables with the notes, for a terminal.
func (rep *Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "reactor bench %s — %d round(s), %s\n", rep.Proto, rep.Settings.Rounds, rep.Pinning)
	if tag := rep.quickTag(); tag != "" {
		fmt.Fprintf(w, "%s: a smoke test, not a measurement\n", tag)
	}
	for _, t := range rep.tables() {
		fmt.Fprintf(w, "\n%s\n", t.caption)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(t.header, "\t"))
		for _, row := range t.rows {
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(rep.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range rep.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
	return nil
}

// WriteMarkdown writes the report as Markdown tables with the notes.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	if tag := rep.quickTag(); tag != "" {
		fmt.Fprintf(w, "**%s: a smoke test, not a measurement.**\n\n", tag)
	}
	fmt.Fprintf(w, "Machine: %d CPUs (%s), Linux %s, %s; %s.  \n", rep.Machine.CPUs, rep.Machine.CPUModel, rep.Machine.Kernel, rep.Machine.GoVersion, rep.Pinning)
	fmt.Fprintf(w, "Command: `%s` — %d round(s), warm-up %gs, %gs measured per scenario, %s UTC, %.0fs in all; load average %s → %s.\n",
		rep.Command, rep.Settings.Rounds, rep.Settings.WarmupS, rep.Settings.DurationS, rep.Started.Format("2006-01-02 15:04"), rep.Seconds,
		loadHead(rep.Machine.LoadAvgStart), loadHead(rep.Machine.LoadAvgEnd))
	if len(rep.Scenarios) > 0 {
		var models []string
		for _, r := range rep.Scenarios[0].Results {
			if r.Contender.Model != "" {
				models = append(models, fmt.Sprintf("`%s`: %s", r.Contender.Name, r.Contender.Model))
			}
		}
		if len(models) > 0 {
			fmt.Fprintf(w, "\nServers: %s.\n", strings.Join(models, "; "))
		}
	}
	for _, t := range rep.tables() {
		fmt.Fprintf(w, "\n**%s**\n\n", t.caption)
		fmt.Fprintf(w, "| %s |\n", strings.Join(t.header, " | "))
		fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(t.header)))
		for _, row := range t.rows {
			fmt.Fprintf(w, "| %s |\n", strings.Join(escapeCells(row), " | "))
		}
	}
	if len(rep.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range rep.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
	return nil
}

func escapeCells(row []string) []string {
	out := make([]string, len(row))
	for i, c := range row {
		out[i] = strings.ReplaceAll(c, "|", "\\|")
	}
	return out
}

// loadHead is the 1-minute load average of a /proc/loadavg line.
func loadHead(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return "n/a"
}

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteFile writes the report to path with write (WriteJSON, WriteMarkdown, WriteSVG).
func (rep *Report) WriteFile(path string, write func(*Report, io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(rep, f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// audited reports whether some server of rep was audited.
func audited(rep *Report) bool {
	for _, sc := range rep.Scenarios {
		for _, r := range sc.Results {
			if r.Audit.Audited > 0 {
				return true
			}
		}
	}
	return false
}

// notes explains how to read the report: where things ran, how CPU was read, which orders are
// within noise and what failed.
func notes(rep *Report) []string {
	ns := []string{rep.Pinning + "."}
	for _, sk := range rep.Skipped {
		ns = append(ns, fmt.Sprintf("%s was not measured: %s.", sk.Name, strings.TrimSuffix(sk.Why, ".")))
	}
	if rep.Proto == "proxy" {
		ns = append(ns, "Proxies relay to an upstream echo server the bench starts: "+rep.Settings.Upstream+". Server CPU and memory are the proxy process's alone.")
	}
	hasIdle := slices.ContainsFunc(rep.Scenarios, func(sc Scenario) bool { return sc.Name == "idle" })
	if rep.Proto == "proxy" && hasIdle {
		ns = append(ns, "Memory per pair = (proxy VmRSS with N idle proxied pairs open − VmRSS with none) / N, measured on a proxy process of its own that has served nothing else, each pair after one echo round trip through it; each VmRSS is the least of 3 reads 100 ms apart after a 300 ms pause. A pair is two connections of the proxy's: from the client and to the upstream.")
	}
	if rep.Proto == "idle" {
		ns = append(ns,
			"Memory per connection = (server VmRSS with N connections open − VmRSS with none) / N; each VmRSS is the least of 3 reads 100 ms apart after a 300 ms pause, so a collection in flight does not count. The connections are held by the bench process, the server is its own child process; after the last count each is checked still open, and a server that closed one (an idle timeout shorter than the sweep) fails the round.",
			"Each cell is median (min–max) over the rounds; ×ref is the median of per-round ratios to the reference.")
	} else {
		ns = append(ns,
			fmt.Sprintf("Server CPU per operation = the server's CPU time over the measured window / the operations validated in it. CPU time is the sum of the scheduler's nanosecond run times of the server's threads (/proc/<pid>/task/*/schedstat), checked against utime+stime from /proc/<pid>/stat (%d ticks/s); where they disagree (a thread exited) the ticks are used.", rep.Machine.ClockTicks),
			"Each cell is median (min–max) over the rounds; ×ref is the median of per-round ratios to the reference, which shared each round's machine weather.",
			"CPUs busy srv/load: CPU seconds per second of the server and of the load generator during the window; a server near its CPU count is saturated, a load generator near its count is the bottleneck.")
	}
	if len(rep.Settings.Background) > 0 {
		ns = append(ns, fmt.Sprintf("Background: in each round one server process gets idle connections cumulatively up to %s, each after one round trip of the served protocol (http: one keep-alive GET /plaintext; the children run with --http-idle-timeout -1s so none is closed), and every scenario is measured at every count with the idle connections open. \"not held\" marks a count beyond what a server holds by design: its curve stops there.", joinInts(rep.Settings.Background)))
	}
	if audited(rep) {
		ns = append(ns, "Audit: the bench starts each reactor serve with --metrics-addr and, after each scenario, once the load generator has stopped and read every answer it was owed, reads the server's counters (/metrics: reactor_received_bytes_total, reactor_sent_bytes_total, and reactor_http_requests_total over every status or reactor_chat_lines_delivered_total). How far they grew must equal, exactly, the generator's own count of the bytes it wrote and read and of the http answers or chat lines it received, warm-up included (and the round trips of idle connections opened for the scenario). \"ok\" totals what was audited over the rounds; a difference is an audit-mismatch error, so the server's result is invalid.")
	}
	ns = append(ns, "Rank orders valid servers by CPU per operation (idle: memory per connection); `=` marks a server whose min–max range overlaps a neighbour's, so their order is within noise.")
	for _, sc := range rep.Scenarios {
		var tied []string
		for _, r := range sc.Results {
			if r.Tied {
				m := rankMetric(sc.Name, r)
				tied = append(tied, fmt.Sprintf("%s %s–%s", r.Contender.Name, trim3(float64(m.Min)), trim3(float64(m.Max))))
			}
		}
		if len(tied) > 0 {
			ns = append(ns, fmt.Sprintf("%s: ranges overlap, order within noise: %s.", sc.Name, strings.Join(tied, "; ")))
		}
		for _, r := range sc.Results {
			switch {
			case r.Unheld != "" && sc.Name == "idle":
				ns = append(ns, fmt.Sprintf("idle: %s did not hold every count, %s; its memory per connection is shown for the counts it held, and it is not ranked against servers that held them all.", r.Contender.Name, r.Unheld))
			case r.Unheld != "":
				ns = append(ns, fmt.Sprintf("%s with %d idle: %s not measured, by design: %s.", sc.Name, sc.Background, r.Contender.Name, r.Unheld))
			case r.Failed != "":
				ns = append(ns, fmt.Sprintf("%s: %s did not run: %s", sc.Name, r.Contender.Name, r.Failed))
			case r.Errors > 0:
				var sample []string
				for k, msg := range r.ErrorSamples {
					sample = append(sample, k+": "+msg)
				}
				sort.Strings(sample)
				verdict := "its numbers are not throughput"
				if sc.Name == "idle" {
					verdict = "it is not ranked"
				}
				ns = append(ns, fmt.Sprintf("%s: %s gave %s — %s. First of each: %s", sc.Name, r.Contender.Name,
					errorsHuman(r), verdict, strings.Join(sample, "; ")))
			}
		}
	}
	loadCPUs := float64(rep.Machine.CPUs)
	if rep.Settings.Pinned {
		loadCPUs--
	}
	for _, sc := range rep.Scenarios {
		if sc.Name == ScenarioRate || sc.Name == "idle" {
			continue
		}
		var busy []string
		for _, r := range sc.Results {
			if v := float64(r.LoadBusy.Median); r.Valid && v >= 0.9*loadCPUs {
				busy = append(busy, r.Contender.Name)
			}
		}
		if len(busy) > 0 {
			ns = append(ns, fmt.Sprintf("%s: the load generator kept its %g CPU(s) busy against %s, so their throughput may be the client's limit; CPU µs per %s is still the server's own cost.",
				sc.Name, loadCPUs, strings.Join(busy, ", "), sc.Op))
		}
	}
	for _, sc := range rep.Scenarios {
		var coarse []string
		for _, r := range sc.Results {
			if r.CoarseCPU {
				coarse = append(coarse, r.Contender.Name)
			}
		}
		if len(coarse) > 0 {
			ns = append(ns, fmt.Sprintf("%s: * marks CPU per %s from windows with under %d clock ticks of server CPU (%s): one tick of rounding is more than 5%% there.",
				sc.Name, sc.Op, coarseTicks, strings.Join(coarse, ", ")))
		}
	}
	for _, sc := range rep.Scenarios[:min(1, len(rep.Scenarios))] {
		for _, r := range sc.Results {
			if r.Contender.Kind == KindTarget {
				ns = append(ns, fmt.Sprintf("%s is an external target (%s): its CPU time and memory are not the benchmark's to read.", r.Contender.Name, r.Contender.Addr))
			}
		}
	}
	if rep.Proto == "http" || rep.Proto == "proxy" {
		for _, sc := range rep.Scenarios {
			if sc.Name == ScenarioRate {
				ns = append(ns, fmt.Sprintf("Rate latency runs from each %s's scheduled send time, so a server that falls behind is charged for the queue it causes (no coordinated omission).", map[string]string{"http": "request", "proxy": "message"}[rep.Proto]))
				break
			}
		}
	}
	return ns
}
