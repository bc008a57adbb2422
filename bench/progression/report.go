//go:build linux

package main

import (
	"fmt"
	"slices"
	"strings"
)

// spread formats values measured once per round as "median (min–max)", or the value alone
// when there was one round or they agree.
func spread(vals []float64, format string) string {
	if len(vals) == 0 {
		return "–"
	}
	v := slices.Clone(vals)
	slices.Sort(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	m, lo, hi := fmt.Sprintf(format, med), fmt.Sprintf(format, v[0]), fmt.Sprintf(format, v[len(v)-1])
	if lo == hi {
		return m
	}
	return fmt.Sprintf("%s (%s–%s)", m, lo, hi)
}

// column collects field f of row i of each round's table.
func column[R any](rounds []round, table func(round) []R, i int, f func(R) float64) []float64 {
	var out []float64
	for _, rd := range rounds {
		if t := table(rd); i < len(t) {
			out = append(out, f(t[i]))
		}
	}
	return out
}

func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	rs := r.Rounds
	if len(rs) == 0 {
		return ""
	}
	p("# Progression models, measured\n\n")
	p("Machine: %s. Load average after the run: %s; it took %.0f s. Servers pinned to CPU 0 with GOMAXPROCS=1 and one loop, the clients on the other CPUs. %d rounds, every measurement once per round; each cell is median (min–max) over the rounds.\n\n", r.Machine, r.LoadAfter, r.Seconds, len(rs))

	p("## Memory per idle connection, threads, context switches and CPU per request\n\n")
	p("%d idle echo connections, each after one round trip; memory per connection = (PSS of the server's whole process tree with them − with none) / %d. PSS counts a page shared by several processes in shares, so the children of one program are not charged its code %d times; RSS, which does, is alongside. Then %d of the connections make %d round trips of 64 bytes each, one in flight per connection: context switches (voluntary + involuntary, summed over every thread of every process of the server, from /proc/PID/task/TID/status) and CPU (schedstat) per round trip.\n\n", r.Idle, r.Idle, r.Idle, r.Active, r.Trips)
	p("| backend | processes | OS threads | PSS per idle conn (KiB) | RSS per idle conn (KiB) | context switches per request | of which voluntary | CPU µs per request |\n|---|---|---|---|---|---|---|---|\n")
	models := func(rd round) []modelRow { return rd.Models }
	for i, m := range rs[0].Models {
		p("| %s | %s | %s | %s | %s | %s | %s | %s |\n", m.Backend,
			spread(column(rs, models, i, func(m modelRow) float64 { return float64(m.Processes) }), "%.0f"),
			spread(column(rs, models, i, func(m modelRow) float64 { return float64(m.Threads) }), "%.0f"),
			spread(column(rs, models, i, func(m modelRow) float64 { return m.PssPerConnKiB }), "%.1f"),
			spread(column(rs, models, i, func(m modelRow) float64 { return m.RssPerConnKiB }), "%.1f"),
			spread(column(rs, models, i, func(m modelRow) float64 { return m.CtxPerReq }), "%.2f"),
			spread(column(rs, models, i, func(m modelRow) float64 { return m.VolPerReq }), "%.2f"),
			spread(column(rs, models, i, func(m modelRow) float64 { return m.CPUPerReqUs }), "%.1f"))
	}

	p("\n## Connect latency: a process started per connection, against processes started ahead\n\n")
	p("%d connections one after another, each timed from connect to its first byte echoed back (µs).\n\n", r.Connects)
	p("| server | p50 | p90 | p99 | max |\n|---|---|---|---|---|\n")
	conn := func(rd round) []connectRow { return rd.Connect }
	for i, c := range rs[0].Connect {
		p("| %s | %s | %s | %s | %s |\n", c.Server,
			spread(column(rs, conn, i, func(c connectRow) float64 { return c.P50us }), "%.0f"),
			spread(column(rs, conn, i, func(c connectRow) float64 { return c.P90us }), "%.0f"),
			spread(column(rs, conn, i, func(c connectRow) float64 { return c.P99us }), "%.0f"),
			spread(column(rs, conn, i, func(c connectRow) float64 { return c.MaxUs }), "%.0f"))
	}

	p("\n## Idle CPU: busy polling against epoll\n\nA server with no connection at all, after 0.5 s of start-up, over a 2 s window: the CPU time its threads got, and the time they were runnable (on a CPU, or ready and waiting for one: what a loop would take on a machine of its own).\n\n| backend | CPU seconds per second | runnable seconds per second |\n|---|---|---|\n")
	idle := func(rd round) []idleCPURow { return rd.IdleCPU }
	for i, c := range rs[0].IdleCPU {
		p("| %s | %s | %s |\n", c.Backend,
			spread(column(rs, idle, i, func(c idleCPURow) float64 { return c.CPUPerSec }), "%.3f"),
			spread(column(rs, idle, i, func(c idleCPURow) float64 { return c.RunnablePerSec }), "%.3f"))
	}

	p("\n## epoll: level- against edge-triggered\n\n%d connections × %d round trips of 64 bytes; then one connection streaming 64 MiB through the echo (written and read back at once) while another makes small round trips on the same loop.\n\n", r.Active, r.Trips)
	p("| mode | CPU µs per request | context switches per request | CPU µs per MiB streamed | small round trip p99 beside the stream (µs) |\n|---|---|---|---|---|\n")
	edge := func(rd round) []edgeRow { return rd.Edge }
	for i, e := range rs[0].Edge {
		p("| %s | %s | %s | %s | %s |\n", e.Mode,
			spread(column(rs, edge, i, func(e edgeRow) float64 { return e.CPUPerReqUs }), "%.1f"),
			spread(column(rs, edge, i, func(e edgeRow) float64 { return e.CtxPerReq }), "%.2f"),
			spread(column(rs, edge, i, func(e edgeRow) float64 { return e.BulkCPUPerMiBUs }), "%.0f"),
			spread(column(rs, edge, i, func(e edgeRow) float64 { return e.SmallP99Us }), "%.0f"))
	}

	var first, also, old, fresh []float64
	for _, rd := range rs {
		s := rd.Select
		first = append(first, float64(s.FirstRefused))
		also = append(also, float64(s.AlsoRefused))
		old = append(old, bool01(s.OldStillServed))
		fresh = append(fresh, bool01(s.NewServedAfter))
	}
	p("\n## select's cap\n\nConnections to `--backend select`, one after another, each with an echo round trip, until one is refused (closed at once). First refused: **connection %s**. Of the %d attempts right after it, refused: %s. Connections already open still served (1 = yes): %s. After closing 10 of them, a new connection served: %s.\n",
		spread(first, "%.0f"), rs[0].Select.Attempts, spread(also, "%.0f"), spread(old, "%.0f"), spread(fresh, "%.0f"))

	var lines, bytes, ms, all, p50, p99 []float64
	for _, rd := range rs {
		c := rd.ChatDrop
		lines = append(lines, float64(c.LinesUntilDrop))
		bytes = append(bytes, float64(c.BytesUntilDrop)/1024)
		ms = append(ms, c.MsUntilDrop)
		all = append(all, bool01(c.ReaderGotAll))
		p50 = append(p50, c.ReaderP50us)
		p99 = append(p99, c.ReaderP99us)
	}
	c := rs[0].ChatDrop
	p("\n## Chat: the member that does not read\n\nA room of three on epoll with `--max-outbound %d`: a sender, a reader, and a member that never reads (its receive buffer set to 4 KiB). Lines of %d bytes as delivered, each sent once the reader has had the one before. The member was dropped after **%s lines (%s KiB) and %s ms**; the room was told %q. The reader got every line (1 = yes): %s; its round trip p50 %s µs, p99 %s µs.\n",
		c.MaxOutbound, c.LineBytes, spread(lines, "%.0f"), spread(bytes, "%.0f"), spread(ms, "%.0f"), c.Announcement, spread(all, "%.0f"), spread(p50, "%.0f"), spread(p99, "%.0f"))
	return b.String()
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
