package bench

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// Num is a float64 that is written to JSON as null when it is not a number (a metric the
// benchmark could not measure, such as the CPU time of an external target).
type Num float64

// MarshalJSON writes null for NaN and infinities.
func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', 6, 64), nil
}

// UnmarshalJSON reads null as NaN.
func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*n = Num(f)
	return nil
}

// Range is a metric's median and min–max over the rounds.
type Range struct {
	Median Num `json:"median"`
	Min    Num `json:"min"`
	Max    Num `json:"max"`
	// N is how many rounds measured it.
	N int `json:"n"`
}

func rangeOf(s Spread) Range {
	return Range{Median: Num(s.Median), Min: Num(s.Min), Max: Num(s.Max), N: s.N}
}

// spread converts back for comparisons.
func (r Range) spread() Spread {
	return Spread{Median: float64(r.Median), Min: float64(r.Min), Max: float64(r.Max), N: r.N}
}

// Report is everything one run measured; it is what --json writes.
type Report struct {
	Proto    string    `json:"proto"`
	Command  string    `json:"command"`
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Machine  Machine   `json:"machine"`
	Settings Settings  `json:"settings"`
	// Pinning says where the server and the load ran.
	Pinning string `json:"pinning"`
	// Primary is the scenario the summary and the ranking are about.
	Primary   string     `json:"primary"`
	Scenarios []Scenario `json:"scenarios"`
	// Skipped lists the contenders that were asked for and could not be measured here (a
	// tool that is not installed, a backend without what the protocol needs), with why.
	Skipped []Skipped `json:"skipped,omitempty"`
	Notes   []string  `json:"notes,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	Kernel    string `json:"kernel"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	GoVersion string `json:"go"`
	// LoadAvgStart and LoadAvgEnd are /proc/loadavg before and after: other work on the
	// machine shows there.
	LoadAvgStart string `json:"loadavg_start"`
	LoadAvgEnd   string `json:"loadavg_end"`
	// ClockTicks is the unit of the CPU times read from /proc/<pid>/stat, per second.
	ClockTicks int `json:"clock_ticks_per_s"`
}

// Skipped is a contender that was asked for and not measured, and why.
type Skipped struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	Why  string `json:"why"`
}

// Settings are the load parameters of the run.
type Settings struct {
	Rounds    int     `json:"rounds"`
	WarmupS   float64 `json:"warmup_s"`
	DurationS float64 `json:"duration_s"`
	Conns     int     `json:"conns,omitempty"`
	Depth     int     `json:"depth,omitempty"`
	Rate      int     `json:"rate,omitempty"`
	MsgSize   int     `json:"msg_size,omitempty"`
	BulkConns int     `json:"bulk_conns,omitempty"`
	Members   int     `json:"members,omitempty"`
	Senders   int     `json:"senders,omitempty"`
	Window    int     `json:"window,omitempty"`
	// Nodes and Bus: chat servers sharing the room, and the bus between them (chat).
	Nodes     int    `json:"nodes,omitempty"`
	Bus       string `json:"bus,omitempty"`
	Lines     int    `json:"lines,omitempty"`
	LineSize  int    `json:"line_size,omitempty"`
	Silent    int    `json:"silent,omitempty"`
	IdleSweep []int  `json:"idle_sweep,omitempty"`
	// Upstream describes the echo server the proxies relayed to (proxy).
	Upstream string `json:"upstream,omitempty"`
	// IdleProto is what the idle connections spoke: echo or http (proto idle only).
	IdleProto string `json:"idle_proto,omitempty"`
	// Background is the idle connection counts held open while measuring, when swept.
	Background []int    `json:"background_idle,omitempty"`
	Pinned     bool     `json:"pinned"`
	Loops      int      `json:"loops"`
	Loader     string   `json:"loader"`
	Order      []string `json:"order"`
	// Quick marks a --quick run: a tiny load, normally one round, so no ranges; a smoke
	// test, not a measurement.
	Quick bool `json:"quick"`
}

// Scenario is one kind of measurement (http pipelined, echo, idle…) across all contenders.
type Scenario struct {
	Name string `json:"name"`
	// Describe says what was measured, for table captions.
	Describe string `json:"describe"`
	// Unit is the throughput unit: "req/s", "msg/s", "lines/s"; empty for idle.
	Unit string `json:"unit"`
	// Op names one operation for the CPU column: "req", "msg", "line".
	Op string `json:"op"`
	// Background is how many idle connections were held open while it was measured.
	Background int `json:"background_idle"`
	// Ref is the contender ratios are taken against.
	Ref     string   `json:"ref"`
	Results []Result `json:"results"`
}

