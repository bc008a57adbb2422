package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// The chart: one panel of horizontal bars per metric (median bar, min–max whisker, value), and
// for idle a line per server of memory per connection against the number of connections.
const (
	svgWidth    = 860
	svgLabelW   = 130 // server names
	svgPlotW    = 560
	svgRowH     = 22
	svgTitleH   = 26
	svgAxisH    = 22
	svgPanelGap = 18
	svgLineH    = 340 // height of the idle line chart's plot area
)

// palette colours servers consistently across panels; picked to stay apart for common
// colour-vision deficiencies.
var palette = []string{"#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb", "#000000"}

// panel is one metric across servers.
type panel struct {
	title string
	unit  func(float64) string
	pick  func(Result) (Range, bool) // the metric, and whether the result has it
	bytes bool                       // grid steps in binary multiples
	// thr marks a throughput panel, where an invalid server's answers are worth saying they
	// were not counted.
	thr bool
}

// WriteSVG draws the report's chart.
func (rep *Report) WriteSVG(w io.Writer) error {
	var b strings.Builder
	names := rep.Settings.Order
	if len(names) == 0 && len(rep.Scenarios) > 0 {
		for _, r := range rep.Scenarios[0].Results {
			names = append(names, r.Contender.Name)
		}
	}
	color := map[string]string{}
	for i, n := range names {
		color[n] = palette[i%len(palette)]
	}
	y := 0
	var body strings.Builder
	title := fmt.Sprintf("reactor bench %s — %d CPUs, %s", rep.Proto, rep.Machine.CPUs, pinWord(rep.Settings.Pinned))
	if tag := rep.quickTag(); tag != "" {
		title = fmt.Sprintf("reactor bench %s — %s — %d CPUs, %s", rep.Proto, tag, rep.Machine.CPUs, pinWord(rep.Settings.Pinned))
	}
	sub := fmt.Sprintf("bars: median of %d round(s); whiskers: min–max; invalid servers (wrong or missing answers) get no bar", rep.Settings.Rounds)
	if len(rep.Settings.Background) > 0 {
		sub = fmt.Sprintf("points: median of %d round(s); whiskers: min–max; a curve stops where its server could not hold the count", rep.Settings.Rounds)
	}
	fmt.Fprintf(&body, `<text x="10" y="22" class="h">%s</text>`+"\n", esc(title))
	fmt.Fprintf(&body, `<text x="10" y="40" class="a">%s</text>`+"\n", esc(sub))
	y = 52
	for _, sk := range rep.Skipped {
		fmt.Fprintf(&body, `<text x="10" y="%d" class="a">not measured: %s — %s</text>`+"\n", y+4, esc(sk.Name), esc(shorten(sk.Why, 110)))
		y += 16
	}
	if rep.Proto == "idle" && len(rep.Scenarios) > 0 {
		y = drawSweep(&body, rep.Scenarios[0], rep.Settings.IdleSweep, color, y)
	}
	if len(rep.Settings.Background) > 0 {
		// A background sweep is read as curves: bars for every count would bury them.
		y = drawBackground(&body, rep, color, y)
	}
	for _, sc := range rep.Scenarios {
		if len(rep.Settings.Background) > 0 {
			break
		}
		for _, p := range panelsFor(rep.Proto, sc) {
			y = drawPanel(&body, p, sc, color, y)
		}
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, y, svgWidth, y)
	b.WriteString(`<style>.h{font-size:15px;font-weight:bold}.t{font-size:13px;font-weight:bold}.a{fill:#555;font-size:10px}.g{stroke:#ddd}.bad{fill:#c00}</style>` + "\n")
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgWidth, y)
	b.WriteString(body.String())
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func pinWord(on bool) string {
	if on {
		return "server pinned to one CPU, load on the other"
	}
	return "not pinned"
}

