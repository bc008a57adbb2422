package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Contender is one server the benchmark measures.
type Contender struct {
	// Name is how the report calls it: a backend name ("epoll"), a native baseline
	// ("native-gnet"), a tool ("haproxy") or the name given to an external target.
	Name string `json:"name"`
	// Kind is "backend", "native", "tool" or "target".
	Kind string `json:"kind"`
	// Addr is the address of an external target; empty for servers the benchmark starts.
	Addr string `json:"addr,omitempty"`
	// Model says what the server stands for (a backend's reactor.Info.Model), for the report.
	Model string `json:"model,omitempty"`
	// MaxConns is the most connections the server can hold by design (a backend's
	// reactor.Info.MaxConns; select: 1024); 0 means no limit but the descriptor limit.
	MaxConns int `json:"max_conns,omitempty"`
	// Build is the label of another reactor build (--with NAME=PATH) that serves this
	// contender, whose Name is then "NAME:backend"; empty for this binary's own servers.
	Build string `json:"build,omitempty"`
	// Binary is the other build's executable. It is not reported: the label says which build
	// it was, and a path of one machine means nothing on another.
	Binary string `json:"-"`
	// Skip, when set, says why the contender cannot be measured here (a backend without
	// Conn.Dial for the proxy, a tool that is not installed): it is reported as skipped,
	// with the reason, and not run.
	Skip string `json:"-"`
	// NoMetrics marks a backend served without --metrics-addr (reactor bench --metrics off
	// or both): it keeps no counters, so it is not audited. Its Name then ends in
	// NoMetricsSuffix.
	NoMetrics bool `json:"no_metrics,omitempty"`
}

// NoMetricsSuffix ends the name of a backend served without metrics ("epoll-nometrics").
const NoMetricsSuffix = "-nometrics"

// WithoutMetrics returns backend c served without metrics, beside c served with them: with
// --metrics both, the two measured in the same rounds tell what counting costs.
func WithoutMetrics(c Contender) Contender {
	c.Name += NoMetricsSuffix
	c.NoMetrics = true
	return c
}

// serverName is the name c's server is started with: a backend or native baseline name,
// without the label of another build or the mark of metrics off.
func (c Contender) serverName() string {
	name := c.Name
	if c.Build != "" {
		name = strings.TrimPrefix(name, c.Build+BuildSep)
	}
	if c.NoMetrics {
		name = strings.TrimSuffix(name, NoMetricsSuffix)
	}
	return name
}

// BuildSep joins a build's label and a backend in a contender's name ("before:epoll"). Not
// "/": scripts/ratios.py names its pairs a/b.
const BuildSep = ":"

// Build is another reactor binary whose servers are measured beside this one's.
type Build struct {
	Name string // the label, prefixed to its contenders' names
	Path string // the executable
}