// Result is one contender in one scenario.
type Result struct {
	Contender Contender `json:"contender"`
	// Failed says why the contender could not be measured (it did not start, it crashed);
	// empty when it ran.
	Failed string `json:"failed,omitempty"`
	// Unheld says why the background count was beyond what the contender can hold by design
	// (select's descriptor limit), or for idle from which count of the sweep it held no more
	// connections (by design, or refused): nothing was measured there, and that is no failure.
	Unheld string `json:"unheld,omitempty"`
	// Valid is true when every round ran and no error was seen: only valid results are
	// ranked or used as a reference. A fast wrong answer is a failure.
	Valid bool `json:"valid"`

	Rounds []Sample `json:"rounds"`

	// Throughput is validated operations per second.
	Throughput Range `json:"throughput"`
	// MBps is payload megabytes (10^6) per second, for echo.
	MBps Range `json:"mb_per_s"`
	// CPUPerOp is the server's CPU microseconds per validated operation.
	CPUPerOp Range `json:"cpu_us_per_op"`
	// PeakRSS is the server's peak resident memory (VmHWM), bytes.
	PeakRSS Range `json:"peak_rss_bytes"`
	// ServerBusy and LoadBusy are the CPUs kept busy by the server and by the load generator
	// during the measured windows (see Sample).
	ServerBusy Range `json:"server_busy_cpus"`
	LoadBusy   Range `json:"load_busy_cpus"`
	// MemPerConn is the idle memory per connection at the largest count, bytes.
	MemPerConn Range `json:"mem_per_conn_bytes"`
	// Sweep is the idle memory per connection at each count.
	Sweep []SweepPoint `json:"sweep,omitempty"`
	// Latency is taken from the histograms of all rounds merged, microseconds.
	Latency *Latency `json:"latency_us,omitempty"`
	// P99Rounds is the p99 latency of each round, median and min–max, microseconds.
	P99Rounds Range `json:"p99_us_rounds"`

	// ThroughputRatio is the median over rounds of throughput / the reference's.
	ThroughputRatio Num `json:"throughput_ratio"`
	// CPURatio is the median over rounds of CPU per op / the reference's.
	CPURatio Num `json:"cpu_ratio"`
	// CoarseCPU is set when some window's server CPU time came from clock ticks alone and was
	// under coarseTicks of them, so the rounding of 10 ms ticks moves CPU per op by over 5%.
	CoarseCPU bool `json:"coarse_cpu,omitempty"`
	// Rank orders valid results by CPU per op (idle: memory per connection), 1 is best;
	// Tied marks a result whose min–max range overlaps a neighbour's: their order is noise.
	Rank int  `json:"rank,omitempty"`
	Tied bool `json:"tied,omitempty"`

	Errors       int64             `json:"errors"`
	ErrorKinds   map[string]int64  `json:"error_kinds,omitempty"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`

	// Audit sums the rounds' checks of the server's own counters against the bench's
	// account; a mismatch is also an error (audit-mismatch).
	Audit AuditSummary `json:"audit"`
}

// Sample is one round of one contender in one scenario.
type Sample struct {
	Round      int     `json:"round"`
	Ops        int64   `json:"ops"`
	Bytes      int64   `json:"bytes,omitempty"`
	Seconds    float64 `json:"seconds"`
	Throughput Num     `json:"throughput"`
	CPUSeconds Num     `json:"cpu_s"`
	// CPUExact is set when CPUSeconds is the scheduler's nanosecond figure, not clock ticks.
	CPUExact bool  `json:"cpu_exact"`
	CPUPerOp Num   `json:"cpu_us_per_op"`
	PeakRSS  int64 `json:"peak_rss_bytes,omitempty"`
	// ServerBusy and LoadBusy are the CPUs the server and the load generator kept busy during
	// the window (CPU seconds per second): a load generator near its CPU count means the
	// throughput is the client's limit, not the server's.
	ServerBusy Num   `json:"server_busy_cpus"`
	LoadBusy   Num   `json:"load_busy_cpus"`
	Errors     int64 `json:"errors"`
	// P50, P99 and P999 are this round's latency percentiles in microseconds, when measured.
	P50  Num `json:"p50_us,omitempty"`
	P99  Num `json:"p99_us,omitempty"`
	P999 Num `json:"p999_us,omitempty"`
	// Idle is the memory sweep of this round.
	Idle []IdlePoint `json:"idle,omitempty"`
	// ServerCPUs is the CPU list the server child was allowed to run on.
	ServerCPUs string `json:"server_cpus,omitempty"`
	Failed     string `json:"failed,omitempty"`
	// Unheld says why this round did not measure: the background count is beyond the
	// contender's design limit; for idle, why the sweep stopped before its last count (Idle
	// then holds the counts before).
	Unheld string `json:"unheld,omitempty"`
	// Audit is this round's check of the server's counters; nil when the round did not run.
	Audit *Audit `json:"audit,omitempty"`

	hist    *Histogram
	kinds   map[string]int64
	samples map[string]string
}

// SweepPoint is the idle memory per connection at one count, over the rounds.
type SweepPoint struct {
	Conns   int   `json:"conns"`
	PerConn Range `json:"bytes_per_conn"`
	// NotHeld is how many rounds' servers could not hold this count (see Result.Unheld);
	// a count not held in every round is shown as not held.
	NotHeld int `json:"not_held,omitempty"`
}

// Latency percentiles in microseconds, from all rounds' samples merged.
type Latency struct {
	Count uint64 `json:"count"`
	P50   Num    `json:"p50"`
	P99   Num    `json:"p99"`
	P999  Num    `json:"p999"`
	Max   Num    `json:"max"`
}

func latencyOf(h *Histogram) *Latency {
	if h == nil || h.Count() == 0 {
		return nil
	}
	us := func(d time.Duration) Num { return Num(float64(d) / 1e3) }
	return &Latency{Count: h.Count(), P50: us(h.Quantile(0.5)), P99: us(h.Quantile(0.99)),
		P999: us(h.Quantile(0.999)), Max: us(h.Quantile(1))}
}
