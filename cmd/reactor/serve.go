package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/reactorlab/reactor/adapters"
	"github.com/reactorlab/reactor/adapters/process"
	"github.com/reactorlab/reactor/internal/metrics"
	"github.com/reactorlab/reactor/internal/reuseport"
	"github.com/reactorlab/reactor/protocols/chat"
	"github.com/reactorlab/reactor/protocols/discard"
	"github.com/reactorlab/reactor/protocols/echo"
	"github.com/reactorlab/reactor/protocols/http1"
	"github.com/reactorlab/reactor/protocols/proxy"
	"github.com/reactorlab/reactor/reactor"
)

// protocols maps a --proto name to a handler built from the settings and the backend's
// configuration (its Logger is serve's), and a function that releases what the handler holds
// (http1's Date ticker). An error says what in the settings the protocol cannot work with.
var protocols = map[string]func(s settings, cfg reactor.Config) (reactor.Handler, func(), error){
	"http": func(s settings, cfg reactor.Config) (reactor.Handler, func(), error) {
		hc := http1.Config{
			MaxRequestLine:     int(s.HTTP.MaxRequestLine),
			MaxHeaderBytes:     int(s.HTTP.MaxHeaderBytes),
			MaxBody:            int(s.HTTP.MaxBody),
			IdleTimeout:        s.HTTP.IdleTimeout,
			HeaderTimeout:      s.HTTP.HeaderTimeout,
			BodyTimeout:        s.HTTP.BodyTimeout,
			Timing:             s.MetricsAddr != "", // the latency histogram is only for metrics
			AccessLogPerSecond: s.HTTP.AccessLogRate,
		}
		if s.HTTP.AccessLog {
			hc.AccessLog = cfg.Logger
		}
		h := http1.New(hc)
		return h, h.Close, nil
	},
	"echo": func(s settings, _ reactor.Config) (reactor.Handler, func(), error) {
		tag, err := echo.ParseTag(s.Echo.Tag)
		return echo.Handler{Tag: tag}, func() {}, err
	},
	"discard": func(settings, reactor.Config) (reactor.Handler, func(), error) {
		return new(discard.Handler), func() {}, nil
	},
	"chat": newChat,
	"proxy": func(s settings, cfg reactor.Config) (reactor.Handler, func(), error) {
		ups, err := proxy.ParseUpstreams(s.Proxy.Upstream)
		if err != nil {
			return nil, nil, err
		}
		p, err := proxy.New(proxy.Config{Upstreams: ups, HighWater: int(s.Proxy.HighWater), Backend: cfg, Logger: cfg.Logger})
		if err != nil {
			return nil, nil, err
		}
		return p, func() {}, nil
	},
}