// panelsFor lists the bar panels of a scenario.
func panelsFor(proto string, sc Scenario) []panel {
	thr := func(r Result) (Range, bool) { return r.Throughput, true }
	cpu := func(r Result) (Range, bool) { return r.CPUPerOp, true }
	lat := func(q string) func(Result) (Range, bool) {
		return func(r Result) (Range, bool) {
			if r.Latency == nil {
				return Range{}, false
			}
			v := r.Latency.P99
			if q == "p50" {
				v = r.Latency.P50
			}
			// Latency comes from merged histograms: one number, no range.
			return Range{Median: v, Min: v, Max: v, N: 1}, true
		}
	}
	name := sc.Name
	if proto != "http" && proto != "proxy" {
		name = proto
	}
	switch sc.Name {
	case "idle":
		per := map[string]string{"pair": "idle proxied pair"}[sc.Op]
		if per == "" {
			per = "connection"
		}
		return []panel{{title: "idle: memory per " + per + " at the largest count (less is better)", unit: bytesHuman,
			pick: func(r Result) (Range, bool) { return r.MemPerConn, true }, bytes: true}}
	case ScenarioRate:
		return []panel{
			{title: "rate: p99 latency at the fixed offered rate (less is better)", unit: usHuman, pick: lat("p99")},
			{title: "rate: p50 latency (less is better)", unit: usHuman, pick: lat("p50")},
		}
	}
	ps := []panel{
		{title: fmt.Sprintf("%s: %s (more is better)", name, sc.Unit), unit: siHuman, pick: thr, thr: true},
		{title: fmt.Sprintf("%s: server CPU µs per %s (less is better)", name, sc.Op), unit: trim3, pick: cpu},
	}
	if sc.Name == "chat" {
		ps = append(ps, panel{title: "chat: p99 send-to-receive latency (less is better)", unit: usHuman, pick: lat("p99")})
	}
	return ps
}

// drawPanel draws one metric's bars starting at y and returns the y below it.
func drawPanel(b *strings.Builder, p panel, sc Scenario, color map[string]string, y int) int {
	fmt.Fprintf(b, `<text x="10" y="%d" class="t">%s</text>`+"\n", y+16, esc(p.title))
	y += svgTitleH
	top := y
	hi := 0.0
	for _, r := range sc.Results {
		if m, ok := p.pick(r); ok && r.Valid && m.N > 0 && !math.IsNaN(float64(m.Max)) {
			hi = math.Max(hi, float64(m.Max))
		}
	}
	step := niceStep(hi)
	if p.bytes {
		step = byteStep(hi)
	}
	if hi <= 0 {
		hi, step = 1, 0.25
	}
	top10 := math.Ceil(hi/step) * step
	x0 := float64(svgLabelW)
	sx := func(v float64) float64 { return x0 + v/top10*svgPlotW }
	rows := len(sc.Results)
	for v := 0.0; v <= top10+step/2; v += step {
		x := sx(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" class="g"/>`+"\n", x, top, x, top+rows*svgRowH)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" class="a" text-anchor="middle">%s</text>`+"\n", x, top+rows*svgRowH+14, esc(p.unit(v)))
	}
	for i, r := range sc.Results {
		ry := top + i*svgRowH
		label := r.Contender.Name
		if r.Contender.Name == sc.Ref {
			label += " (ref)"
		}
		fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", svgLabelW-8, ry+15, esc(label))
		m, ok := p.pick(r)
		switch {
		case r.Failed != "":
			fmt.Fprintf(b, `<text x="%.1f" y="%d" class="bad">did not run</text>`+"\n", x0+4, ry+15)
			continue
		case r.Errors > 0:
			why := ""
			if p.thr {
				why = " — not counted as throughput"
			}
			fmt.Fprintf(b, `<text x="%.1f" y="%d" class="bad">INVALID: %d errors%s</text>`+"\n", x0+4, ry+15, r.Errors, why)
			continue
		case r.Unheld != "":
			fmt.Fprintf(b, `<text x="%.1f" y="%d" class="a">not held: %s</text>`+"\n", x0+4, ry+15, esc(shorten(r.Unheld, 90)))
			continue
		case !ok || m.N == 0 || math.IsNaN(float64(m.Median)):
			fmt.Fprintf(b, `<text x="%.1f" y="%d" class="a">not measured</text>`+"\n", x0+4, ry+15)
			continue
		}
		med, lo, up := float64(m.Median), float64(m.Min), float64(m.Max)
		fmt.Fprintf(b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", x0, ry+3, sx(med)-x0, svgRowH-6, color[r.Contender.Name])
		if up > lo {
			cy := ry + svgRowH/2
			fmt.Fprintf(b, `<path d="M%.1f %dH%.1fM%.1f %dV%dM%.1f %dV%d" stroke="#333" fill="none"/>`+"\n",
				sx(lo), cy, sx(up), sx(lo), cy-5, cy+5, sx(up), cy-5, cy+5)
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%d">%s</text>`+"\n", math.Max(sx(up), sx(med))+6, ry+15, esc(p.unit(med)))
	}
	return top + rows*svgRowH + svgAxisH + svgPanelGap
}

