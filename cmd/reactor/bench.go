package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/reactorlab/reactor/adapters"
	"github.com/reactorlab/reactor/adapters/process"
	"github.com/reactorlab/reactor/bench"
)

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

const benchUsage = `Usage: reactor bench [--proto http|echo|discard|chat|idle|proxy] [--backends a,b,…] [flags]

Runs each backend as its own child process (this binary, serve mode) and loads it with a
built-in Go load generator, in interleaved rounds (A B C, A B C, …). Prints a table per
scenario on stdout (progress on stderr) and writes PROTO.json, PROTO.md and PROTO.svg into
--out, by default a new directory under the system's temporary directory; the last line on
stderr says where. Every answer is validated: a server that answers wrongly or not at all is
reported with its errors, never as throughput.

  http   closed loop pipelined (--depth) and keep-alive over --conns connections, and a fixed
         offered --rate with p50/p99/p99.9 latency; --scenarios close (not in the default set)
         dials a new connection per request (Connection: close) from --conns clients, reads
         to the server's end of stream, and reports server CPU µs per connection
  echo   --conns connections echoing --size-byte messages, every byte checked
  discard
         --conns (4) connections streaming into serve --proto discard as fast as it reads,
         nothing read until each half-closes at the end and must get no bytes: MiB/s and
         CPU µs per MiB
  chat   --members in a room, --senders of them sending; every line checked, latency. With
         --nodes N --bus embedded (or --bus nats://host:port), N servers of each backend
         share the room over NATS and the members are spread across them (docs/chat-bus.md).
         A fixed fan-out: --lines N each, --line-size bytes a line, --window 0 (senders never
         wait), --silent members that never read (peak RSS is then the figure to read)
  idle   memory per idle connection at each count of --sweep; from the first count a backend
         cannot hold (select: 1024 descriptors), or at which it refuses connections, the
         sweep stops for it and reports those counts as not held. --idle-proto echo (the
         default) makes each connection do one echo round trip before it rests; --idle-proto
         http serves http with its idle timeout at the default (60 s), and each connection
         makes one keep-alive GET /plaintext (answer validated) and rests with its idle timer
         armed. A server that closes an idle connection before the sweep ends fails it.
  proxy  TCP proxies (serve --proto proxy) relaying to an echo server the bench starts once a
         round, in a process of its own on the load CPUs, the same for every contender:
         rr    --size-byte (1024) round trips over --conns connections: CPU µs per message
         rate  the same at a fixed --rate, with p50/p99/p99.9 latency
         bulk  --bulk-conns connections streaming through and back at once, half-closed at
               the end: MiB/s and CPU µs per MiB
         idle  memory per idle proxied pair at each count of --sweep (100 → 6,000), on a
               proxy process of its own
         --scenarios picks some; every byte is checked. By default the contenders are every
         backend, native-iocopy (a goroutine-pair io.Copy proxy on the standard library) and
         haproxy (from the OS packages: bash scripts/install-bench-tools.sh); one that cannot
         run here — haproxy not installed, a backend that cannot dial — is skipped, and the
         output says so and why

--background-idle 0,100,1000 measures http or echo again with that many idle connections
held open (each after one round trip of the protocol), cumulatively in one server per round:
cost per request as idle connections grow. A count beyond what a backend holds by design
(select: 1024 descriptors) is reported as not held and its curve stops.

Backends: default all that run here (reactor backends). Native baselines are named
native-gnet, native-netpoll, native-evio, native-nbio (http, echo), native-nethttp and native-fasthttp
(http: net/http and github.com/valyala/fasthttp, what a Go user would pick instead) and
native-iocopy (proxy), and run only when named (proxy: by default too). c-floor is the C
floor: a tiny epoll server in C (http: counts the \r\n\r\n of each request head and writes a
canned answer; echo: writes back), compiled for the run with the system's cc ($CC), skipped
with a message where there is none. refs stands for the reference servers of the protocol —
http: c-floor, native-gnet, native-nethttp, native-fasthttp; echo: c-floor, native-gnet;
proxy: native-iocopy, haproxy — so --backends all,refs ranks every backend against them.
--target name=host:port adds a server the bench did not start (its CPU and memory are then
unknown).

--with NAME=PATH adds, for every backend and native baseline in --backends, the same server
run from the reactor binary at PATH (another build), named NAME:backend (before:epoll) and
measured in the same rounds, right after this build's: new against old in one run, e.g.
--with before=/path/to/old/reactor --ref before:epoll. PATH must accept the serve and native
flags this bench passes (--backend or --lib, --proto, --addr, --loops; for http with
--background-idle also --http-idle-timeout; --idle-proto http passes --proto http and
nothing more, so any build's server keeps its default idle timeout; for proxy --upstream).
--metrics-addr is passed only if its serve --help offers it; an older build runs without, not
audited. Proxies are not audited: their counters include the upstream's side.

Audit: each backend is started with --metrics-addr 127.0.0.1:0, and after each scenario,
once the load generator has stopped and read every answer it was owed, the bench reads the
server's own counters (/metrics) and checks that the bytes it received and sent, the http
requests it answered (any status) and the chat lines it delivered grew by exactly what the
load generator counted, warm-up included. The audit column says ok with the totals,
MISMATCH with both figures (an error, like a wrong answer: the result is invalid), or not
audited and why: native baselines, --target servers, older builds, scenarios driven by
--loader wrk and the rest of their round, the rest of a round once an idle connection failed
midway through its round trip. Counting has a cost: --metrics off starts backends without counters (none audited),
--metrics both measures each backend with and, right after it, without (NAME-nometrics).

--tls measures every backend in --backends serving over TLS (serve --tls-cert/--tls-key, a
certificate made for the run) beside net/http with crypto/tls (nethttp-tls), for http and echo:
server CPU µs per full handshake and handshakes/s (--conns clients), CPU per keep-alive
GET /plaintext and per --size-byte echo round trip, memory per idle TLS connection (the
largest --sweep count, each after one request), and the loop stall: p50/p99 of GET /plaintext
at --rate over established connections to a one-loop server, quiet and during a handshake
storm. nginx (--backends …,nginx, or refs; in the default run too) adds nginx from the OS
packages (bash scripts/install-bench-tools.sh), the TLS terminator people deploy, as one
process with one worker, session cache and tickets off, the same certificate; it serves http
only, so its echo figure is not measured (—); where it is not installed it is skipped, and
the output says so and why. Writes tls.md and tls.json into --out.

Exit status: 0 when every server ran without an error, 1 when one failed, answered wrongly
or failed its audit (the report still says how), 2 for a usage error.

Flags:
`

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reactor bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	d := bench.Defaults("http", false)
	proto := fs.String("proto", "http", "what to measure: "+strings.Join(bench.Protos, ", "))
	quick := fs.Bool("quick", false, "a run of seconds with tiny load (1 round), for CI and smoke tests")
	backendList := fs.String("backends", "", "comma-separated backends; all means every backend available here, refs the reference servers of --proto (c-floor, native baselines; default: all, or none when --target is given)")
	var targets stringList
	fs.Var(&targets, "target", "an external server to measure as `name=host:port` (repeatable)")
	var withs stringList
	fs.Var(&withs, "with", "also measure every --backends entry as served by another reactor build: `NAME=PATH` of its binary, reported as NAME:backend (repeatable)")
	rounds := fs.Int("rounds", d.Rounds, "interleaved rounds")
	warmup := fs.Duration("warmup", d.Warmup, "warm-up before each measured window")
	duration := fs.Duration("duration", 0, "measured window per scenario (default 1s for http, which measures three scenarios; 2s otherwise)")
	conns := fs.Int("conns", d.Conns, "load connections (http, echo)")
	depth := fs.Int("depth", d.Depth, "http pipelining depth")
	scenarios := fs.String("scenarios", "", "http scenarios: pipelined, keepalive, rate, close (a connection per request; default the first three); proxy: rr, rate, bulk, idle (default all)")
	rate := fs.Int("rate", d.Rate, "http offered rate of the rate scenario, requests/s")
	size := fs.Int("size", d.MsgSize, "echo message size, and proxy round-trip size (proxy default 1024), bytes")
	bulkConns := fs.Int("bulk-conns", bench.Defaults("proxy", false).BulkConns, "proxy: streaming connections of the bulk scenario")
	upstreamBackend := fs.String("upstream-backend", "", "proxy: the `backend` of the upstream echo server (default: serve's default, epoll on Linux)")
	members := fs.Int("members", d.Members, "chat room size")
	senders := fs.Int("senders", d.Senders, "chat members that send")
	window := fs.Int("window", d.Window, "chat: lines a sender may be ahead of the room (it waits while window×(members−1) deliveries are outstanding; 0: never waits)")
	chatLines := fs.Int("lines", 0, "chat: lines each sender sends in all, a fixed fan-out (0: as many as the measured window takes)")
	lineSize := fs.Int("line-size", 0, "chat: pad each line to about this many `bytes` as delivered (0: unpadded, ~30 bytes)")
	silent := fs.Int("silent", 0, "chat: members that join and never read (not audited: the server counts lines to them)")
	nodes := fs.Int("nodes", 1, "chat: servers of each backend sharing the room over --bus, members joined to them in turn")
	busURL := fs.String("bus", "", "chat with --nodes: embedded (a clustered NATS server in each node) or nats://host:port[,…]")
	sweep := fs.String("sweep", joinInts(d.IdleSweep), "idle connection counts (proxy: idle pair counts, default "+joinInts(bench.Defaults("proxy", false).IdleSweep)+")")
	idleProto := fs.String("idle-proto", "echo", "idle: what each idle connection speaks, one round trip before it rests: "+strings.Join(bench.IdleProtos, " or "))
	background := fs.String("background-idle", "", "http, echo: idle connection `counts`, ascending, to hold open while measuring, e.g. 0,100,1000 (default none)")
	pin := fs.Bool("pin", false, "server on one CPU with one loop, load on the others (default on with 4 CPUs or fewer; --pin=false turns it off)")
	loops := fs.Int("loops", d.Loops, "server loops when not pinned")
	ref := fs.String("ref", "", "reference server for ratios (default: the fastest valid one)")
	loader := fs.String("loader", bench.LoaderGo, "http load generator: go (built in) or wrk (pipelined and keepalive only, needs wrk; rate and close always use the built-in one)")
	metrics := fs.String("metrics", "on", "reactor serve's counters: on (each backend is started with --metrics-addr and audited), off (none kept, none audited), or both (each backend twice in every round, the second as NAME"+bench.NoMetricsSuffix+" without metrics)")
	out := fs.String("out", "", "`dir`ectory for PROTO.json, PROTO.md and PROTO.svg (default: a new reactor-bench-PROTO-TIME-* directory under the system's temporary directory)")
	jsonPath := fs.String("json", "", "write the JSON report to this `file` instead of DIR/PROTO.json")
	mdPath := fs.String("md", "", "write the Markdown tables to this `file` instead of DIR/PROTO.md")
	svgPath := fs.String("svg", "", "write the SVG chart to this `file` instead of DIR/PROTO.svg")
	tlsMode := fs.Bool("tls", false, "measure TLS instead (handshake CPU, request and echo CPU, idle memory, loop stall; see above)")
	comparePath := fs.String("compare", "", "after the run, compare its ranking with an earlier JSON report `file` (is the order the same, or within noise?)")
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "reactor bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	// The proto and --quick decide the defaults; flags given on the command line beat them.
	o := bench.Defaults(*proto, *quick)
	apply := func(name string, f func()) {
		if set[name] {
			f()
		}
	}
	apply("rounds", func() { o.Rounds = *rounds })
	apply("warmup", func() { o.Warmup = *warmup })
	apply("duration", func() { o.Duration = *duration })
	apply("conns", func() { o.Conns = *conns })
	apply("depth", func() { o.Depth = *depth })
	apply("rate", func() { o.Rate = *rate })
	apply("size", func() { o.MsgSize = *size })
	apply("bulk-conns", func() { o.BulkConns = *bulkConns })
	apply("members", func() { o.Members = *members })
	apply("senders", func() { o.Senders = *senders })
	apply("window", func() { o.Window = *window })
	apply("nodes", func() { o.Nodes = *nodes })
	apply("bus", func() { o.Bus = *busURL })
	apply("lines", func() { o.Lines = *chatLines })
	apply("line-size", func() { o.LineSize = *lineSize })
	apply("silent", func() { o.Silent = *silent })
	apply("pin", func() { o.Pin = *pin })
	apply("loops", func() { o.Loops = *loops })
	o.Ref, o.Loader = *ref, *loader
	apply("idle-proto", func() { o.IdleProto = *idleProto })
	if set["scenarios"] {
		o.Scenarios = splitList(*scenarios)
	}
	if set["sweep"] {
		counts, err := parseInts(*sweep)
		if err != nil {
			fmt.Fprintf(stderr, "reactor bench: --sweep: %v\n", err)
			return 2
		}
		o.IdleSweep = counts
	}
	if set["background-idle"] {
		counts, err := parseInts(*background)
		if err != nil {
			fmt.Fprintf(stderr, "reactor bench: --background-idle: %v\n", err)
			return 2
		}
		o.Background = counts
	}

	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "reactor bench: cannot find this binary to start servers with: %v\n", err)
		return 1
	}
	o.Self = self
	var builds []bench.Build
	for _, w := range withs {
		b, err := bench.ParseBuild(w)
		if err != nil {
			fmt.Fprintln(stderr, "reactor bench:", err)
			return 2
		}
		builds = append(builds, b)
	}
	o.Command = "reactor bench " + strings.Join(recordedArgs(args), " ")
	if *tlsMode {
		return runBenchTLS(ctx, o, *backendList, set, *out, stdout, stderr)
	}

	switch *metrics {
	case "on", "off", "both":
	default:
		fmt.Fprintf(stderr, "reactor bench: --metrics %q: want on, off or both\n", *metrics)
		return 2
	}

	reg := adapters.Registry()
	o.UpstreamBackend = *upstreamBackend
	if o.UpstreamBackend == "" {
		o.UpstreamBackend = defaultBackend(reg)
	} else if info, ok := reg.Info(o.UpstreamBackend); !ok || !info.Available {
		fmt.Fprintf(stderr, "reactor bench: --upstream-backend %q: not a backend that runs here (valid: %s)\n", o.UpstreamBackend, strings.Join(reg.Names(), ", "))
		return 2
	}
	names := splitList(*backendList)
	if len(names) == 0 && len(targets) == 0 {
		names = []string{"all"}
		if o.Proto == "proxy" {
			// The two anchors of the proxy measurement belong to its default run.
			names = append(names, "native-iocopy", "haproxy")
		}
	}
	// "all" stands for every backend available here, and may be combined with more names
	// (--backends all,native-gnet); "refs" for the reference servers of the protocol
	// (bench.References).
	var expanded []string
	for _, n := range names {
		if n == "refs" {
			refs, err := bench.References(o.Proto)
			if err != nil {
				fmt.Fprintln(stderr, "reactor bench:", err)
				return 2
			}
			for _, r := range refs {
				if !slices.Contains(names, r) && !slices.Contains(expanded, r) {
					expanded = append(expanded, r)
				}
			}
			continue
		}
		if n != "all" {
			expanded = append(expanded, n)
			continue
		}
		for _, in := range reg.Infos() {
			if in.Available && !slices.Contains(names, in.Name) {
				expanded = append(expanded, in.Name)
			}
		}
	}
	names = expanded
	for _, n := range names {
		c := bench.ParseContender(n)
		switch c.Kind {
		case bench.KindBackend:
			info, ok := reg.Info(n)
			if !ok {
				fmt.Fprintf(stderr, "reactor bench: unknown backend %q (valid: %s, native-<lib>, c-floor, refs, haproxy for proxy, or nginx with --tls)\n", n, strings.Join(reg.Names(), ", "))
				return 2
			}
			c.Model, c.MaxConns = info.Model, info.MaxConns
			if slices.Contains(info.Unsupported, process.SharedHandler) {
				// Its connections are served by child processes, whose CPU and memory this
				// bench reads nowhere: it would report the parent's, near nothing.
				c.Skip = fmt.Sprintf("%s serves each connection from a child process, whose CPU and memory the bench does not count; bash scripts/progression.sh measures its whole process tree (docs/progression.md)", n)
			}
			if o.Proto == "proxy" {
				// A proxy that cannot dial, half-close or pause is refused by serve: said,
				// not run.
				if lacks := proxyLacks(info, false, false); lacks != "" {
					c.Skip = fmt.Sprintf("%s does not support %s, which the proxy needs (reactor backends %s)", n, lacks, n)
				}
			}
		case bench.KindNative:
			c.Model = "baseline written directly on " + strings.TrimPrefix(n, "native-") + "'s own API"
			switch n {
			case "native-iocopy":
				c.Model = "goroutine pair per connection copying each way with io.Copy (splice(2) on Linux), CloseWrite at EOF, on the standard library: the proxy a Go user writes first"
			case "native-nethttp":
				c.Model = "net/http's Server with a ServeMux, a goroutine per connection: the HTTP server a Go user writes first"
			case "native-fasthttp":
				c.Model = "github.com/valyala/fasthttp's Server with its defaults (worker goroutine pool, its own parser): the one a Go user picks when net/http is too slow"
			}
		}
		if c.Kind == bench.KindTool || c.Kind == bench.KindFloor {
			o.Contenders = append(o.Contenders, c) // another build has the same haproxy and floor
			continue
		}
		// Each other build's server runs right after this build's, so the two share the
		// machine's weather as closely as a round allows. Model and limit are this build's.
		// So does a backend without metrics after the same backend with them.
		for _, c := range append([]bench.Contender{c}, buildsOf(builds, c)...) {
			switch {
			case c.Kind != bench.KindBackend:
				o.Contenders = append(o.Contenders, c)
			case *metrics == "off":
				o.Contenders = append(o.Contenders, bench.WithoutMetrics(c))
			case *metrics == "both":
				o.Contenders = append(o.Contenders, c, bench.WithoutMetrics(c))
			default:
				o.Contenders = append(o.Contenders, c)
			}
		}
	}
	for _, t := range targets {
		c, err := bench.ParseTarget(t)
		if err != nil {
			fmt.Fprintln(stderr, "reactor bench:", err)
			return 2
		}
		o.Contenders = append(o.Contenders, c)
	}

	// Ctrl-C stops the run; Run stops the server it is measuring before returning, so no
	// child outlives the bench.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	began := time.Now()
	rep, err := bench.Run(ctx, o, stderr)
	if rep == nil {
		fmt.Fprintln(stderr, "reactor bench:", err)
		return 2
	}
	status := 0
	if err != nil {
		fmt.Fprintf(stderr, "reactor bench: stopped early (%v); reporting the rounds that finished\n", err)
		status = 1
	}
	if werr := rep.WriteText(stdout); werr != nil {
		fmt.Fprintln(stderr, "reactor bench:", werr)
		return 1
	}
	if *comparePath != "" {
		if err := compareWith(stdout, rep, *comparePath); err != nil {
			fmt.Fprintln(stderr, "reactor bench: --compare:", err)
			status = 1
		}
	}
	paths := map[string]string{"json": *jsonPath, "md": *mdPath, "svg": *svgPath}
	dir := *out
	for ext, p := range paths {
		if p != "" {
			continue
		}
		if dir == "" {
			// Not the working directory: a bench run from a checkout would litter it. A fresh
			// directory per run keeps runs apart; the message below says where it is.
			if dir, err = os.MkdirTemp("", "reactor-bench-"+o.Proto+"-"+began.Format("20060102-150405")+"-"); err != nil {
				fmt.Fprintln(stderr, "reactor bench:", err)
				return 1
			}
		}
		paths[ext] = filepath.Join(dir, o.Proto+"."+ext)
	}
	writers := []struct {
		ext   string
		write func(*bench.Report, io.Writer) error
	}{{"json", (*bench.Report).WriteJSON}, {"md", (*bench.Report).WriteMarkdown}, {"svg", (*bench.Report).WriteSVG}}
	for _, w := range writers {
		if err := os.MkdirAll(filepath.Dir(paths[w.ext]), 0o755); err != nil {
			fmt.Fprintln(stderr, "reactor bench:", err)
			return 1
		}
		if err := rep.WriteFile(paths[w.ext], w.write); err != nil {
			fmt.Fprintln(stderr, "reactor bench:", err)
			return 1
		}
	}
	where := fmt.Sprintf("%s, %s, %s", paths["json"], paths["md"], paths["svg"])
	if d := filepath.Dir(paths["json"]); d == filepath.Dir(paths["md"]) && d == filepath.Dir(paths["svg"]) {
		where = fmt.Sprintf("%s (%s, %s, %s)", d, filepath.Base(paths["json"]), filepath.Base(paths["md"]), filepath.Base(paths["svg"]))
	}
	fmt.Fprintf(stderr, "reactor bench: results in %s, after %s\n", where, time.Since(began).Round(time.Second))
	for _, sc := range rep.Scenarios {
		for _, r := range sc.Results {
			// A count beyond a backend's design limit is reported, not an error.
			if !r.Valid && r.Unheld == "" {
				status = 1
			}
		}
	}
	return status
}

