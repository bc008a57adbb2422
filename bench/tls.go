package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// TLSOptions is one `reactor bench --tls` run: every contender serves over TLS with the same
// certificate, in interleaved rounds, and is measured for the cost of a handshake, of a request
// and an echo round trip over an established connection, the memory an idle TLS connection
// holds, and how long requests on a loop wait while that loop does handshakes.
type TLSOptions struct {
	// Self is the binary started as `Self serve …` (backends) and `Self native --lib
	// nethttp-tls …` (the standard library's net/http + crypto/tls).
	Self string `json:"-"`
	// Backends are the reactor backends measured; the native contender is always added.
	Backends []string
	// Tools are programs from the OS packages measured beside them: ToolNGINX. One that is
	// not installed is skipped, and the report says so and how to install it.
	Tools []string
	// CertFile and KeyFile are the PEM files every contender serves; the client trusts the
	// certificate.
	CertFile, KeyFile string `json:"-"`
	Rounds            int
	// Duration is how long each load phase runs.
	Duration time.Duration
	// Conns is the number of load connections (and of handshaking clients).
	Conns int
	// Idle is the number of idle TLS connections the memory figure is taken over; IdleCap
	// lowers it for a backend that cannot hold so many (select: 1024 descriptors).
	Idle    int
	IdleCap map[string]int
	// Rate is the fixed request rate of the loop-stall measure, over StallConns connections.
	Rate       int
	StallConns int
	// EchoSize is the size of an echo round trip.
	EchoSize int
}

// NativeTLS is the name the report gives the net/http + crypto/tls contender.
const NativeTLS = "nethttp-tls"

// TLSResult is one contender's figures in one round. A round with Errors has figures that do
// not count; latencies are -1 when they could not be taken.
type TLSResult struct {
	Contender string
	// HandshakeCPU is server CPU µs per full handshake (TLS 1.3, the key exchange in Group,
	// ECDSA P-256 certificate, no resumption); Handshakes the handshakes a second it completed.
	HandshakeCPU, Handshakes float64
	// Group is the key exchange the server picked from the client's offer (crypto/tls's
	// default: X25519MLKEM768, X25519, P-256, …), which weighs on the handshake's cost: a
	// server without ML-KEM (OpenSSL 3.0's nginx) picks X25519.
	Group string `json:",omitempty"`
	// RequestCPU is server CPU µs per keep-alive GET /plaintext; EchoCPU per echo round trip
	// of EchoSize bytes.
	RequestCPU, EchoCPU float64
	// IdleBytes is RSS per idle TLS connection, after one request each.
	IdleBytes float64
	// Quiet and Storm are the p50 and p99 latency of fixed-rate requests on established
	// connections to a server with one loop, without and during a handshake storm on it.
	QuietP50, QuietP99, StormP50, StormP99 time.Duration
	// Errors counts failed handshakes, requests or round trips.
	Errors int64
	// EchoSkipped says why EchoCPU was not measured (nginx serves no echo); "" when it was.
	EchoSkipped string `json:",omitempty"`
}

// TLSReport is the whole run.
type TLSReport struct {
	Options TLSOptions
	Rounds  [][]TLSResult // per round, per contender
	Machine string
	// Models describe the tools measured; Skipped lists those that could not run, and why.
	Models  map[string]string `json:",omitempty"`
	Skipped []Skipped         `json:",omitempty"`
}

// RunTLS runs the rounds, logging progress to log.
func RunTLS(ctx context.Context, o TLSOptions, log io.Writer) (*TLSReport, error) {
	pem, err := os.ReadFile(o.CertFile)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", o.CertFile)
	}
	client := &tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: []string{"http/1.1"},
		// Every handshake a full one: no session is kept to resume.
		ClientSessionCache: nil}
	rep := &TLSReport{Options: o}
	contenders := append([]string(nil), o.Backends...)
	for _, t := range o.Tools {
		if t != ToolNGINX {
			return nil, fmt.Errorf("bench: --tls: no tool %q (%s)", t, ToolNGINX)
		}
		if why := nginxMissing(); why != "" {
			fmt.Fprintf(log, "%s skipped: %s\n", t, why)
			rep.Skipped = append(rep.Skipped, Skipped{Name: t, Kind: KindTool, Why: why})
			continue
		}
		if rep.Models == nil {
			rep.Models = map[string]string{}
		}
		rep.Models[t] = nginxModel()
		contenders = append(contenders, t)
	}
	contenders = append(contenders, NativeTLS)
	if up, err := os.ReadFile("/proc/loadavg"); err == nil {
		rep.Machine = "load average before: " + strings.Join(strings.Fields(string(up))[:3], " ")
	}
	for r := 0; r < o.Rounds; r++ {
		var round []TLSResult
		for _, c := range contenders {
			fmt.Fprintf(log, "round %d/%d: %s\n", r+1, o.Rounds, c)
			res, err := o.measure(ctx, c, client)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c, err)
			}
			round = append(round, res)
		}
		rep.Rounds = append(rep.Rounds, round)
	}
	return rep, nil
}

