package bench

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Protocols the benchmark knows. "idle" holds connections open (echo, or http with
// Options.IdleProto) and measures memory; "proxy" measures TCP proxies relaying to an echo
// server the benchmark starts.
var Protos = []string{"http", "echo", "discard", "chat", "idle", "proxy"}

// IdleProtos are what an idle connection of --proto idle speaks: it makes one round trip of it
// and then rests.
var IdleProtos = []string{"echo", "http"}

// HTTP scenarios.
const (
	ScenarioPipelined = "pipelined"
	ScenarioKeepAlive = "keepalive"
	ScenarioRate      = "rate"
	// ScenarioClose dials a new connection for every request (Connection: close): the cost of
	// accepting and closing, which the other scenarios spread over many requests. Not in the
	// default set; selected by name.
	ScenarioClose = "close"
)

// Proxy scenarios (and ScenarioRate, shared with http): each relays to the round's upstream
// echo server.
const (
	// ScenarioRR is request/response round trips of MsgSize bytes over Conns connections,
	// closed loop: server CPU per message.
	ScenarioRR = "rr"
	// ScenarioBulk is BulkConns connections each streaming bytes through the proxy and reading
	// them back at once: MiB/s and server CPU per MiB.
	ScenarioBulk = "bulk"
	// ScenarioIdle is memory per idle proxied pair at each count of IdleSweep, measured on a
	// server process of its own.
	ScenarioIdle = "idle"
)

// ProxyScenarios lists the proxy scenarios, the default set, in the order they are reported.
var ProxyScenarios = []string{ScenarioRR, ScenarioRate, ScenarioBulk, ScenarioIdle}

// proxySweep is the default idle sweep of a proxy: each pair costs it two descriptors, so the
// largest count is lower than idle's.
var proxySweep = []int{100, 1000, 3000, 6000}

// maxProxyIdle is the most idle pairs a proxy is asked to hold: two descriptors each, under the
// 20,000 or so one process may have.
const maxProxyIdle = 9000

// Loaders for HTTP.
const (
	LoaderGo  = "go"
	LoaderWrk = "wrk"
)

// Options is one benchmark run. Zero fields take the defaults of Defaults; Quick shrinks them
// to a run of seconds.
type Options struct {
	// Proto is http, echo, chat, idle or proxy.
	Proto string
	// Contenders are the servers to measure, in the order each round runs them.
	Contenders []Contender
	// Self is the binary started as `Self serve …` and `Self native …` for each contender.
	Self string
	// Command is the command line, recorded in the report.
	Command string

	Rounds   int
	Warmup   time.Duration
	Duration time.Duration

	// Conns is the number of load connections (http, echo).
	Conns int
	// Depth is the pipelining depth of the http pipelined scenario.
	Depth int
	// Scenarios selects the http scenarios (pipelined, keepalive, rate, close) or the proxy
	// ones (rr, rate, bulk, idle).
	Scenarios []string
	// Rate is the offered load of the http rate scenario, requests per second.
	Rate int
	// MsgSize is the echo message size in bytes, and the proxy's round-trip message size.
	MsgSize int
	// BulkConns is the number of streaming connections of the proxy bulk scenario.
	BulkConns int
	// UpstreamBackend is the backend of the proxy scenarios' upstream echo server, started as
	// `Self serve --backend UpstreamBackend --proto echo` once per round; empty means std.
	UpstreamBackend string
	// Members and Senders size the chat room; a sender waits while more than
	// Window×(Members−1) deliveries of its lines are outstanding (Window 0: it never waits).
	Members, Senders, Window int
	// Nodes is how many chat servers of the contender share the room over Bus, members
	// spread across them in turn; 0 or 1 is one server and no bus.
	Nodes int
	// Bus is what the nodes share the room over: "embedded" (a NATS server in each node,
	// clustered) or nats://host:port URLs, passed to serve's --bus.
	Bus string
	// Lines, when > 0, is how many lines each chat sender sends in all (a fixed fan-out, not
	// a stream for the measured window); LineSize pads each line to about that many bytes
	// as delivered (0: unpadded); Silent members (the last of the room, never senders) join
	// and never read, so the server must hold or drop what is broadcast to them.
	Lines, LineSize, Silent int
	// IdleSweep is the list of idle connection counts (proxy: idle proxied pairs).
	IdleSweep []int
	// IdleProto is what the idle connections of proto idle speak: echo (one echo round trip
	// each; the zero value) or http (one keep-alive GET /plaintext each, the server's idle
	// timeout left at its default of 60 s, so every connection rests with its timer armed).
	IdleProto string
	// Background lists idle connection counts, ascending, to hold open while the scenarios
	// are measured (http, echo): each round's server gets them cumulatively, each after one
	// round trip of the served protocol, and every scenario is measured at every count. Empty
	// means no background: one measurement per scenario.
	Background []int

	// Pin puts the server on one CPU and the load on the others.
	Pin bool
	// Loops is the server's loop count when not pinned (pinned: 1).
	Loops int
	// Ref names the reference contender for ratios; empty means the fastest.
	Ref string
	// Loader is "go" (built in) or "wrk" (http closed-loop scenarios through wrk).
	Loader string
	// Quick is a run of seconds with tiny load, for CI.
	Quick bool
}

// Defaults returns the options of a default run of proto, sized to finish in about two minutes
// on a 2-core machine with five backends. Quick shrinks them to seconds.
func Defaults(proto string, quick bool) Options {
	o := Options{
		Proto:     proto,
		Rounds:    5,
		Warmup:    300 * time.Millisecond,
		Duration:  2 * time.Second,
		Conns:     64,
		Depth:     16,
		Scenarios: []string{ScenarioPipelined, ScenarioKeepAlive, ScenarioRate},
		Rate:      5000,
		MsgSize:   512,
		Members:   50,
		Senders:   5,
		Window:    16,
		IdleSweep: []int{100, 500, 1000, 3000, 6000, 9000},
		Pin:       runtime.NumCPU() <= 4,
		Loops:     runtime.NumCPU(),
		Loader:    LoaderGo,
	}
	switch proto {
	case "http":
		// Three scenarios per round share the two minutes.
		o.Duration = time.Second
	case "discard":
		// A few streams saturate a server that only reads.
		o.Conns = 4
	case "proxy":
		o.Duration = time.Second
		o.Scenarios = slices.Clone(ProxyScenarios)
		o.MsgSize = 1024
		o.BulkConns = 4
		o.IdleSweep = slices.Clone(proxySweep)
	}
	if quick {
		o.Quick = true
		o.Rounds = 1
		o.Warmup = 100 * time.Millisecond
		o.Duration = 300 * time.Millisecond
		o.Conns = 8
		o.Depth = 4
		o.Rate = 400
		o.MsgSize = 64
		o.Members = 8
		o.Senders = 2
		o.Window = 4
		o.IdleSweep = []int{10, 50}
		if proto == "proxy" {
			o.MsgSize = 1024 // the size the scenario is about; cheap enough
			o.BulkConns = 2
		}
		if proto == "discard" {
			o.Conns = 2
		}
	}
	return o
}

// check reports what is wrong with o.
func (o *Options) check() error {
	switch o.Proto {
	case "http", "echo", "discard", "chat", "idle", "proxy":
	default:
		return fmt.Errorf("bench: unknown proto %q (want http, echo, discard, chat, idle or proxy)", o.Proto)
	}
	if len(o.Contenders) == 0 {
		return fmt.Errorf("bench: nothing to measure: no backend available and no target given")
	}
	seen := map[string]bool{}
	for _, c := range o.Contenders {
		if seen[c.Name] {
			return fmt.Errorf("bench: %q named twice", c.Name)
		}
		seen[c.Name] = true
		if (c.Kind == KindBackend || c.Kind == KindNative) && c.Build == "" && o.Self == "" {
			return fmt.Errorf("bench: no binary to start %s with", c.Name)
		}
		if c.Kind == KindTool && o.Proto != "proxy" {
			return fmt.Errorf("bench: %s is a proxy; it is measured with --proto proxy only", c.Name)
		}
		if c.Kind == KindFloor && !floorServes(o.serverProto()) {
			return fmt.Errorf("bench: %s serves http and echo only, not %s", c.Name, o.Proto)
		}
	}
	if o.Ref != "" && !seen[o.Ref] {
		return fmt.Errorf("bench: reference %q is not among the contenders", o.Ref)
	}
	if o.Rounds < 1 || o.Duration <= 0 || o.Warmup < 0 {
		return fmt.Errorf("bench: rounds must be ≥ 1 and duration > 0")
	}
	if o.Conns < 1 || o.Conns > 10000 {
		return fmt.Errorf("bench: conns %d out of range 1..10000", o.Conns)
	}
	if o.Depth < 1 || o.Depth > 1024 {
		return fmt.Errorf("bench: depth %d out of range 1..1024", o.Depth)
	}
	if o.MsgSize < 1 || o.MsgSize > 1<<20 {
		return fmt.Errorf("bench: message size %d out of range 1..1048576", o.MsgSize)
	}
	if o.Proto == "chat" && (o.Members < 2 || o.Senders < 1 || o.Senders > o.Members || o.Window < 0) {
		return fmt.Errorf("bench: chat needs members ≥ 2, 1 ≤ senders ≤ members, window ≥ 0")
	}
	if o.Proto == "chat" && (o.Lines < 0 || o.LineSize < 0 || o.LineSize > 4096 || o.Silent < 0 || o.Senders+o.Silent > o.Members) {
		return fmt.Errorf("bench: chat needs lines ≥ 0, 0 ≤ line size ≤ 4096, silent ≥ 0 and senders + silent ≤ members")
	}
	if (o.Nodes > 1 || o.Bus != "") && o.Proto != "chat" {
		return fmt.Errorf("bench: --nodes and --bus are for --proto chat")
	}
	if o.Nodes > 1 && o.Bus == "" {
		return fmt.Errorf("bench: %d nodes share the room over a bus: give --bus embedded or --bus nats://host:port", o.Nodes)
	}
	if o.Nodes < 0 || o.Nodes > 16 {
		return fmt.Errorf("bench: nodes %d out of range 1..16", o.Nodes)
	}
	if o.Proto == "http" {
		if len(o.Scenarios) == 0 {
			return fmt.Errorf("bench: no http scenario selected")
		}
		for _, s := range o.Scenarios {
			switch s {
			case ScenarioPipelined, ScenarioKeepAlive, ScenarioClose:
			case ScenarioRate:
				if o.Rate < 1 {
					return fmt.Errorf("bench: rate must be ≥ 1 request/s")
				}
			default:
				return fmt.Errorf("bench: unknown http scenario %q (want pipelined, keepalive, rate, close)", s)
			}
		}
	}
	switch o.IdleProto {
	case "", "echo":
	case "http":
		if o.Proto != "idle" {
			return fmt.Errorf("bench: --idle-proto is for --proto idle, not %s", o.Proto)
		}
	default:
		return fmt.Errorf("bench: unknown idle proto %q (want echo or http)", o.IdleProto)
	}
	if o.Proto == "proxy" {
		if o.Self == "" {
			return fmt.Errorf("bench: no binary to start the upstream echo server with")
		}
		if len(o.Scenarios) == 0 {
			return fmt.Errorf("bench: no proxy scenario selected")
		}
		for _, s := range o.Scenarios {
			if !slices.Contains(ProxyScenarios, s) {
				return fmt.Errorf("bench: unknown proxy scenario %q (want %s)", s, strings.Join(ProxyScenarios, ", "))
			}
		}
		if slices.Contains(o.Scenarios, ScenarioRate) && o.Rate < 1 {
			return fmt.Errorf("bench: rate must be ≥ 1 message/s")
		}
		if slices.Contains(o.Scenarios, ScenarioBulk) && (o.BulkConns < 1 || o.BulkConns > 64) {
			return fmt.Errorf("bench: bulk connections %d out of range 1..64", o.BulkConns)
		}
	}
	if o.Proto == "idle" || o.Proto == "proxy" && slices.Contains(o.Scenarios, ScenarioIdle) {
		most := 15000
		if o.Proto == "proxy" {
			most = maxProxyIdle
		}
		if len(o.IdleSweep) == 0 {
			return fmt.Errorf("bench: empty idle sweep")
		}
		for i, n := range o.IdleSweep {
			if n < 1 || n > most {
				return fmt.Errorf("bench: idle count %d out of range 1..%d (descriptors are capped near 20,000 per process; a proxy holds two per pair)", n, most)
			}
			if i > 0 && n <= o.IdleSweep[i-1] {
				return fmt.Errorf("bench: idle counts must ascend (they are opened cumulatively): %d after %d", n, o.IdleSweep[i-1])
			}
		}
	}
	if len(o.Background) > 0 {
		if o.Proto != "http" && o.Proto != "echo" {
			return fmt.Errorf("bench: --background-idle is for http and echo, not %s", o.Proto)
		}
		for i, n := range o.Background {
			if n < 0 || n > 15000 {
				return fmt.Errorf("bench: background idle count %d out of range 0..15000 (descriptors are capped near 20,000 per process)", n)
			}
			if i > 0 && n <= o.Background[i-1] {
				return fmt.Errorf("bench: background idle counts must ascend (they are opened cumulatively): %d after %d", n, o.Background[i-1])
			}
		}
	}
	switch o.Loader {
	case LoaderGo, "":
	case LoaderWrk:
		if o.Proto != "http" {
			return fmt.Errorf("bench: --loader wrk is for http only")
		}
	default:
		return fmt.Errorf("bench: unknown loader %q (want go or wrk)", o.Loader)
	}
	return nil
}

// scenarios lists what one round measures for o.Proto, in order.
func (o *Options) scenarios() []string {
	switch o.Proto {
	case "http", "proxy":
		return o.Scenarios
	default:
		return []string{o.Proto}
	}
}

// cell is one measurement of a round: a scenario with a number of idle connections held open.
type cell struct {
	name string
	bg   int
}

// cells lists what one round measures, in order: every scenario at the first background
// count, then every scenario at the next, so the idle connections are only ever added to.
func (o *Options) cells() []cell {
	counts := o.Background
	if len(counts) == 0 {
		counts = []int{0}
	}
	var cs []cell
	for _, n := range counts {
		for _, s := range o.scenarios() {
			cs = append(cs, cell{name: s, bg: n})
		}
	}
	return cs
}

// sessions groups the cells of one round by server process, in the order they run: each
// group gets a fresh server. A proxy's idle sweep comes first and has a process of its own, so
// that its memory is measured from a process that has served nothing yet, and the closing of
// thousands of pairs does not fall into the next scenario's window.
func (o *Options) sessions() [][]int {
	var idle, rest []int
	for i, cl := range o.cells() {
		if o.Proto == "proxy" && cl.name == ScenarioIdle {
			idle = append(idle, i)
		} else {
			rest = append(rest, i)
		}
	}
	var ss [][]int
	for _, s := range [][]int{idle, rest} {
		if len(s) > 0 {
			ss = append(ss, s)
		}
	}
	return ss
}

// idleProto is what the idle connections of proto idle speak.
func (o *Options) idleProto() string {
	if o.IdleProto == "" {
		return "echo"
	}
	return o.IdleProto
}

// serverProto is what the server children serve: for proto idle, what its connections speak.
func (o *Options) serverProto() string {
	if o.Proto == "idle" {
		return o.idleProto()
	}
	return o.Proto
}

// trip is the round trip an idle connection makes before it rests, in the protocol the server
// children serve.
func (o *Options) trip() roundTrip {
	if o.serverProto() == "http" {
		return httpTrip
	}
	return echoTrip
}