func protocolNames() []string {
	names := make([]string, 0, len(protocols))
	for n := range protocols {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	reg := adapters.Registry()
	s := defaultSettings(defaultBackend(reg))
	fs := flag.NewFlagSet("reactor serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "read settings from this YAML `file`; flags given on the command line override it")
	fs.StringVar(&s.Backend, "backend", s.Backend, "event-loop `name`: "+strings.Join(reg.Names(), ", ")+" (see reactor backends)")
	fs.StringVar(&s.Proto, "proto", s.Proto, "protocol: "+strings.Join(protocolNames(), ", "))
	fs.StringVar(&s.Addr, "addr", s.Addr, "TCP `host:port` to listen on")
	fs.IntVar(&s.Loops, "loops", 0, "event loops for backends that have them (0: one per CPU)")
	fs.IntVar(&s.Procs, "procs", s.Procs, "worker processes sharing the port with SO_REUSEPORT, each running the backend (prefork)")
	fs.BoolVar(&s.EdgeTriggered, "edge", false, "edge-triggered readiness, where the backend offers it")
	fs.BoolVar(&s.ReusePort, "reuseport", false, "one SO_REUSEPORT listener per loop, where the backend offers it; refused if another process already holds the port, unless --join")
	fs.BoolVar(&s.Join, "join", false, "share a port another reactor process already serves (SO_REUSEPORT; implies --reuseport): the kernel spreads connections across both")
	fs.Var(&s.ReadBuffer, "read-buffer", "`bytes` read per system call (0: 64KiB)")
	fs.Var(&s.MaxInbound, "max-inbound", "unconsumed input a connection may hold, in `bytes` (0: 1MiB; for http, room for its largest body)")
	fs.Var(&s.MaxOutbound, "max-outbound", "pending output past which a connection is closed, in `bytes` (0: 1MiB; for http, room for its largest echo)")
	fs.DurationVar(&s.DialTimeout, "dial-timeout", 0, "how long a connection to an upstream (proxy) may take to open (0: 5s)")
	fs.DurationVar(&s.ShutdownTimeout, "shutdown-timeout", s.ShutdownTimeout, "on SIGINT/SIGTERM, how long connections may drain before they are cut")
	fs.StringVar(&s.LogLevel, "log-level", s.LogLevel, "debug, info, warn or error")
	fs.StringVar(&s.LogFormat, "log-format", s.LogFormat, "text (key=value lines) or json (one object a line), for serve's own lines and the backend's")
	fs.StringVar(&s.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics (/metrics), /healthz and /readyz on this `host:port`, a listener of its own (default: none)")
	fs.BoolVar(&s.Pprof, "pprof", false, "also serve /debug/pprof/ on the metrics listener (needs --metrics-addr)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this `file` (go tool pprof reads it)")
	serveFD := fs.Int("serve-fd", 0, "serve only the connection on this `descriptor` and exit when it closes: how the process backend starts its children (it passes 3)")
	fs.Var(&s.HTTP.MaxBody, "http-max-body", "http: largest request body in `bytes`; larger get 413 (0: 1MiB)")
	fs.DurationVar(&s.HTTP.IdleTimeout, "http-idle-timeout", 0, "http: close a keep-alive connection idle this long (0: 60s, negative: never)")
	fs.DurationVar(&s.HTTP.HeaderTimeout, "http-header-timeout", 0, "http: a request's head must arrive within this of its first byte, else 408 (0: 10s, negative: never)")
	fs.DurationVar(&s.HTTP.BodyTimeout, "http-body-timeout", 0, "http: a request's body must arrive within this of its head, else 408 (0: 30s, negative: never)")
	fs.BoolVar(&s.HTTP.AccessLog, "access-log", false, "http: log a line per request (remote, method, path, status, time), at most --access-log-rate a second")
	fs.IntVar(&s.HTTP.AccessLogRate, "access-log-rate", 0, "http: most access log lines a second; lines past it are counted, not written (0: 100)")
	fs.Var(&s.Chat.MaxLine, "chat-max-line", "chat: longest line in `bytes`; longer ones are refused (0: 1024)")
	fs.StringVar(&s.Chat.Wire, "chat-wire", "lines", "chat: `wire` format: lines (text, for nc and reactor client chat) or classic (the classic Python select() chat programs' framed pickles; docs/protocols.md)")
	fs.StringVar(&s.Echo.Tag, "echo-tag", "none", "echo: prefix each reply with `tag`, who served it: none, pid (\"<pid>: \"), thread (\"<OS thread id>: \", Linux) or loop (\"<loop index>: \", epoll/poll/select)")
	fs.StringVar(&s.Chat.Bus, "bus", "", "chat: share rooms with every server on this NATS bus: `nats://host:port[,…]`, or embedded (a NATS server in this process) (docs/chat-bus.md)")
	fs.StringVar(&s.Chat.BusListen, "bus-listen", "", "chat, --bus embedded: take routes from other embedded servers on this `host:port` (forms a cluster)")
	fs.StringVar(&s.Chat.BusRoutes, "bus-routes", "", "chat, --bus embedded: the --bus-listen `host:port[,…]` of other embedded servers to cluster with")
	fs.StringVar(&s.Proxy.Upstream, "upstream", "", "proxy: the server(s) to relay to, `host:port[,host:port…]`, taken in turn (round-robin); required with --proto proxy")
	fs.StringVar(&s.TLS.Cert, "tls-cert", "", "serve TLS with this PEM certificate `file` (the chain, leaf first); needs --tls-key; SIGHUP reloads both")
	fs.StringVar(&s.TLS.Key, "tls-key", "", "the PEM private key `file` of --tls-cert")
	fs.BoolVar(&s.TLS.SelfSigned, "tls-self-signed", false, "serve TLS with an ephemeral self-signed ECDSA P-256 certificate for the listen address (its SHA-256 fingerprint is logged at start); for trying out, with curl -k")
	fs.DurationVar(&s.TLS.HandshakeTimeout, "tls-handshake-timeout", 0, "TLS: a handshake must finish within this of the accept, else the connection closes (0: 10s)")
	fs.Var(&s.Proxy.HighWater, "proxy-high-water", "proxy: pending output, in `bytes`, past which the other side's reading is paused (0: 4 × the backend's low-water mark, 256KiB)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: reactor serve [flags]

Serves one protocol on one backend until SIGINT or SIGTERM, then shuts down gracefully
(a second signal exits at once). Sizes take 65536, 64KiB or 1MiB. With --procs N (Linux), N
worker processes share the port (SO_REUSEPORT), each running the backend. --procs and
--reuseport refuse a port another process already holds; --join shares it on purpose.
Lines are logged as text or, with --log-format json, JSON. With --metrics-addr, a second
listener serves Prometheus metrics at /metrics (reactor_* series labelled backend and proto;
docs/operations.md), /healthz (200 while the process runs) and /readyz (200 while serving, 503
while starting or draining after SIGTERM). --backend process serves each connection from a child
process, this program started again with --serve-fd (chat there needs --bus: the children meet
only over it, and --bus embedded runs the NATS server in the parent); --backend busypoll spins a core even when
idle, and says so (reactor backends tells every backend's model).

  http  GET /plaintext, GET /json, POST /echo, keep-alive and pipelining (docs/protocols.md)
  echo  every byte back, unchanged; --echo-tag pid|thread|loop prefixes each reply with
        who served it ("<pid>: <bytes>"), as the classic forking/threading servers did
  discard
        every byte read and thrown away, nothing sent (RFC 863): for clients that only send
  chat  line chat for nc: send "NAME: <name>", then lines; /who, /join, /rooms, /help, /quit.
        --bus shares the rooms with other servers over NATS (--bus embedded needs nothing
        installed; --bus-listen/--bus-routes cluster embedded servers across machines);
        --chat-wire classic speaks the classic Python select() chat client and server's wire
        (framed pickles): their client joins, and reactor client chat --wire classic talks to
        their server
  proxy every connection relayed to an --upstream server, both ways, with backpressure,
        half-close and resets passed on:  --proto proxy --upstream 127.0.0.1:7000[,host:port…]

Any protocol can be served over TLS (1.2 and 1.3, crypto/tls, on every backend): --tls-cert
FILE --tls-key FILE, or --tls-self-signed to try it out. http offers ALPN http/1.1 and
answers plain HTTP sent to the TLS port with a 400; the proxy terminates TLS and relays
plaintext upstream.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "reactor serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *configPath != "" {
		// The file goes under the flags: load it over the defaults, then apply again every
		// flag that was given explicitly.
		fromFlags := s
		s = defaultSettings(defaultBackend(reg))
		if err := loadConfig(*configPath, &s); err != nil {
			fmt.Fprintf(stderr, "reactor serve: config: %v\n", err)
			return 2
		}
		fs.Visit(func(f *flag.Flag) { applyFlag(f.Name, fromFlags, &s) })
	}

	info, known := reg.Info(s.Backend)
	if !known {
		fmt.Fprintf(stderr, "reactor serve: unknown backend %q (valid: %s)\n", s.Backend, strings.Join(reg.Names(), ", "))
		return 2
	}
	newHandler, ok := protocols[s.Proto]
	if !ok {
		fmt.Fprintf(stderr, "reactor serve: unknown protocol %q (valid: %s)\n", s.Proto, strings.Join(protocolNames(), ", "))
		return 2
	}
	if err := s.validate(); err != nil {
		fmt.Fprintf(stderr, "reactor serve: %v\n", err)
		return 2
	}
	perConnProcess := slices.Contains(info.Unsupported, process.SharedHandler)
	if s.Proto == "chat" && perConnProcess && s.Chat.Wire == "classic" {
		fmt.Fprintf(stderr, "reactor serve: backend %s cannot serve chat with --chat-wire classic: each connection is served by a process of its own, so the members meet only over a bus, which the classic wire does not go over; choose another --backend\n", s.Backend)
		return 2
	}
	if s.Proto == "chat" && perConnProcess && s.Chat.Bus == "" {
		fmt.Fprintf(stderr, "reactor serve: backend %s serves chat only over a bus: each connection is served by a process of its own, so the members of a room meet only through one; add --bus embedded (or --bus nats://host:port), or choose another --backend\n", s.Backend)
		return 2
	}
	upstreamFlag := false
	fs.Visit(func(f *flag.Flag) { upstreamFlag = upstreamFlag || f.Name == "upstream" })
	// A protocol's own flag given to another protocol would be ignored: say so instead.
	var misplaced error
	fs.Visit(func(f *flag.Flag) {
		if p := protoOfFlag[f.Name]; p != "" && p != s.Proto && misplaced == nil {
			misplaced = fmt.Errorf("--%s is for --proto %s; the protocol is %s", f.Name, p, s.Proto)
		}
	})
	if misplaced != nil {
		fmt.Fprintf(stderr, "reactor serve: %v\n", misplaced)
		return 2
	}
	if err := checkProxy(s, info, upstreamFlag); err != nil {
		fmt.Fprintf(stderr, "reactor serve: %v\n", err)
		return 2
	}
	busFlag := false
	fs.Visit(func(f *flag.Flag) {
		busFlag = busFlag || strings.HasPrefix(f.Name, "bus") && fs.Lookup(f.Name).Value.String() != ""
	})
	if err := checkBus(s, busFlag); err != nil {
		fmt.Fprintf(stderr, "reactor serve: %v\n", err)
		return 2
	}
	if s.Proto == "http" {
		// The echo route answers once the whole body is in, and answers it in one piece, so
		// the backend must be willing to hold a body of the largest size http accepts in
		// both directions; otherwise a big body would hit the backend's bounds (an abrupt
		// close) before http's own (a 413). Unset bounds grow to fit; bounds the user set
		// too small are refused rather than overridden.
		need := httpRequestNeed(s.HTTP)
		for _, b := range []struct {
			name string
			v    *byteSize
			def  int
		}{
			{"max_inbound (--max-inbound)", &s.MaxInbound, reactor.DefaultMaxInbound},
			{"max_outbound (--max-outbound)", &s.MaxOutbound, reactor.DefaultMaxOutbound},
		} {
			if *b.v == 0 {
				*b.v = byteSize(max(b.def, need))
			} else if int(*b.v) < need {
				body := int(s.HTTP.MaxBody)
				if body == 0 {
					body = http1.DefaultMaxBody
				}
				fmt.Fprintf(stderr, "reactor serve: %s is %d bytes, less than the %d an http request or /echo reply may need with http.max_body %d; raise it, lower http.max_body, or leave it at 0 to fit\n",
					b.name, int(*b.v), need, body)
				return 2
			}
		}
	}
	if *serveFD > 0 {
		return serveChild(ctx, s, *serveFD, stderr)
	}
	if s.Join {
		s.ReusePort = true
	}
	if (s.ReusePort || s.Procs > 1) && !s.Join {
		// SO_REUSEPORT would bind next to whoever serves the port and silently take a share of
		// their connections; that has to be asked for.
		if err := reuseport.CheckFree(s.Addr); errors.Is(err, reuseport.ErrInUse) {
			fmt.Fprintf(stderr, "reactor serve: %s is already in use; with SO_REUSEPORT this server would take a share of its connections. Pass --join to share the port on purpose, or choose another --addr\n", s.Addr)
			return 1
		}
	}
	logger, err := newLogger(s.LogLevel, s.LogFormat, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "reactor serve: %v\n", err)
		return 2
	}
	if s.Procs > 1 {
		// With an embedded bus, the workers share one room through a NATS server here.
		busArgs, stopBus, err := busForWorkers(s, logger)
		if err != nil {
			logger.Error("cannot start the chat bus", "err", err)
			return 1
		}
		defer stopBus()
		return runPrefork(ctx, s, append(args[:len(args):len(args)], busArgs...), logger)
	}
	if s.Proto == "chat" && perConnProcess {
		// Every connection's child joins the room over the bus: an embedded one runs here, once,
		// and the children are pointed at it. This process serves no connection, so its own
		// handler stays off the bus.
		busArgs, stopBus, err := busForWorkers(s, logger)
		if err != nil {
			logger.Error("cannot start the chat bus", "err", err)
			return 1
		}
		defer stopBus()
		childArgs.Store(&busArgs)
		s.Chat.Bus = ""
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "reactor serve: %v\n", err)
			return 1
		}
		defer stop()
	}
	cfg := s.backendConfig()
	cfg.Logger = logger
	h, release, err := newHandler(s, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "reactor serve: %v\n", err)
		return 2
	}
	defer release()
	served := h
	if s.TLS.enabled() {
		tctx, tcancel := context.WithCancel(ctx)
		defer tcancel()
		if served, err = wrapTLS(tctx, s, h, logger); err != nil {
			fmt.Fprintf(stderr, "reactor serve: %v\n", err)
			return 2
		}
	}
	var ms *metrics.Server
	if s.MetricsAddr != "" {
		cfg.Stats = new(reactor.Stats)
		cs := []prometheus.Collector{metrics.NewStatsCollector(cfg.Stats, s.Backend, s.Proto)}
		switch h := h.(type) {
		case *chat.Room:
			cs = append(cs, metrics.NewChatCollector(h, s.Backend))
		case *http1.Handler:
			cs = append(cs, metrics.NewHTTPCollector(h, s.Backend, true))
		}
		ms, err = metrics.Start(metrics.Options{Addr: s.MetricsAddr, Collectors: cs, Pprof: s.Pprof, Logger: logger})
		if err != nil {
			logger.Error("cannot serve metrics", "err", err)
			return 1
		}
		defer ms.Close(context.Background())
	}
	b, err := reg.New(s.Backend, cfg)
	if err != nil {
		logger.Error("cannot serve", "backend", s.Backend, "err", err)
		return 1
	}
	addr, err := b.Start(served)
	if err != nil {
		logger.Error("cannot serve", "backend", s.Backend, "err", err)
		return 1
	}
	draining := func() {}
	if ms != nil {
		ms.SetReady(true)
		draining = func() { ms.SetReady(false) }
		logger.Info("metrics", "addr", ms.Addr().String(), "pprof", s.Pprof)
	}
	logger.Info("serving", "proto", s.Proto, "addr", addr.String(), "backend", s.Backend, "model", info.Model)
	code := waitForStop(ctx, b, h, s.ShutdownTimeout, draining, logger)
	if counter, ok := h.(interface {
		Served() (conns, requests uint64)
	}); ok {
		conns, reqs := counter.Served()
		logger.Info("served", "requests", reqs, "connections", conns)
	}
	if d, ok := h.(*discard.Handler); ok {
		st := d.Stats()
		logger.Info("served", "discarded_bytes", st.Bytes, "connections", st.Conns)
	}
	return code
}