// ParseBuild parses a --with value, NAME=PATH, and checks that PATH is an executable file.
func ParseBuild(s string) (Build, error) {
	name, path, ok := strings.Cut(s, "=")
	if !ok || name == "" || path == "" {
		return Build{}, fmt.Errorf("bench: --with %q: want NAME=PATH", s)
	}
	// The separators of --backends, of contender names and of scripts/ratios.py's pairs.
	if strings.ContainsAny(name, ",/"+BuildSep) {
		return Build{}, fmt.Errorf("bench: --with %q: the name may not contain , / or %s", s, BuildSep)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return Build{}, fmt.Errorf("bench: --with %q: %w", s, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return Build{}, fmt.Errorf("bench: --with %q: %s is not an executable file", s, path)
	}
	return Build{Name: name, Path: path}, nil
}

// Of returns c served by build b instead of this binary.
func (b Build) Of(c Contender) Contender {
	c.Name = b.Name + BuildSep + c.Name
	c.Build, c.Binary = b.Name, b.Path
	return c
}

// Contender kinds.
const (
	KindBackend = "backend"
	KindNative  = "native"
	// KindTool is a program from the OS packages that the benchmark configures and starts
	// itself: haproxy, for the proxy.
	KindTool   = "tool"
	KindTarget = "target"
	// KindFloor is the C floor (bench/floor/floor.c), compiled with the system's C compiler
	// when a run names it: the least one epoll loop can do, for http and echo.
	KindFloor = "floor"
)

// nativePrefix marks a native baseline in --backends: "native-gnet" runs `reactor native
// --lib gnet`.
const nativePrefix = "native-"

// ParseContender turns a --backends entry into a Contender.
func ParseContender(name string) Contender {
	switch {
	case strings.HasPrefix(name, nativePrefix):
		return Contender{Name: name, Kind: KindNative}
	case name == toolHAProxy:
		return Contender{Name: name, Kind: KindTool}
	case name == FloorName:
		return Contender{Name: name, Kind: KindFloor, Model: floorModel}
	}
	return Contender{Name: name, Kind: KindBackend}
}

// nativeServes reports whether the native baseline lib (gnet, netpoll, evio, nbio, iocopy,
// nethttp, fasthttp) serves proto: the event-loop libraries' baselines serve http and echo,
// iocopy is a proxy, the two HTTP servers serve http.
func nativeServes(lib, proto string) bool {
	switch lib {
	case "iocopy":
		return proto == "proxy"
	case "nethttp", "fasthttp":
		return proto == "http"
	}
	return proto == "http" || proto == "echo"
}

// ParseTarget parses a --target value, name=host:port, for a server the benchmark does not
// start (and whose CPU time and memory it therefore cannot read).
func ParseTarget(s string) (Contender, error) {
	name, addr, ok := strings.Cut(s, "=")
	if !ok || name == "" || addr == "" {
		return Contender{}, fmt.Errorf("bench: target %q: want name=host:port", s)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return Contender{}, fmt.Errorf("bench: target %q: %v", s, err)
	}
	return Contender{Name: name, Kind: KindTarget, Addr: addr}, nil
}

// server is one contender's server for one round: a child process of the benchmark binary, or
// an external target.
type server struct {
	addr string
	pid  int    // 0 for an external target
	cpus string // the CPUs the child may run on, as the kernel reports them

	cmd    *exec.Cmd
	log    *stderrWatch
	exited chan struct{} // closed once the child has been reaped
	err    error         // the child's exit status, valid after exited is closed
	// cleanup removes what was written for the child (haproxy's configuration), after it
	// has exited; nil when nothing was.
	cleanup func()

	// audit checks the server's own counters against the bench's account; it says why not
	// where the server keeps none.
	audit *auditor
	// nodes are the other chat servers sharing this one's room over a bus (Options.Nodes).
	nodes []*server
}

const (
	readyTimeout = 15 * time.Second
	stopGrace    = 5 * time.Second
)

// childSpec says how to start contenders as children of the benchmark binary.
type childSpec struct {
	self  string // the benchmark binary, which also has serve and native
	proto string // what the child serves: http, echo or chat
	loops int
	pin   *pinning
	// serveArgs are more flags for `serve` (backends only; native baselines take none).
	serveArgs []string
	// upstream is the address the round's proxies relay to (proto proxy).
	upstream string
	// noMetrics maps a reactor binary whose serve does not take --metrics-addr to why not;
	// every other binary's backends are started with it and audited.
	noMetrics map[string]string
	// floor is the C floor's executable, compiled for this run; empty when none runs.
	floor string
}

// startServer starts c's server and returns once it accepts connections. An external target
// is only checked for reachability.
func startServer(ctx context.Context, c Contender, spec childSpec) (*server, error) {
	if c.Kind == KindTarget {
		conn, err := dialer.DialContext(ctx, "tcp", c.Addr)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", c.Name, err)
		}
		conn.Close()
		return &server{addr: c.Addr, audit: unaudited(whyTarget)}, nil
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd, cleanup, notAudited, err := serverCommand(c, spec, addr)
	if err != nil {
		return nil, err
	}
	cmd.Env = spec.pin.childEnv()
	s, err := launch(ctx, cmd, addr, spec.pin.start)
	if err != nil {
		if cleanup != nil {
			cleanup()
		}
		return nil, fmt.Errorf("%s: %w", c.Name, err)
	}
	s.cleanup = cleanup
	s.cpus = cpuAllowedList(s.pid)
	s.audit = unaudited(notAudited)
	if notAudited == "" {
		s.audit = s.startAudit(ctx, spec.proto)
	}
	return s, nil
}

// serverCommand is the command that runs c's server on addr, a function that removes what it
// needed written (nil when nothing was), and why the server's counters are not audited ("" when
// they are: the command then has --metrics-addr).
func serverCommand(c Contender, spec childSpec, addr string) (cmd *exec.Cmd, cleanup func(), notAudited string, err error) {
	loops := strconv.Itoa(spec.loops)
	switch c.Kind {
	case KindTool:
		cmd, cleanup, err = haproxyCommand(addr, spec.upstream, spec.loops)
		return cmd, cleanup, whyTool, err
	case KindFloor:
		cmd, err = floorCommand(spec.floor, spec.proto, addr)
		return cmd, nil, whyFloor, err
	}
	// Another build (--with) gets the same command line as this one: a serve flag added here
	// must be one older builds accept too, or they cannot be compared with this one.
	bin, name := spec.self, c.serverName()
	if c.Build != "" {
		bin = c.Binary
	}
	var args []string
	switch c.Kind {
	case KindNative:
		lib := strings.TrimPrefix(name, nativePrefix)
		if !nativeServes(lib, spec.proto) {
			return nil, nil, "", fmt.Errorf("%s: this native baseline does not serve %s (gnet, netpoll and evio serve http and echo; nethttp and fasthttp serve http; iocopy serves proxy)", c.Name, spec.proto)
		}
		args = []string{"native", "--lib", lib, "--proto", spec.proto, "--addr", addr, "--loops", loops}
		notAudited = whyNative
	default:
		args = []string{"serve", "--backend", name, "--proto", spec.proto, "--addr", addr, "--loops", loops}
		args = append(args, spec.serveArgs...)
		switch why, old := spec.noMetrics[bin]; {
		case c.NoMetrics:
			notAudited = whyNoMetrics
		case old:
			notAudited = why
		case spec.proto == "proxy":
			notAudited = whyProxy
		default:
			// Port 0: the server says where it listens, and no port is reserved for it.
			args = append(args, "--metrics-addr", "127.0.0.1:0")
		}
	}
	if spec.proto == "proxy" {
		args = append(args, "--upstream", spec.upstream)
	}
	return exec.Command(bin, args...), nil, notAudited, nil
}

// launch starts cmd with start (which pins it or not), has it reaped when it exits and
// returns once it accepts connections on addr. Its stderr is kept for error reports, and it
// dies with the benchmark.
func launch(ctx context.Context, cmd *exec.Cmd, addr string, start func(*exec.Cmd) error) (*server, error) {
	w := newStderrWatch()
	cmd.Stderr = w
	cmd.SysProcAttr = deathSignal()
	if err := start(cmd); err != nil {
		// The binary's name only: a directory of this machine means nothing in a report.
		return nil, fmt.Errorf("start %s: %w", strings.Join(append([]string{filepath.Base(cmd.Path)}, cmd.Args[1:]...), " "), err)
	}
	s := &server{addr: addr, pid: cmd.Process.Pid, cmd: cmd, log: w, exited: make(chan struct{})}
	// This goroutine reaps the child; it exits when the child does (stop ensures it does).
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// startAudit finds where the server's metrics listen — serve logs it before the serving
// record, which may come a moment after the port accepts — and reads its counters.
func (s *server) startAudit(ctx context.Context, proto string) *auditor {
	t := time.NewTimer(readyTimeout)
	defer t.Stop()
	select {
	case <-s.log.ready:
	case <-s.exited:
	case <-t.C:
	case <-ctx.Done():
	}
	addr := s.log.metricsAddr()
	if addr == "" {
		return unaudited("the server logged no metrics address")
	}
	return newAuditor(ctx, addr, proto)
}

// waitReady waits until the child's port accepts a connection. The "serving" record
// only hurries the next try: a server may announce itself a moment before it listens, and a
// load connection refused then would be counted against it.
func (s *server) waitReady(ctx context.Context) error {
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	announced := s.log.ready
	for {
		select {
		case <-announced:
			announced = nil // a closed channel would spin; from now on the ticker paces
		case <-s.exited:
			return fmt.Errorf("exited before serving (%v): %s", s.err, s.log.tail())
		case <-deadline.C:
			return fmt.Errorf("not accepting connections after %v: %s", readyTimeout, s.log.tail())
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
	}
}

// alive reports whether the child is still running (an external target always is, as far as
// the benchmark can tell).
func (s *server) alive() bool {
	if s.cmd == nil {
		return true
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// stop ends the child: SIGTERM for a graceful shutdown, SIGKILL if it is still there after
// stopGrace. It returns once the child has been reaped.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case <-s.exited:
	case <-t.C:
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	if s.cleanup != nil {
		s.cleanup()
		s.cleanup = nil
	}
}

// freePort picks a loopback port the kernel considers free by binding port 0 and closing it.
// Another process could take it before the child binds it; the child then fails to start and
// the round reports it.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr, nil
}

// stderrWatch collects a child's stderr: it keeps the last few KiB for error reports and
// signals ready when the serve line appears, so the readiness check can try at once.
type stderrWatch struct {
	mu    sync.Mutex
	buf   []byte
	seen  bool
	ready chan struct{}
	// metrics is the address of the child's metrics listener, once it has logged it.
	metrics string
}

const stderrKeep = 4 << 10

// servingLine is in the record serve and native log once they listen (text format).
var servingLine = []byte("msg=serving")

func newStderrWatch() *stderrWatch { return &stderrWatch{ready: make(chan struct{})} }

func (w *stderrWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	// The metrics record comes before the serving record, early enough that the buffer has
	// not been cut yet.
	if !w.seen && w.metrics == "" {
		if m := metricsLine.FindSubmatch(w.buf); m != nil {
			w.metrics = string(m[1])
		}
	}
	if !w.seen && bytes.Contains(w.buf, servingLine) {
		w.seen = true
		close(w.ready)
	}
	if len(w.buf) > 2*stderrKeep {
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-stderrKeep:]...)
	}
	return len(p), nil
}

// metricsAddr returns the address the child logged for its metrics, or "".
func (w *stderrWatch) metricsAddr() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.metrics
}