// tlsChild is a contender's server process.
type tlsChild struct {
	cmd  *exec.Cmd
	addr string
	errs bytes.Buffer
	// cleanup removes what was written for the child (nginx's configuration) once it has
	// exited; nil when nothing was.
	cleanup func()
}

func (o TLSOptions) start(ctx context.Context, contender, proto string, loops int) (*tlsChild, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	var args []string
	ch := &tlsChild{addr: addr}
	switch contender {
	case ToolNGINX:
		// Room for the idle connections and the load's own, beside them.
		cmd, cleanup, err := nginxCommand(ctx, addr, o.CertFile, o.KeyFile, o.Idle+o.Conns+o.StallConns+16)
		if err != nil {
			return nil, err
		}
		ch.cmd, ch.cleanup, args = cmd, cleanup, cmd.Args
	case NativeTLS:
		args = []string{"native", "--lib", NativeTLS, "--proto", proto, "--addr", addr, "--tls-cert", o.CertFile, "--tls-key", o.KeyFile}
	default:
		args = []string{"serve", "--backend", contender, "--proto", proto, "--addr", addr, "--tls-cert", o.CertFile, "--tls-key", o.KeyFile, "--log-level", "error"}
		if loops > 0 {
			args = append(args, "--loops", fmt.Sprint(loops))
		}
	}
	if ch.cmd == nil {
		ch.cmd = exec.CommandContext(ctx, o.Self, args...)
	}
	ch.cmd.Stderr = &ch.errs
	if err := ch.cmd.Start(); err != nil {
		if ch.cleanup != nil {
			ch.cleanup()
		}
		return nil, err
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return ch, nil
		}
		if time.Now().After(deadline) {
			ch.stop()
			return nil, fmt.Errorf("%s did not listen within 10s: %s", strings.Join(args, " "), ch.errs.String())
		}
	}
}

func (ch *tlsChild) pid() int { return ch.cmd.Process.Pid }

func (ch *tlsChild) stop() {
	ch.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { ch.cmd.Wait(); close(done) }() // ends when the child exits
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		ch.cmd.Process.Kill()
		<-done
	}
	if ch.cleanup != nil {
		ch.cleanup()
	}
}

// cpuOver runs load and returns the child's CPU seconds over it.
func cpuOver(pid int, load func()) float64 {
	a := readCPU(pid)
	load()
	s, _ := cpuBetween(a, readCPU(pid))
	return s
}

