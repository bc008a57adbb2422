package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"sort"
	"strings"
	"time"
)

// Run measures every contender of o in interleaved rounds (A B C, A B C, …): in each round
// each contender gets a fresh server process, a warm-up, and one measured window per scenario.
// Progress lines go to progress. It returns the report even when it stops early (ctx ended):
// the error then says why and the report holds the rounds that finished.
func Run(ctx context.Context, o Options, progress io.Writer) (*Report, error) {
	if o.Loader == "" {
		o.Loader = LoaderGo
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	run, skipped := prepare(o.Contenders)
	if len(run) == 0 {
		var why []string
		for _, sk := range skipped {
			why = append(why, sk.Name+": "+sk.Why)
		}
		return nil, fmt.Errorf("bench: nothing to measure: every contender was skipped (%s)", strings.Join(why, "; "))
	}
	o.Contenders = run
	var floorBin string
	if slices.ContainsFunc(run, func(c Contender) bool { return c.Kind == KindFloor }) {
		bin, cleanup, err := buildFloor()
		if err != nil {
			return nil, fmt.Errorf("bench: %s: %w", FloorName, err)
		}
		defer cleanup()
		floorBin = bin
	}
	if o.Loader == LoaderWrk {
		if err := wrkAvailable(); err != nil {
			return nil, err
		}
	}
	pin := setupPin(o.Pin)
	defer pin.release()
	loops := o.Loops
	if pin.on || loops < 1 {
		loops = 1
	}
	rep := &Report{
		Proto:   o.Proto,
		Command: o.Command,
		Started: time.Now().UTC().Truncate(time.Second),
		Machine: describeMachine(),
		Settings: Settings{
			Rounds: o.Rounds, WarmupS: o.Warmup.Seconds(), DurationS: o.Duration.Seconds(),
			Quick: o.Quick, Pinned: pin.on, Loops: loops, Loader: o.Loader,
		},
		Pinning: pin.desc,
		Skipped: skipped,
	}
	switch o.Proto {
	case "http":
		rep.Settings.Conns, rep.Settings.Depth, rep.Settings.Rate = o.Conns, o.Depth, o.Rate
	case "echo":
		rep.Settings.Conns, rep.Settings.MsgSize = o.Conns, o.MsgSize
	case "discard":
		rep.Settings.Conns = o.Conns
	case "chat":
		rep.Settings.Members, rep.Settings.Senders, rep.Settings.Window = o.Members, o.Senders, o.Window
		if o.Nodes > 1 {
			rep.Settings.Nodes, rep.Settings.Bus = o.Nodes, o.Bus
		}
		rep.Settings.Lines, rep.Settings.LineSize, rep.Settings.Silent = o.Lines, o.LineSize, o.Silent
	case "idle":
		rep.Settings.IdleSweep, rep.Settings.IdleProto = o.IdleSweep, o.idleProto()
	case "proxy":
		rep.Settings.Conns, rep.Settings.MsgSize = o.Conns, o.MsgSize
		if slices.Contains(o.Scenarios, ScenarioRate) {
			rep.Settings.Rate = o.Rate
		}
		if slices.Contains(o.Scenarios, ScenarioBulk) {
			rep.Settings.BulkConns = o.BulkConns
		}
		if slices.Contains(o.Scenarios, ScenarioIdle) {
			rep.Settings.IdleSweep = o.IdleSweep
		}
		rep.Settings.Upstream = upstreamDesc(o, pin, loops)
	}
	for _, c := range o.Contenders {
		rep.Settings.Order = append(rep.Settings.Order, c.Name)
	}
	spec := childSpec{self: o.Self, proto: o.serverProto(), loops: loops, pin: pin, noMetrics: map[string]string{}, floor: floorBin}
	// Each reactor binary is asked once whether its serve keeps counters the audit can read:
	// another build (--with) may be older than --metrics-addr.
	asked := map[string]bool{}
	for _, c := range o.Contenders {
		bin := o.Self
		if c.Build != "" {
			bin = c.Binary
		}
		if c.Kind != KindBackend || c.NoMetrics || asked[bin] {
			continue
		}
		asked[bin] = true
		if why := probeMetrics(ctx, bin, pin.childEnv()); why != "" {
			spec.noMetrics[bin] = why
		}
	}
	if len(o.Background) > 0 {
		rep.Settings.Background = o.Background
		if o.Proto == "http" {
			// Idle keep-alive connections must outlive the whole cell, not the default 60 s.
			spec.serveArgs = []string{"--http-idle-timeout", "-1s"}
		}
	}
	cells := o.cells()
	// samples[k][c] lists contender c's rounds in cell k.
	samples := make([][][]Sample, len(cells))
	for k := range samples {
		samples[k] = make([][]Sample, len(o.Contenders))
	}
	failed := make([]string, len(o.Contenders))
	p := newProgress(progress, o.Rounds*len(o.Contenders))
	for _, sk := range skipped {
		p.note(fmt.Sprintf("%s skipped: %s", sk.Name, sk.Why))
	}
	began := time.Now()
	var runErr error
	var up *server // the round's upstream echo server (proxy)
	defer func() {
		if up != nil {
			up.stop()
		}
	}()
rounds:
	for round := 1; round <= o.Rounds; round++ {
		if o.Proto == "proxy" {
			if up != nil {
				up.stop()
			}
			var err error
			if up, err = startUpstream(ctx, spec, o.UpstreamBackend); err != nil {
				up = nil
				runErr = err
				if ctx.Err() != nil {
					runErr = ctx.Err()
				}
				break rounds
			}
			spec.upstream = up.addr
		}
		for ci, c := range o.Contenders {
			if ctx.Err() != nil {
				runErr = ctx.Err()
				break rounds
			}
			if failed[ci] != "" {
				// A contender that could not start once is broken; it is not retried.
				for k := range cells {
					samples[k][ci] = append(samples[k][ci], failedSample(round, failed[ci]))
				}
				p.step(round, o.Rounds, c.Name, "skipped: "+failed[ci])
				continue
			}
			p.begin(round, o.Rounds, c.Name)
			got, err := runCell(ctx, &o, c, spec, round)
			if up != nil && !up.alive() {
				// What failed in this cell, and would in every later one, is not the proxy's:
				// the round is not recorded for it, and the run stops.
				runErr = fmt.Errorf("bench: the upstream echo server exited during round %d, measuring %s: %s", round, c.Name, up.log.tail())
				break rounds
			}
			if err != nil {
				if ctx.Err() != nil {
					runErr = ctx.Err()
					break rounds
				}
				failed[ci] = err.Error()
				for k := range cells {
					samples[k][ci] = append(samples[k][ci], failedSample(round, failed[ci]))
				}
				p.step(round, o.Rounds, c.Name, "FAILED: "+err.Error())
				continue
			}
			for k := range cells {
				samples[k][ci] = append(samples[k][ci], got[k])
			}
			p.step(round, o.Rounds, c.Name, cellSummary(&o, cells, got))
		}
	}
	p.done()
	rep.Seconds = time.Since(began).Seconds()
	rep.Machine.LoadAvgEnd = firstLine("/proc/loadavg")
	for k, cl := range cells {
		sc := summarise(&o, cl.name, o.Contenders, samples[k])
		sc.Background = cl.bg
		if len(o.Background) > 0 {
			sc.Describe += fmt.Sprintf("; %d idle connections held open", cl.bg)
		}
		rep.Scenarios = append(rep.Scenarios, sc)
	}
	rep.Primary = cells[0].name
	rep.Notes = notes(rep)
	return rep, runErr
}

// prepare splits the contenders into those to run and those skipped, with the reason (a tool
// that is not installed, or one the caller marked), and describes the tools that run.
func prepare(cs []Contender) (run []Contender, skipped []Skipped) {
	for _, c := range cs {
		if c.Kind == KindTool && c.Skip == "" {
			c.Skip = haproxyMissing()
			if c.Model == "" && c.Skip == "" {
				c.Model = haproxyModel()
			}
		}
		if c.Kind == KindFloor && c.Skip == "" {
			c.Skip = floorMissing()
		}
		if c.Skip != "" {
			skipped = append(skipped, Skipped{Name: c.Name, Kind: c.Kind, Why: c.Skip})
			continue
		}
		run = append(run, c)
	}
	return run, skipped
}

var nan = Num(math.NaN())

// coarseTicks is the least server CPU time per window, in clock ticks, for which one tick of
// rounding stays within 5% of CPU per op.
const coarseTicks = 20

func failedSample(round int, why string) Sample {
	return Sample{Round: round, Failed: why, Throughput: nan, CPUSeconds: nan, CPUPerOp: nan,
		P50: nan, P99: nan, P999: nan, ServerBusy: nan, LoadBusy: nan}
}

// fdReserve is how many descriptors a server needs besides its connections (standard streams,
// listener, poller, wake-up), when deciding whether a count fits under a contender's MaxConns.
const fdReserve = 16

// runCell runs one contender for one round: for each session of cells (see
// Options.sessions) start its server, measure every cell of it (every scenario at every
// background count, opening the idle connections as it goes), stop it. An error means a server
// could not be started; problems during the load are in the samples.
func runCell(ctx context.Context, o *Options, c Contender, spec childSpec, round int) ([]Sample, error) {
	out := make([]Sample, len(o.cells()))
	for _, session := range o.sessions() {
		if err := runSession(ctx, o, c, spec, round, session, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// runSession measures the cells whose indices are in session on one server process, writing
// their samples into out.
func runSession(ctx context.Context, o *Options, c Contender, spec childSpec, round int, session []int, out []Sample) error {
	srv, err := startNodes(ctx, o, c, spec)
	if err != nil {
		return err
	}
	defer srv.stop()
	for _, n := range srv.nodes {
		defer n.stop()
	}
	trip := o.trip()
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	cells := o.cells()
	// stop, once set, is why no later cell of the round is measured: the count is beyond the
	// contender's design limit (unheld) or its idle connections were refused (failed).
	var stop Sample
	for _, i := range session {
		cl := cells[i]
		if stop.Unheld != "" || stop.Failed != "" {
			out[i] = stop
			continue
		}
		if cl.bg > len(idle) {
			if c.MaxConns > 0 && cl.bg+o.Conns+fdReserve > c.MaxConns {
				stop = failedSample(round, "")
				stop.Unheld = fmt.Sprintf("from %d idle up: %d idle + %d load connections exceed the %d %s can hold", cl.bg, cl.bg, o.Conns, c.MaxConns, c.Name)
				out[i] = stop
				continue
			}
			var led ledger
			more, err := openIdle(ctx, srv.addr, cl.bg-len(idle), trip, &led)
			srv.audit.absorb(led)
			idle = append(idle, more...)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				stop = failedSample(round, fmt.Sprintf("could not hold %d idle connections: it held %d, then one was refused or answered wrongly (%v)", cl.bg, len(idle), err))
				out[i] = stop
				continue
			}
		}
		out[i] = measureScenario(ctx, o, c, cl.name, srv, round)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if srv.pid > 0 {
		if _, peak, err := memory(srv.pid); err == nil {
			for _, i := range session {
				out[i].PeakRSS = peak
			}
		}
	}
	return nil
}

// measureScenario runs one scenario against a running server.
func measureScenario(ctx context.Context, o *Options, c Contender, name string, srv *server, round int) Sample {
	smp := Sample{Round: round, ServerCPUs: srv.cpus, Throughput: nan, CPUSeconds: nan, CPUPerOp: nan,
		P50: nan, P99: nan, P999: nan, ServerBusy: nan, LoadBusy: nan}
	if !srv.alive() {
		smp.Failed = "server exited: " + srv.log.tail()
		return smp
	}
	errs := new(tally)
	var w window
	var err error
	var audit *Audit
	for _, n := range srv.nodes {
		if !n.alive() {
			smp.Failed = "chat node exited: " + n.log.tail()
			return smp
		}
	}
	switch {
	case name == "idle":
		fds := 1
		if o.Proto == "proxy" {
			fds = 2 // the client's connection and the one to the upstream
		}
		var led ledger
		smp.Idle, smp.Unheld, err = idleSweep(ctx, srv.addr, srv.pid, c.MaxConns, o.IdleSweep, fds, o.trip(), errs, &led)
		srv.audit.absorb(led)
		if ctx.Err() == nil {
			audit = srv.audit.check(ctx, func() Traffic { return Traffic{} })
		}
	case o.Loader == LoaderWrk && (name == ScenarioPipelined || name == ScenarioKeepAlive):
		depth := o.Depth
		if name == ScenarioKeepAlive {
			depth = 1
		}
		w, err = runWrk(ctx, srv.addr, srv.pid, o.Conns, depth, o.Warmup, o.Duration, errs)
		srv.audit.stop(whyAfterWrk)
		audit = &Audit{Status: AuditNone, Why: whyWrk}
	default:
		addr := srv.addr
		for _, n := range srv.nodes {
			addr += "," + n.addr
		}
		g := newGenerator(o, name, addr, errs)
		quiet := func() { audit = srv.audit.check(ctx, g.traffic) }
		if o.Proto == "chat" && o.Silent > 0 {
			quiet = func() { audit = srv.audit.stop(whySilent) }
		}
		w, err = runWindow(ctx, g, srv.pid, o.Warmup, o.Duration, quiet)
		if _, ok := g.(drainer); ok {
			// The room emptied after the audit; what the server said to the members on
			// their way out was never read.
			srv.audit.stop(whyAfterChat)
		}
	}
	if audit == nil {
		audit = srv.audit.stop("the load was cut short, so what reached the server is unknown")
	}
	smp.Audit = audit
	if audit.Status == AuditMismatch {
		errs.add(errAudit, 1, "the server's counters differ from the load generator's: "+strings.Join(audit.Mismatches, "; "))
	}
	smp.Errors = errs.total()
	smp.kinds, smp.samples = errs.byKind()
	if err != nil && ctx.Err() == nil {
		smp.Failed = err.Error()
	}
	if !srv.alive() {
		smp.Failed = "server exited during the run: " + srv.log.tail()
	}
	if name == "idle" {
		return smp
	}
	smp.Ops, smp.Bytes, smp.Seconds = w.Ops, w.Bytes, w.Seconds
	ops := float64(w.Ops)
	if o.Proto == "proxy" && name == ScenarioBulk || o.Proto == "discard" {
		// The operation is a MiB streamed (through and back, or into the server): exact from
		// the bytes.
		ops = float64(w.Bytes) / mebibyte
	}
	if w.Seconds > 0 {
		smp.Throughput = Num(ops / w.Seconds)
	}
	smp.CPUSeconds, smp.CPUExact = Num(w.CPU), w.CPUExact
	if w.Seconds > 0 {
		smp.ServerBusy = Num(w.CPU / w.Seconds)
		smp.LoadBusy = Num(w.LoadCPU / w.Seconds)
	}
	// Zero CPU time from ticks means "under one tick", not "free": leave it unmeasured.
	if ops > 0 && !math.IsNaN(w.CPU) && (w.CPUExact || w.CPU > 0) {
		smp.CPUPerOp = Num(w.CPU / ops * 1e6)
	}
	if len(srv.nodes) > 0 {
		// The CPU time read is the first node's alone, a share of the work, not its cost.
		smp.CPUSeconds, smp.CPUPerOp, smp.ServerBusy, smp.CPUExact = nan, nan, nan, false
	}
	if w.Latency != nil && w.Latency.Count() > 0 {
		smp.hist = w.Latency
		smp.P50 = Num(float64(w.Latency.Quantile(0.5)) / 1e3)
		smp.P99 = Num(float64(w.Latency.Quantile(0.99)) / 1e3)
		smp.P999 = Num(float64(w.Latency.Quantile(0.999)) / 1e3)
	}
	return smp
}

// newGenerator builds the built-in load generator of a scenario.
func newGenerator(o *Options, name, addr string, errs *tally) generator {
	if o.Proto == "proxy" {
		switch name {
		case ScenarioRR:
			return newEchoLoad(addr, o.Conns, o.MsgSize, 0, errs)
		case ScenarioRate:
			return newEchoLoad(addr, o.Conns, o.MsgSize, o.Rate, errs)
		default: // bulk
			return newBulkLoad(addr, o.BulkConns, errs)
		}
	}
	switch name {
	case ScenarioPipelined:
		return newHTTPLoad(addr, o.Conns, o.Depth, 0, errs)
	case ScenarioKeepAlive:
		return newHTTPLoad(addr, o.Conns, 1, 0, errs)
	case ScenarioRate:
		return newHTTPLoad(addr, o.Conns, 1, o.Rate, errs)
	case ScenarioClose:
		return newCloseLoad(addr, o.Conns, errs)
	case "echo":
		return newEchoLoad(addr, o.Conns, o.MsgSize, 0, errs)
	case "discard":
		return newDiscardLoad(addr, o.Conns, errs)
	default: // chat
		l := newChatLoad(addr, o.Members, o.Senders, o.Window, errs)
		l.lineLimit, l.lineSize, l.silent = int64(o.Lines), o.LineSize, o.Silent
		return l
	}
}

// describe says what a scenario measures, its throughput unit and its operation's name.
func describe(o *Options, name string) (desc, unit, op string) {
	if o.Proto == "proxy" {
		switch name {
		case ScenarioRR:
			return fmt.Sprintf("%d-byte request/response round trips through the proxy to the echo server, closed loop, %d connections, one message in flight each, every byte checked", o.MsgSize, o.Conns), "msg/s", "msg"
		case ScenarioRate:
			return fmt.Sprintf("%d-byte round trips through the proxy at a fixed offered rate of %d msg/s over %d connections; latency from each message's due time", o.MsgSize, o.Rate, o.Conns), "msg/s", "msg"
		case ScenarioBulk:
			return fmt.Sprintf("%d connections each streaming through the proxy and reading the stream back at once (at most %d KiB ahead), every byte checked, half-closed at the end; a MiB is one MiB sent and received back", o.BulkConns, bulkWindow>>10), "MiB/s", "MiB"
		default: // idle
			return fmt.Sprintf("idle proxied pairs (client to proxy, proxy to upstream) after one echo round trip each, counts %s", joinInts(o.IdleSweep)), "", "pair"
		}
	}
	switch name {
	case ScenarioPipelined:
		return fmt.Sprintf("HTTP GET /plaintext, closed loop, %d connections, pipelined %d deep%s", o.Conns, o.Depth, loaderNote(o)), "req/s", "req"
	case ScenarioKeepAlive:
		return fmt.Sprintf("HTTP GET /plaintext, closed loop, %d keep-alive connections, one request at a time%s", o.Conns, loaderNote(o)), "req/s", "req"
	case ScenarioRate:
		return fmt.Sprintf("HTTP GET /plaintext at a fixed offered rate of %d req/s over %d connections; latency from each request's due time", o.Rate, o.Conns), "req/s", "req"
	case ScenarioClose:
		// wrk would reconnect after each answer too, but it checks neither the body nor the
		// end of stream, so the built-in generator drives this scenario whatever --loader says.
		return fmt.Sprintf("HTTP GET /plaintext with Connection: close, a new connection per request, %d clients each dialling one at a time and reading to the server's end of stream", o.Conns), "conn/s", "conn"
	case "echo":
		return fmt.Sprintf("echo, %d connections, %d-byte messages, one in flight per connection, every byte checked", o.Conns, o.MsgSize), "msg/s", "msg"
	case "discard":
		return fmt.Sprintf("discard (RFC 863), %d connections each writing %d KiB at a time as fast as the server reads, nothing read back until the end, when each half-closes and must get the end of the stream with no bytes; a MiB is one MiB sent", o.Conns, bulkChunk>>10), "MiB/s", "MiB"
	case "chat":
		ahead := fmt.Sprintf("each at most %d lines ahead of the room", o.Window)
		if o.Window == 0 {
			ahead = "as fast as the server takes them"
		}
		if o.Lines > 0 {
			ahead = fmt.Sprintf("%d lines each, %s", o.Lines, ahead)
		}
		if o.LineSize > 0 {
			ahead += fmt.Sprintf(", padded to %d bytes", o.LineSize)
		}
		where := ""
		if o.Nodes > 1 {
			where = fmt.Sprintf(" spread over %d servers sharing the room over a NATS bus (%s), members joined to them in turn", o.Nodes, o.Bus)
		}
		silent := ""
		if o.Silent > 0 {
			silent = fmt.Sprintf(", %d silent (never reading)", o.Silent)
		}
		return fmt.Sprintf("chat room of %d members%s, %d sending (%s)%s; every reading member checks every line", o.Members, where, o.Senders, ahead, silent), "lines/s", "line"
	default:
		if o.idleProto() == "http" {
			return fmt.Sprintf("idle HTTP keep-alive connections after one GET /plaintext each, the server's idle timeout at its default (60 s for reactor's http1), counts %s", joinInts(o.IdleSweep)), "", "conn"
		}
		return fmt.Sprintf("idle echo connections after one round trip each, counts %s", joinInts(o.IdleSweep)), "", "conn"
	}
}

// loaderNote names wrk in the captions of the scenarios it drives.
func loaderNote(o *Options) string {
	if o.Loader == LoaderWrk {
		return " (load: wrk, status codes checked, bodies not)"
	}
	return ""
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// summarise turns the rounds of every contender in one scenario into medians, ranges, ratios
// against the reference and a ranking.
func summarise(o *Options, name string, cs []Contender, samples [][]Sample) Scenario {
	sc := Scenario{Name: name}
	sc.Describe, sc.Unit, sc.Op = describe(o, name)
	thr := make([][]float64, len(cs))
	cpu := make([][]float64, len(cs))
	mem := make([][]float64, len(cs))
	for ci, c := range cs {
		r := Result{Contender: c, Rounds: samples[ci], ThroughputRatio: nan, CPURatio: nan}
		var peak, mbps, srvBusy, loadBusy, p99 []float64
		hist := new(Histogram)
		byCount := map[int][]float64{}
		for _, s := range samples[ci] {
			if s.Unheld != "" && r.Unheld == "" {
				r.Unheld = s.Unheld
			}
			if s.Failed != "" && r.Failed == "" {
				r.Failed = s.Failed
			}
			r.Errors += s.Errors
			for k, n := range s.kinds {
				if r.ErrorKinds == nil {
					r.ErrorKinds, r.ErrorSamples = map[string]int64{}, map[string]string{}
				}
				r.ErrorKinds[k] += n
				if _, ok := r.ErrorSamples[k]; !ok && s.samples[k] != "" {
					r.ErrorSamples[k] = s.samples[k]
				}
			}
			bad := s.Failed != "" || s.Unheld != ""
			p99 = append(p99, orNaN(float64(s.P99), bad))
			if c := float64(s.CPUSeconds); !bad && !s.CPUExact && !math.IsNaN(c) && c*clockTicks < coarseTicks {
				r.CoarseCPU = true
			}
			thr[ci] = append(thr[ci], orNaN(float64(s.Throughput), bad))
			cpu[ci] = append(cpu[ci], orNaN(float64(s.CPUPerOp), bad))
			srvBusy = append(srvBusy, orNaN(float64(s.ServerBusy), bad))
			loadBusy = append(loadBusy, orNaN(float64(s.LoadBusy), bad))
			if s.PeakRSS > 0 {
				peak = append(peak, float64(s.PeakRSS))
			}
			if s.Seconds > 0 && s.Bytes > 0 {
				mbps = append(mbps, orNaN(float64(s.Bytes)/s.Seconds/1e6, bad))
			}
			if s.hist != nil {
				hist.Merge(s.hist)
			}
			last := math.NaN()
			for _, pt := range s.Idle {
				byCount[pt.Conns] = append(byCount[pt.Conns], float64(pt.PerConn))
				last = float64(pt.PerConn)
			}
			if name == "idle" {
				mem[ci] = append(mem[ci], orNaN(last, bad))
			}
		}
		r.Throughput = rangeOf(spreadOf(thr[ci]))
		r.CPUPerOp = rangeOf(spreadOf(cpu[ci]))
		r.PeakRSS = rangeOf(spreadOf(peak))
		r.ServerBusy = rangeOf(spreadOf(srvBusy))
		r.LoadBusy = rangeOf(spreadOf(loadBusy))
		r.MBps = rangeOf(spreadOf(mbps))
		r.MemPerConn = rangeOf(spreadOf(mem[ci]))
		r.Latency = latencyOf(hist)
		r.Audit = summariseAudits(samples[ci])
		r.P99Rounds = rangeOf(spreadOf(p99))
		if name == "idle" {
			r.Sweep = sweepOf(o.IdleSweep, samples[ci], byCount)
		}
		measured := r.Throughput.N
		if name == "idle" {
			measured = r.MemPerConn.N
		}
		r.Valid = r.Failed == "" && r.Unheld == "" && r.Errors == 0 && measured == len(samples[ci]) && measured > 0
		sc.Results = append(sc.Results, r)
	}
	// The reference: the one asked for when it is valid, else the best valid one.
	ref := -1
	for i, r := range sc.Results {
		if r.Valid && r.Contender.Name == o.Ref {
			ref = i
		}
	}
	// At a fixed rate every sound server achieves the same throughput, so "the fastest" means
	// nothing there: the rate scenario has a reference only when one is asked for.
	if ref < 0 && name != ScenarioRate {
		for i, r := range sc.Results {
			if !r.Valid {
				continue
			}
			if ref < 0 || better(name, r, sc.Results[ref]) {
				ref = i
			}
		}
	}
	if ref >= 0 {
		sc.Ref = sc.Results[ref].Contender.Name
		for i := range sc.Results {
			if name == "idle" {
				sc.Results[i].CPURatio = Num(medianRatio(mem[i], mem[ref]))
				continue
			}
			sc.Results[i].ThroughputRatio = Num(medianRatio(thr[i], thr[ref]))
			sc.Results[i].CPURatio = Num(medianRatio(cpu[i], cpu[ref]))
		}
	}
	// At a fixed low rate, CPU per request is mostly idle wake-ups and too few ticks to
	// order servers by; the rate scenario is about latency, so it is not ranked.
	if name != ScenarioRate {
		rank(name, sc.Results)
	}
	return sc
}

// sweepOf summarises the idle sweep of one contender: a point for every count some round held
// or did not hold, in the sweep's order. byCount lists the rounds' memory per connection at
// each count held.
func sweepOf(counts []int, rounds []Sample, byCount map[int][]float64) []SweepPoint {
	var pts []SweepPoint
	for _, n := range counts {
		p := SweepPoint{Conns: n, PerConn: rangeOf(spreadOf(byCount[n]))}
		for _, s := range rounds {
			// A round that stopped for a count it could not hold has no point from there on.
			if s.Unheld != "" && !slices.ContainsFunc(s.Idle, func(pt IdlePoint) bool { return pt.Conns == n }) {
				p.NotHeld++
			}
		}
		if len(byCount[n]) > 0 || p.NotHeld > 0 {
			pts = append(pts, p)
		}
	}
	return pts
}

func orNaN(v float64, bad bool) float64 {
	if bad {
		return math.NaN()
	}
	return v
}

// better reports whether a is the better reference than b: more throughput, or for idle less
// memory per connection.
func better(name string, a, b Result) bool {
	if name == "idle" {
		return float64(a.MemPerConn.Median) < float64(b.MemPerConn.Median)
	}
	return float64(a.Throughput.Median) > float64(b.Throughput.Median)
}

// rankMetric is what a scenario ranks by: the server's cost per operation (it drifts much less
// than throughput on a noisy machine), or memory per connection for idle.
func rankMetric(name string, r Result) Range {
	if name == "idle" {
		return r.MemPerConn
	}
	return r.CPUPerOp
}

// rank numbers the valid results with a known metric from the cheapest up and marks those
// whose min–max range overlaps a neighbour's as tied.
func rank(name string, rs []Result) {
	var idx []int
	for i, r := range rs {
		if m := rankMetric(name, r); r.Valid && m.N > 0 && !math.IsNaN(float64(m.Median)) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool {
		return rankMetric(name, rs[idx[a]]).Median < rankMetric(name, rs[idx[b]]).Median
	})
	for k, i := range idx {
		rs[i].Rank = k + 1
		m := rankMetric(name, rs[i]).spread()
		if k > 0 && overlaps(m, rankMetric(name, rs[idx[k-1]]).spread()) ||
			k+1 < len(idx) && overlaps(m, rankMetric(name, rs[idx[k+1]]).spread()) {
			rs[i].Tied = true
		}
	}
}

// cellSummary is the progress line's account of one round of one contender.
func cellSummary(o *Options, cells []cell, got []Sample) string {
	var parts []string
	for i, cl := range cells {
		s, name := got[i], cl.name
		var b strings.Builder
		b.WriteString(name)
		if len(cells) > 1 && (cl.bg > 0 || cells[len(cells)-1].bg > 0) {
			fmt.Fprintf(&b, "@%d", cl.bg)
		}
		b.WriteString(" ")
		switch {
		case s.Failed != "":
			b.WriteString("FAILED")
		case name == "idle":
			if n := len(s.Idle); n > 0 {
				_, _, op := describe(o, name)
				fmt.Fprintf(&b, "%s/%s at %d", bytesHuman(float64(s.Idle[n-1].PerConn)), op, s.Idle[n-1].Conns)
			}
			if s.Unheld != "" {
				b.WriteString(" not held " + s.Unheld)
			}
		case s.Unheld != "":
			b.WriteString("not held")
		default:
			b.WriteString(siHuman(float64(s.Throughput)))
			if c := float64(s.CPUPerOp); !math.IsNaN(c) {
				fmt.Fprintf(&b, " (%.2f µs cpu)", c)
			}
		}
		if s.Errors > 0 {
			fmt.Fprintf(&b, " %d ERRORS", s.Errors)
		}
		parts = append(parts, b.String())
	}
	return strings.Join(parts, ", ")
}

// startNodes starts c's server and, for a chat room over a bus (Options.Nodes > 1), the other
// servers sharing it, in srv.nodes. With an embedded bus the first server's NATS server takes
// routes on a free port and the others route to it; a nats:// bus is passed to every server.
func startNodes(ctx context.Context, o *Options, c Contender, spec childSpec) (*server, error) {
	if o.Nodes <= 1 || c.Kind != KindBackend {
		return startServer(ctx, c, spec)
	}
	busArgs := func(first bool, route string) []string {
		switch {
		case o.Bus != "embedded":
			return []string{"--bus", o.Bus}
		case first:
			return []string{"--bus", "embedded", "--bus-listen", route}
		}
		return []string{"--bus", "embedded", "--bus-routes", route}
	}
	route, err := freePort()
	if err != nil {
		return nil, err
	}
	first := spec
	first.serveArgs = append(slices.Clone(spec.serveArgs), busArgs(true, route)...)
	srv, err := startServer(ctx, c, first)
	if err != nil {
		return nil, err
	}
	srv.audit.stop(whyBus)
	for range o.Nodes - 1 {
		other := spec
		other.serveArgs = append(slices.Clone(spec.serveArgs), busArgs(false, route)...)
		n, err := startServer(ctx, c, other)
		if err != nil {
			srv.stop()
			for _, n := range srv.nodes {
				n.stop()
			}
			return nil, fmt.Errorf("chat node %d: %w", len(srv.nodes)+2, err)
		}
		n.audit.stop(whyBus)
		srv.nodes = append(srv.nodes, n)
	}
	return srv, nil
}