// drawable lists the points of an idle sweep worth a place on the curve: none for a server that
// failed or answered wrongly, and for one that did not hold every count, the counts it held.
func drawable(r Result) []SweepPoint {
	if r.Failed != "" || r.Errors > 0 {
		return nil
	}
	var pts []SweepPoint
	for _, p := range r.Sweep {
		if p.NotHeld == 0 && p.PerConn.N > 0 && !math.IsNaN(float64(p.PerConn.Median)) {
			pts = append(pts, p)
		}
	}
	return pts
}

// drawSweep draws the idle sweep: memory per connection against connections (log scale), a
// curve per server through the counts it held.
func drawSweep(b *strings.Builder, sc Scenario, counts []int, color map[string]string, y int) int {
	fmt.Fprintf(b, `<text x="10" y="%d" class="t">idle: memory per connection vs. open connections (log scale; less is better)</text>`+"\n", y+16)
	y += svgTitleH + 6
	top, left, width := y, 70.0, float64(svgWidth-70-170)
	ymax := 0.0
	for _, r := range sc.Results {
		for _, p := range drawable(r) {
			ymax = math.Max(ymax, float64(p.PerConn.Max))
		}
	}
	if len(counts) == 0 || ymax <= 0 {
		fmt.Fprintf(b, `<text x="%.0f" y="%d" class="a">no valid sweep to draw</text>`+"\n", left, top+20)
		return top + 40
	}
	// The axis spans the whole sweep, so a curve that stops early is seen to stop.
	lo, hi := float64(counts[0]), float64(counts[len(counts)-1])
	if hi == lo {
		lo = hi / 10
	}
	step := byteStep(ymax)
	ytop := math.Ceil(ymax/step) * step
	sx := func(n float64) float64 { return left + (math.Log(n)-math.Log(lo))/(math.Log(hi)-math.Log(lo))*width }
	sy := func(v float64) float64 { return float64(top) + svgLineH - v/ytop*svgLineH }
	for v := 0.0; v <= ytop+step/2; v += step {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="g"/>`+"\n", left, sy(v), left+width, sy(v))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" class="a" text-anchor="end">%s</text>`+"\n", left-4, sy(v)+3, esc(bytesHuman(v)))
	}
	for _, n := range counts {
		x := sx(float64(n))
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" class="g"/>`+"\n", x, top, x, sy(0))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" class="a" text-anchor="middle">%d</text>`+"\n", x, sy(0)+14, n)
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" class="a" text-anchor="middle">open connections</text>`+"\n", left+width/2, sy(0)+28)
	ly := top
	for _, r := range sc.Results {
		c := color[r.Contender.Name]
		legend := r.Contender.Name
		switch {
		case r.Failed != "" || r.Errors > 0:
			legend += " (invalid)"
		case r.Unheld != "":
			for _, p := range r.Sweep {
				if p.NotHeld > 0 {
					legend += fmt.Sprintf(" (not held from %d)", p.Conns)
					break
				}
			}
		}
		fmt.Fprintf(b, `<rect x="%.1f" y="%d" width="12" height="12" fill="%s"/><text x="%.1f" y="%d">%s</text>`+"\n",
			left+width+16, ly, c, left+width+32, ly+11, esc(legend))
		ly += 18
		var pts []string
		for _, p := range drawable(r) {
			v := float64(p.PerConn.Median)
			x := sx(float64(p.Conns))
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, sy(v)))
			if p.PerConn.N > 1 {
				fmt.Fprintf(b, `<path d="M%.1f %.1fV%.1f" stroke="%s" fill="none"/>`+"\n", x, sy(float64(p.PerConn.Min)), sy(float64(p.PerConn.Max)), c)
			}
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", x, sy(v), c)
		}
		if len(pts) > 1 {
			fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(pts, " "), c)
		}
	}
	return top + svgLineH + 40 + svgPanelGap
}

// drawBackground draws, for each scenario of a background sweep, server CPU per operation
// and (rate) p99 latency against the idle connections held open: a line per server through
// the medians, a whisker from min to max, and the curve ending where the server could not
// hold the count (said in its legend).
func drawBackground(b *strings.Builder, rep *Report, color map[string]string, y int) int {
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
		y = drawCurves(b, fmt.Sprintf("%s %s: server CPU µs per %s vs. idle connections held open (less is better)", rep.Proto, name, scs[0].Op),
			scs, color, trim3, func(r Result) Range { return r.CPUPerOp }, y)
		if name == ScenarioRate {
			y = drawCurves(b, fmt.Sprintf("%s %s: p99 latency vs. idle connections held open (less is better)", rep.Proto, name),
				scs, color, usHuman, func(r Result) Range { return r.P99Rounds }, y)
		}
	}
	return y
}