// buildsOf returns c as served by each other build.
func buildsOf(builds []bench.Build, c bench.Contender) []bench.Contender {
	out := make([]bench.Contender, len(builds))
	for i, b := range builds {
		out[i] = b.Of(c)
	}
	return out
}

// recordedArgs is args as the report records them: the directory of a --with binary is
// replaced by "…", since a path on this machine means nothing to a reader of the report.
func recordedArgs(args []string) []string {
	out := slices.Clone(args)
	for i, a := range out {
		switch {
		case (a == "--with" || a == "-with") && i+1 < len(out):
			out[i+1] = elideDir(out[i+1])
		case strings.HasPrefix(a, "--with="), strings.HasPrefix(a, "-with="):
			flag, v, _ := strings.Cut(a, "=")
			out[i] = flag + "=" + elideDir(v)
		}
	}
	return out
}

// elideDir turns NAME=/some/dir/reactor into NAME=…/reactor.
func elideDir(with string) string {
	name, path, ok := strings.Cut(with, "=")
	if !ok || filepath.Dir(path) == "." {
		return with
	}
	return name + "=…/" + filepath.Base(path)
}

// compareWith prints how the ranking of rep compares with the report in path.
func compareWith(w io.Writer, rep *bench.Report, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var prev bench.Report
	if err := json.Unmarshal(b, &prev); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if prev.Proto != rep.Proto {
		return fmt.Errorf("%s is a %s report, this run is %s", path, prev.Proto, rep.Proto)
	}
	fmt.Fprintf(w, "\nRanking by CPU per operation, %s (%s) then this run:\n", path, prev.Started.Format("2006-01-02 15:04"))
	for _, line := range bench.CompareRanks(&prev, rep) {
		fmt.Fprintf(w, "- %s\n", line)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