func (o TLSOptions) measure(ctx context.Context, contender string, client *tls.Config) (TLSResult, error) {
	res := TLSResult{Contender: contender, QuietP50: -1, QuietP99: -1, StormP50: -1, StormP99: -1}
	var errs atomic.Int64

	// http: handshakes, requests, idle memory.
	ch, err := o.start(ctx, contender, "http", 0)
	if err != nil {
		return res, err
	}
	if c, err := dialTLS(ch.addr, client); err == nil {
		res.Group = c.ConnectionState().CurveID.String()
		c.Close()
	}
	var n atomic.Int64
	cpu := cpuOver(ch.pid(), func() { handshakeStorm(ctx, ch.addr, client, o.Conns, time.Now().Add(o.Duration), &n, &errs) })
	res.HandshakeCPU = cpu * 1e6 / float64(max(1, n.Load()))
	res.Handshakes = float64(n.Load()) / o.Duration.Seconds()

	n.Store(0)
	cpu = cpuOver(ch.pid(), func() { requestLoad(ctx, ch.addr, client, o.Conns, time.Now().Add(o.Duration), &n, &errs) })
	res.RequestCPU = cpu * 1e6 / float64(max(1, n.Load()))

	before := settledRSS(ctx, ch.pid())
	nIdle := o.Idle
	if c, ok := o.IdleCap[contender]; ok && c < nIdle {
		nIdle = c
	}
	if c := nginxMaxConns(); contender == ToolNGINX && c > 0 {
		nIdle = max(1, min(nIdle, c-o.Conns-o.StallConns-16))
	}
	idle, err := openIdleTLS(ctx, ch.addr, client, nIdle)
	if err == nil {
		after := settledRSS(ctx, ch.pid())
		res.IdleBytes = float64(after-before) / float64(len(idle))
	} else {
		errs.Add(1) // and no figure: IdleBytes stays 0
	}
	for _, c := range idle {
		c.Close()
	}
	ch.stop()

	// echo: round trips.
	if contender == ToolNGINX {
		res.EchoSkipped = nginxEcho
	} else {
		ch, err = o.start(ctx, contender, "echo", 0)
		if err != nil {
			return res, err
		}
		n.Store(0)
		cpu = cpuOver(ch.pid(), func() { tlsEchoLoad(ctx, ch.addr, client, o.Conns, o.EchoSize, time.Now().Add(o.Duration), &n, &errs) })
		res.EchoCPU = cpu * 1e6 / float64(max(1, n.Load()))
		ch.stop()
	}

	// The loop stall: one loop serving requests at a fixed rate, quiet and then during a
	// handshake storm on the same loop (nginx: its one worker, one loop already).
	loops := 1
	if contender == NativeTLS {
		loops = 0
	}
	ch, err = o.start(ctx, contender, "http", loops)
	if err != nil {
		return res, err
	}
	quiet := rateLoad(ctx, ch.addr, client, o.StallConns, o.Rate, o.Duration, &errs)
	stormDone := make(chan struct{})
	var stormN atomic.Int64
	go func() {
		// Ends at the deadline.
		defer close(stormDone)
		handshakeStorm(ctx, ch.addr, client, o.Conns, time.Now().Add(o.Duration+200*time.Millisecond), &stormN, &errs)
	}()
	time.Sleep(100 * time.Millisecond)
	storm := rateLoad(ctx, ch.addr, client, o.StallConns, o.Rate, o.Duration, &errs)
	<-stormDone
	ch.stop()
	if quiet != nil && storm != nil {
		res.QuietP50, res.QuietP99 = quiet.Quantile(0.5), quiet.Quantile(0.99)
		res.StormP50, res.StormP99 = storm.Quantile(0.5), storm.Quantile(0.99)
	}
	res.Errors = errs.Load()
	return res, nil
}

// handshakeStorm has conns clients each dialling, completing a full handshake and closing,
// until deadline; n counts the handshakes.
func handshakeStorm(ctx context.Context, addr string, cfg *tls.Config, conns int, deadline time.Time, n, errs *atomic.Int64) {
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			// Ends at the deadline.
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					errs.Add(1)
					continue
				}
				raw.SetDeadline(time.Now().Add(5 * time.Second))
				c := tls.Client(raw, cfg)
				if err := c.Handshake(); err != nil {
					errs.Add(1)
				} else {
					n.Add(1)
				}
				raw.Close()
			}
		}()
	}
	wg.Wait()
}

var getPlaintext = []byte("GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n")

// dialTLS connects and handshakes.
func dialTLS(addr string, cfg *tls.Config) (*tls.Conn, error) {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := tls.Client(raw, cfg)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

// plaintextTrip sends one GET /plaintext and reads its answer.
func plaintextTrip(c *tls.Conn, r *bufio.Reader) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(getPlaintext); err != nil {
		return err
	}
	length := -1
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && strings.EqualFold(string(k), "Content-Length") {
			fmt.Sscan(string(v), &length)
		}
	}
	if length != 13 {
		return errors.New("not the /plaintext answer")
	}
	_, err := r.Discard(length)
	return err
}