// applyFlag copies the setting of one explicitly given flag from src to dst.
func applyFlag(name string, src settings, dst *settings) {
	switch name {
	case "backend":
		dst.Backend = src.Backend
	case "proto":
		dst.Proto = src.Proto
	case "addr":
		dst.Addr = src.Addr
	case "loops":
		dst.Loops = src.Loops
	case "procs":
		dst.Procs = src.Procs
	case "edge":
		dst.EdgeTriggered = src.EdgeTriggered
	case "reuseport":
		dst.ReusePort = src.ReusePort
	case "join":
		dst.Join = src.Join
	case "read-buffer":
		dst.ReadBuffer = src.ReadBuffer
	case "max-inbound":
		dst.MaxInbound = src.MaxInbound
	case "max-outbound":
		dst.MaxOutbound = src.MaxOutbound
	case "dial-timeout":
		dst.DialTimeout = src.DialTimeout
	case "shutdown-timeout":
		dst.ShutdownTimeout = src.ShutdownTimeout
	case "log-level":
		dst.LogLevel = src.LogLevel
	case "log-format":
		dst.LogFormat = src.LogFormat
	case "http-max-body":
		dst.HTTP.MaxBody = src.HTTP.MaxBody
	case "http-idle-timeout":
		dst.HTTP.IdleTimeout = src.HTTP.IdleTimeout
	case "http-header-timeout":
		dst.HTTP.HeaderTimeout = src.HTTP.HeaderTimeout
	case "http-body-timeout":
		dst.HTTP.BodyTimeout = src.HTTP.BodyTimeout
	case "metrics-addr":
		dst.MetricsAddr = src.MetricsAddr
	case "pprof":
		dst.Pprof = src.Pprof
	case "access-log":
		dst.HTTP.AccessLog = src.HTTP.AccessLog
	case "access-log-rate":
		dst.HTTP.AccessLogRate = src.HTTP.AccessLogRate
	case "chat-max-line":
		dst.Chat.MaxLine = src.Chat.MaxLine
	case "chat-wire":
		dst.Chat.Wire = src.Chat.Wire
	case "echo-tag":
		dst.Echo.Tag = src.Echo.Tag
	case "bus":
		dst.Chat.Bus = src.Chat.Bus
	case "bus-listen":
		dst.Chat.BusListen = src.Chat.BusListen
	case "bus-routes":
		dst.Chat.BusRoutes = src.Chat.BusRoutes
	case "upstream":
		dst.Proxy.Upstream = src.Proxy.Upstream
	case "proxy-high-water":
		dst.Proxy.HighWater = src.Proxy.HighWater
	case "tls-cert":
		dst.TLS.Cert = src.TLS.Cert
	case "tls-key":
		dst.TLS.Key = src.TLS.Key
	case "tls-self-signed":
		dst.TLS.SelfSigned = src.TLS.SelfSigned
	case "tls-handshake-timeout":
		dst.TLS.HandshakeTimeout = src.TLS.HandshakeTimeout
	}
}