// tail returns the end of what the child wrote, on one line.
func (w *stderrWatch) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := w.buf
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	s := strings.TrimSpace(strings.ReplaceAll(string(b), "\n", " | "))
	if s == "" {
		return "(no output)"
	}
	return s
}

// pinning is where the server and the load run. With pinning on, the server child runs on one
// CPU with GOMAXPROCS=1 and one loop, and every thread of this process (the load generators)
// on the other CPUs, so the two never compete for a core.
type pinning struct {
	on        bool
	server    cpuMask
	load      cpuMask
	prev      cpuMask
	prevProcs int
	// Desc says what was done, for the report.
	desc string
}

// setupPin applies pinning when want is set and the machine allows it, and says what it did.
func setupPin(want bool) *pinning {
	p := &pinning{}
	if !want {
		p.desc = "not pinned: server and load share all CPUs"
		return p
	}
	if !pinSupported {
		p.desc = "not pinned: CPU affinity is not supported on " + runtime.GOOS
		return p
	}
	cur, err := getAffinity(0)
	if err != nil {
		p.desc = "not pinned: " + err.Error()
		return p
	}
	cpus := cur.cpus()
	if len(cpus) < 2 {
		p.desc = "not pinned: fewer than 2 CPUs available"
		return p
	}
	p.server.set(cpus[0])
	for _, c := range cpus[1:] {
		p.load.set(c)
	}
	if err := setProcessAffinity(p.load); err != nil {
		_ = setProcessAffinity(cur)
		p.desc = "not pinned: " + err.Error()
		return p
	}
	p.on, p.prev = true, cur
	p.prevProcs = runtime.GOMAXPROCS(len(cpus) - 1)
	p.desc = fmt.Sprintf("pinned: server on CPU %d (GOMAXPROCS=1, 1 loop), load generator on CPU %s (GOMAXPROCS=%d)",
		cpus[0], cpuList(cpus[1:]), len(cpus)-1)
	return p
}