// requestLoad runs keep-alive GET /plaintext over conns connections until deadline.
func requestLoad(ctx context.Context, addr string, cfg *tls.Config, conns int, deadline time.Time, n, errs *atomic.Int64) {
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			// Ends at the deadline, or on an error.
			defer wg.Done()
			c, err := dialTLS(addr, cfg)
			if err != nil {
				errs.Add(1)
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if err := plaintextTrip(c, r); err != nil {
					errs.Add(1)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
}

// tlsEchoLoad runs echo round trips of size bytes over conns connections until deadline.
func tlsEchoLoad(ctx context.Context, addr string, cfg *tls.Config, conns, size int, deadline time.Time, n, errs *atomic.Int64) {
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			// Ends at the deadline, or on an error.
			defer wg.Done()
			c, err := dialTLS(addr, cfg)
			if err != nil {
				errs.Add(1)
				return
			}
			defer c.Close()
			msg, got := bytes.Repeat([]byte{'e'}, size), make([]byte, size)
			for time.Now().Before(deadline) && ctx.Err() == nil {
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Write(msg); err != nil {
					errs.Add(1)
					return
				}
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
					errs.Add(1)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
}

// openIdleTLS opens n TLS connections, each making one request, and leaves them open.
func openIdleTLS(ctx context.Context, addr string, cfg *tls.Config, n int) ([]net.Conn, error) {
	out := make([]net.Conn, 0, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed atomic.Int64
	sem := make(chan struct{}, 16)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			// Ends after one request.
			defer wg.Done()
			defer func() { <-sem }()
			c, err := dialTLS(addr, cfg)
			if err == nil {
				err = plaintextTrip(c, bufio.NewReaderSize(c, 256))
			}
			if err != nil {
				failed.Add(1)
				if c != nil {
					c.Close()
				}
				return
			}
			c.SetDeadline(time.Time{})
			mu.Lock()
			out = append(out, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		for _, c := range out {
			c.Close()
		}
		return nil, fmt.Errorf("%d of %d idle connections failed", f, n)
	}
	return out, nil
}

// rateLoad sends GET /plaintext at rate a second, spread over conns connections, for dur, and
// returns the latency of each from its scheduled time (so that a stall counts in full for the
// requests it delays).
func rateLoad(ctx context.Context, addr string, cfg *tls.Config, conns, rate int, dur time.Duration, errs *atomic.Int64) *Histogram {
	hists := make([]Histogram, conns)
	var wg sync.WaitGroup
	every := time.Duration(float64(time.Second) * float64(conns) / float64(rate))
	var failed atomic.Bool
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			// Ends after dur, or on an error.
			defer wg.Done()
			c, err := dialTLS(addr, cfg)
			if err != nil {
				errs.Add(1)
				failed.Store(true)
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			start := time.Now().Add(time.Duration(i) * every / time.Duration(conns))
			for k := 0; ctx.Err() == nil; k++ {
				due := start.Add(time.Duration(k) * every)
				if due.Sub(start) >= dur {
					return
				}
				time.Sleep(time.Until(due))
				if err := plaintextTrip(c, r); err != nil {
					errs.Add(1)
					failed.Store(true)
					return
				}
				hists[i].Record(time.Since(due))
			}
		}()
	}
	wg.Wait()
	if failed.Load() {
		return nil
	}
	var all Histogram
	for i := range hists {
		all.Merge(&hists[i])
	}
	return &all
}

// tlsMedian returns the median of the non-NaN values, and their least and greatest.
func tlsMedian(vs []float64) (med, lo, hi float64) {
	var xs []float64
	for _, v := range vs {
		if !math.IsNaN(v) {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	sort.Float64s(xs)
	m := xs[len(xs)/2]
	if len(xs)%2 == 0 {
		m = (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
	}
	return m, xs[0], xs[len(xs)-1]
}

// Markdown writes the report as tables: the median over rounds of each figure, its range, and
// each backend's figure divided by the native contender's, the median of the per-round ratios.
func (rep *TLSReport) Markdown(w io.Writer, command string) {
	fmt.Fprintf(w, "Command: `%s`  \n%s; %d rounds, contenders interleaved in each.\n\n", command, rep.Machine, len(rep.Rounds))
	if len(rep.Rounds) == 0 {
		return
	}
	type col struct {
		name string
		get  func(TLSResult) float64
		unit string
	}
	cols := []col{
		{"CPU per handshake", func(r TLSResult) float64 { return r.HandshakeCPU }, "µs"},
		{"handshakes/s", func(r TLSResult) float64 { return r.Handshakes }, ""},
		{"CPU per request", func(r TLSResult) float64 { return r.RequestCPU }, "µs"},
		{fmt.Sprintf("CPU per %d B echo", rep.Options.EchoSize), func(r TLSResult) float64 {
			if r.EchoSkipped != "" {
				return math.NaN() // not measured: shown as —
			}
			return r.EchoCPU
		}, "µs"},
		{"memory per idle TLS conn", func(r TLSResult) float64 { return r.IdleBytes / 1024 }, "KiB"},
	}
	native := -1
	for i, r := range rep.Rounds[0] {
		if r.Contender == NativeTLS {
			native = i
		}
	}
	fmt.Fprint(w, "| contender |")
	for _, c := range cols {
		if c.unit != "" {
			fmt.Fprintf(w, " %s (%s) | ÷ %s |", c.name, c.unit, NativeTLS)
		} else {
			fmt.Fprintf(w, " %s | ÷ %s |", c.name, NativeTLS)
		}
	}
	fmt.Fprint(w, "\n|---|")
	for range cols {
		fmt.Fprint(w, "---|---|")
	}
	fmt.Fprintln(w)
	for i, r0 := range rep.Rounds[0] {
		fmt.Fprintf(w, "| %s |", r0.Contender)
		for _, c := range cols {
			var vs, ratios []float64
			for _, round := range rep.Rounds {
				vs = append(vs, c.get(round[i]))
				if native >= 0 {
					ratios = append(ratios, c.get(round[i])/c.get(round[native]))
				}
			}
			m, lo, hi := tlsMedian(vs)
			rm, _, _ := tlsMedian(ratios)
			if math.IsNaN(m) {
				fmt.Fprint(w, " — | — |")
				continue
			}
			fmt.Fprintf(w, " %.1f (%.1f–%.1f) | %.2f |", m, lo, hi, rm)
		}
		fmt.Fprintln(w)
	}
	var notes, groups []string
	for _, r0 := range rep.Rounds[0] {
		if r0.Group != "" {
			groups = append(groups, r0.Contender+" "+r0.Group)
		}
	}
	if len(groups) > 0 {
		notes = append(notes, "Key exchange picked: "+strings.Join(groups, ", ")+".")
	}
	for _, r0 := range rep.Rounds[0] {
		if m := rep.Models[r0.Contender]; m != "" {
			notes = append(notes, fmt.Sprintf("%s: %s.", r0.Contender, m))
		}
		if r0.EchoSkipped != "" {
			notes = append(notes, fmt.Sprintf("%s: echo not measured (—): %s.", r0.Contender, r0.EchoSkipped))
		}
	}
	for _, sk := range rep.Skipped {
		notes = append(notes, fmt.Sprintf("%s was not measured: %s.", sk.Name, strings.TrimSuffix(sk.Why, ".")))
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\n%s\n", strings.Join(notes, "  \n"))
	}
	one := "--loops 1; " + NativeTLS + ": its own goroutines"
	if rep.Models[ToolNGINX] != "" {
		one += "; nginx: its one worker process"
	}
	fmt.Fprintf(w, "\nLoop stall: GET /plaintext at %d/s over %d established connections to a server with one loop (%s), latency from each request's scheduled time; quiet, then during a storm of %d clients doing full handshakes on the same server.\n\n",
		rep.Options.Rate, rep.Options.StallConns, one, rep.Options.Conns)
	fmt.Fprintln(w, "| contender | quiet p50 | quiet p99 | storm p50 | storm p99 | errors |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for i, r0 := range rep.Rounds[0] {
		var q50, q99, s50, s99 []float64
		var errs int64
		for _, round := range rep.Rounds {
			r := round[i]
			if r.QuietP50 >= 0 {
				q50 = append(q50, float64(r.QuietP50))
				q99 = append(q99, float64(r.QuietP99))
				s50 = append(s50, float64(r.StormP50))
				s99 = append(s99, float64(r.StormP99))
			}
			errs += r.Errors
		}
		d := func(vs []float64) string {
			m, lo, hi := tlsMedian(vs)
			if math.IsNaN(m) {
				return "—"
			}
			return fmt.Sprintf("%v (%v–%v)", time.Duration(m).Round(10*time.Microsecond), time.Duration(lo).Round(10*time.Microsecond), time.Duration(hi).Round(10*time.Microsecond))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %d |\n", r0.Contender, d(q50), d(q99), d(s50), d(s99), errs)
	}
}