// protoOfFlag names the protocol each protocol-specific flag added with the classic wire, the
// discard protocol and the echo tags belongs to.
var protoOfFlag = map[string]string{"chat-wire": "chat", "echo-tag": "echo"}

// proxyNeeds are the contract points the proxy cannot work without.
// "Read" is "Read while output waits" (evio): without it a stream both ways at once stalls.
var proxyNeeds = map[string]bool{"Dial": true, "CloseWrite": true, "PauseRead": true, "Read": true}

// checkProxy refuses a proxy without an upstream, or with a malformed one, or on a backend that
// cannot dial, half-close or pause with these settings (every connection would fail), and an
// --upstream flag given to another protocol, which would otherwise be ignored. (A config file's
// proxy section is ignored under another protocol, like its http and chat sections.)
func checkProxy(s settings, info reactor.Info, flagGiven bool) error {
	if s.Proto != "proxy" {
		if flagGiven {
			return fmt.Errorf("--upstream is for --proto proxy; the protocol is %s", s.Proto)
		}
		return nil
	}
	if strings.TrimSpace(s.Proxy.Upstream) == "" {
		return errors.New("--proto proxy needs --upstream host:port[,host:port…] (config key proxy.upstream): the server(s) to relay to")
	}
	ups, err := proxy.ParseUpstreams(s.Proxy.Upstream)
	if err != nil {
		return fmt.Errorf("--upstream (proxy.upstream): %w", err)
	}
	// The high-water mark must suit the backend's limits; New says how it does not.
	if _, err := proxy.New(proxy.Config{Upstreams: ups, HighWater: int(s.Proxy.HighWater), Backend: s.backendConfig()}); err != nil {
		return fmt.Errorf("proxy.high_water (--proxy-high-water): %w", err)
	}
	if u := proxyLacks(info, s.EdgeTriggered, s.ReusePort); u != "" {
		return fmt.Errorf("backend %s cannot serve proxy: it does not support %s (see reactor backends %s); choose another --backend", info.Name, u, info.Name)
	}
	return nil
}