// release restores this process's CPU affinity and GOMAXPROCS.
func (p *pinning) release() {
	if p.on {
		_ = setProcessAffinity(p.prev)
		runtime.GOMAXPROCS(p.prevProcs)
		p.on = false
	}
}

// childEnv is the environment of a server child: GOMAXPROCS=1 when pinned, so the Go runtime
// of the child does not run more threads than its one CPU.
func (p *pinning) childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		// The child's GOMAXPROCS is the benchmark's decision, not the caller's.
		if !strings.HasPrefix(kv, "GOMAXPROCS=") {
			env = append(env, kv)
		}
	}
	if p.on {
		env = append(env, "GOMAXPROCS=1")
	}
	return env
}

// start starts cmd on the server's CPU. Affinity is inherited across fork and exec, so the
// child is forked from a thread that is pinned to the server's CPU for the moment: the child
// is on its CPU from its first instruction, before its runtime starts any thread, with no
// taskset needed. The thread then goes back to the load CPUs. (It must not exit: the child's
// death signal is tied to the thread that forked it.)
func (p *pinning) start(cmd *exec.Cmd) error {
	if !p.on {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := setAffinity(0, p.server); err != nil {
			errc <- err
			return
		}
		err := cmd.Start()
		if rerr := setAffinity(0, p.load); rerr != nil && err == nil {
			err = rerr
		}
		errc <- err
	}()
	return <-errc
}

// cpuList formats CPUs as the kernel does ("1", "1-3", "1,3").
func cpuList(cpus []int) string {
	var parts []string
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", cpus[i], cpus[j]))
		} else {
			parts = append(parts, strconv.Itoa(cpus[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}