// drawCurves draws one metric of a background sweep; scs are the scenario at each count. The
// x axis is log(1+n), so 0 idle connections has a place on it.
func drawCurves(b *strings.Builder, title string, scs []Scenario, color map[string]string, unit func(float64) string, pick func(Result) Range, y int) int {
	fmt.Fprintf(b, `<text x="10" y="%d" class="t">%s</text>`+"\n", y+16, esc(title))
	y += svgTitleH + 6
	top, left, width := y, 70.0, float64(svgWidth-70-230)
	ymax := 0.0
	for _, sc := range scs {
		for _, r := range sc.Results {
			if v := float64(pick(r).Max); r.Valid && !math.IsNaN(v) {
				ymax = math.Max(ymax, v)
			}
		}
	}
	if ymax <= 0 {
		// The legend still says, server by server, why there is no curve.
		fmt.Fprintf(b, `<text x="%.0f" y="%d" class="a">nothing measured to draw</text>`+"\n", left+10, top+20)
		ymax = 1
	}
	step := niceStep(ymax)
	ytop := math.Ceil(ymax/step) * step
	hi := math.Log1p(float64(scs[len(scs)-1].Background))
	if hi <= 0 {
		hi = 1
	}
	sx := func(n int) float64 { return left + math.Log1p(float64(n))/hi*width }
	sy := func(v float64) float64 { return float64(top) + svgLineH - v/ytop*svgLineH }
	for v := 0.0; v <= ytop+step/2; v += step {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="g"/>`+"\n", left, sy(v), left+width, sy(v))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" class="a" text-anchor="end">%s</text>`+"\n", left-4, sy(v)+3, esc(unit(v)))
	}
	for _, sc := range scs {
		x := sx(sc.Background)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" class="g"/>`+"\n", x, top, x, sy(0))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" class="a" text-anchor="middle">%d</text>`+"\n", x, sy(0)+14, sc.Background)
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" class="a" text-anchor="middle">idle connections held open (log(1+n) scale)</text>`+"\n", left+width/2, sy(0)+28)
	ly := top
	for ci, r0 := range scs[0].Results {
		name := r0.Contender.Name
		c := color[name]
		var pts []string
		legend := name
		for _, sc := range scs {
			r := sc.Results[ci]
			m := pick(r)
			if !r.Valid || m.N == 0 || math.IsNaN(float64(m.Median)) {
				// The curve stops at the first count the server did not hold or got wrong.
				switch {
				case r.Unheld != "":
					legend += fmt.Sprintf(" (stops: %d not held)", sc.Background)
				case r.Failed != "" || r.Errors > 0:
					legend += fmt.Sprintf(" (stops: invalid at %d)", sc.Background)
				default:
					legend += fmt.Sprintf(" (stops: not measured at %d)", sc.Background)
				}
				break
			}
			x := sx(sc.Background)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, sy(float64(m.Median))))
			if m.Max > m.Min {
				fmt.Fprintf(b, `<path d="M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fH%.1f" stroke="%s" fill="none"/>`+"\n",
					x, sy(float64(m.Min)), sy(float64(m.Max)), x-3, sy(float64(m.Min)), x+3, x-3, sy(float64(m.Max)), x+3, c)
			}
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", x, sy(float64(m.Median)), c)
		}
		if len(pts) > 1 {
			fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(pts, " "), c)
		}
		fmt.Fprintf(b, `<rect x="%.1f" y="%d" width="12" height="12" fill="%s"/><text x="%.1f" y="%d">%s</text>`+"\n",
			left+width+16, ly, c, left+width+32, ly+11, esc(legend))
		ly += 18
	}
	return top + svgLineH + 40 + svgPanelGap
}

// niceStep picks a grid step of 1, 2 or 5 × 10^k that splits [0, hi] into about 4 parts.
func niceStep(hi float64) float64 {
	if hi <= 0 || math.IsNaN(hi) || math.IsInf(hi, 0) {
		return 1
	}
	raw := hi / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*mag {
			return m * mag
		}
	}
	return 10 * mag
}

// byteStep is niceStep in KiB or MiB, so byte axes read 4 KiB, 8 KiB… rather than 9.77 KiB.
func byteStep(hi float64) float64 {
	for _, unit := range []float64{1 << 20, 1 << 10} {
		if hi >= 2*unit {
			return niceStep(hi/unit) * unit
		}
	}
	return niceStep(hi)
}

// esc escapes text for XML.
func esc(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}