// proxyLacks returns the first Info.Unsupported entry of a backend that the proxy cannot work
// without under the given options, or "" when it lacks none. "Dial", "PauseRead with
// EdgeTriggered": the point is the first word; only a "with" names an option that may be off.
func proxyLacks(info reactor.Info, edge, reusePort bool) string {
	options := map[string]bool{"EdgeTriggered": edge, "ReusePort": reusePort}
	for _, u := range info.Unsupported {
		point, under, conditional := strings.Cut(u, " with ")
		point, _, _ = strings.Cut(point, " ")
		if proxyNeeds[point] && (!conditional || options[under]) {
			return u
		}
	}
	return ""
}

// newLogger is the one logger of serve: its own lines, the prefork relay and the backend's.
func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid log level %q (want debug, info, warn or error)", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("invalid log format %q (want text or json)", format)
}

// waitForStop serves until a signal (or ctx) says stop, then calls draining (readiness goes
// down first, so that a load balancer stops sending) and shuts down within grace. A second
// signal during the shutdown exits at once.
func waitForStop(ctx context.Context, b reactor.Backend, h reactor.Handler, grace time.Duration, draining func(), logger *slog.Logger) int {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	stopped := make(chan error, 1)
	go func() { stopped <- b.Wait() }()

	select {
	case err := <-stopped:
		logger.Error("backend stopped", "err", err)
		return 1
	case sig := <-sigs:
		logger.Info("shutting down (again to force)", "signal", sig.String(), "grace", grace.String())
	case <-ctx.Done():
	}
	draining()
	// A protocol with something to say before it goes (chat's notice) says it now; Shutdown
	// delivers what was written before it closes.
	if a, ok := h.(interface{ AnnounceShutdown() }); ok {
		a.AnnounceShutdown()
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.Shutdown(sctx) }()
	select {
	case err := <-done:
		if err != nil {
			logger.Error("shutdown cut connections", "err", err)
			return 1
		}
		return 0
	case sig := <-sigs:
		logger.Warn("exiting now", "signal", sig.String())
		return 1
	}
}

// httpRequestNeed is what one http request, or its echo, may legitimately occupy at once.
func httpRequestNeed(h httpSettings) int {
	line, head, body := int(h.MaxRequestLine), int(h.MaxHeaderBytes), int(h.MaxBody)
	if line <= 0 {
		line = http1.DefaultMaxRequestLine
	}
	if head <= 0 {
		head = http1.DefaultMaxHeaderBytes
	}
	if body <= 0 {
		body = http1.DefaultMaxBody
	}
	// Chunk framing adds a size line per chunk; 1/8 of the body bounds it for chunks of 64
	// bytes and more, and smaller chunks are unusual enough to meet the bound.
	return line + head + body + body/8 + 64<<10
}

// startCPUProfile profiles the process into path until the returned function is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// serveChild is a child of the process backend (serve --serve-fd): it serves the one
// connection its parent handed over as descriptor fd, with the handler the parent's settings
// make, and returns when the connection has closed. SIGTERM, which the parent's Shutdown
// sends, closes it gracefully.
func serveChild(ctx context.Context, s settings, fd int, stderr io.Writer) int {
	logger, err := newLogger(s.LogLevel, s.LogFormat, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "reactor serve: %v\n", err)
		return 2
	}
	cfg := s.backendConfig()
	cfg.Logger = logger
	h, release, err := protocols[s.Proto](s, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "reactor serve: %v\n", err)
		return 2
	}
	defer release()
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := process.ServeChild(ctx, os.NewFile(uintptr(fd), "conn"), cfg, h); err != nil {
		logger.Error("cannot serve the connection", "fd", fd, "err", err)
		return 1
	}
	return 0
}
