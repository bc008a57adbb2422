package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reactorlab/reactor/adapters"
	"github.com/reactorlab/reactor/bench"
)

// TestBenchEndToEnd builds the reactor binary once and runs `reactor bench --quick` through it
// as a user would: children started in serve mode, JSON, Markdown and SVG written.
func TestBenchEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs load for several seconds")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "reactor")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	for _, proto := range []string{"http", "echo", "discard", "chat", "idle"} {
		t.Run("quick-"+proto, func(t *testing.T) {
			out := t.TempDir()
			stdout, stderr, code := runBin(t, bin, "bench", "--quick", "--proto", proto, "--backends", "std", "--out", out)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			rep := readReport(t, filepath.Join(out, proto+".json"))
			if rep.Proto != proto || len(rep.Scenarios) == 0 {
				t.Fatalf("report for %q with %d scenarios", rep.Proto, len(rep.Scenarios))
			}
			if !rep.Settings.Quick || !strings.Contains(stdout, "[QUICK run") {
				t.Errorf("a --quick run that does not say so: JSON quick %v, table:\n%s", rep.Settings.Quick, stdout)
			}
			for _, sc := range rep.Scenarios {
				if len(sc.Results) != 1 {
					t.Fatalf("%s: %d results; want 1 (std)", sc.Name, len(sc.Results))
				}
				r := sc.Results[0]
				if !r.Valid || r.Errors != 0 || r.Contender.Name != "std" {
					t.Errorf("%s: std valid %v, errors %d %v, failed %q", sc.Name, r.Valid, r.Errors, r.ErrorSamples, r.Failed)
				}
				if proto == "idle" {
					if len(r.Sweep) == 0 || float64(r.MemPerConn.Median) <= 0 || float64(r.MemPerConn.Median) > 1<<20 {
						t.Errorf("idle: sweep %d points, %v bytes/conn; want a plausible memory per connection", len(r.Sweep), r.MemPerConn.Median)
					}
				} else {
					if float64(r.Throughput.Median) <= 0 || float64(r.CPUPerOp.Median) <= 0 {
						t.Errorf("%s: throughput %v, CPU µs/op %v; want both measured", sc.Name, r.Throughput.Median, r.CPUPerOp.Median)
					}
				}
				if float64(r.PeakRSS.Median) <= 0 {
					t.Errorf("%s: no peak RSS", sc.Name)
				}
				// std counts what it serves, and the bench checks it against its own account.
				// Discard sends nothing back.
				if a := r.Audit; a.Status != bench.AuditOK || a.Audited != 1 || a.Total.BytesIn <= 0 || (a.Total.BytesOut <= 0) != (proto == "discard") {
					t.Errorf("%s: audit %+v; want ok, with bytes each way (discard: in only)", sc.Name, a)
				}
				if rep.Settings.Pinned {
					if cpus := r.Rounds[0].ServerCPUs; cpus == "" || strings.ContainsAny(cpus, "-,") {
						t.Errorf("%s: pinned, yet the server may run on CPUs %q", sc.Name, cpus)
					}
				}
			}
			if !strings.Contains(stdout, "std") || !strings.Contains(stderr, "round 1/1 std") {
				t.Errorf("table or progress missing\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
			}
			svg := readFile(t, filepath.Join(out, proto+".svg"))
			if !bytes.HasPrefix(svg, []byte("<svg")) || !bytes.Contains(svg, []byte(">std")) {
				t.Errorf("SVG does not start with <svg or lacks the std bar:\n%s", svg)
			}
			checkXML(t, svg)
			if md := readFile(t, filepath.Join(out, proto+".md")); !bytes.Contains(md, []byte("| std |")) {
				t.Errorf("Markdown lacks the std row:\n%s", md)
			}
		})
	}

	t.Run("quick-close", func(t *testing.T) {
		// A connection per request on the backends whose accept or close paths are their own:
		// epoll's lingering close, gnet's and evio's adapter-owned acceptors.
		out := t.TempDir()
		stdout, stderr, code := runBin(t, bin, "bench", "--quick", "--proto", "http", "--scenarios", "close", "--backends", "epoll,gnet,evio", "--out", out)
		if code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		rep := readReport(t, filepath.Join(out, "http.json"))
		if len(rep.Scenarios) != 1 || rep.Scenarios[0].Name != bench.ScenarioClose || rep.Scenarios[0].Op != "conn" {
			t.Fatalf("scenarios %+v; want close alone, measured per connection", rep.Scenarios)
		}
		for _, r := range rep.Scenarios[0].Results {
			if !r.Valid || r.Errors != 0 || float64(r.Throughput.Median) <= 0 || float64(r.CPUPerOp.Median) <= 0 {
				t.Errorf("%s: valid %v, errors %d %v, failed %q, %v conn/s, %v CPU µs/conn; want valid with both measured",
					r.Contender.Name, r.Valid, r.Errors, r.ErrorSamples, r.Failed, r.Throughput.Median, r.CPUPerOp.Median)
			}
		}
		if !strings.Contains(stdout, "CPU µs/conn") {
			t.Errorf("the table does not give the cost per connection:\n%s", stdout)
		}
	})

	t.Run("quick-proxy", func(t *testing.T) {
		// haproxy is looked for on PATH, where here it cannot be: the run must say that it
		// skipped it and why — in the progress, the table and the JSON — and still pass.
		out := t.TempDir()
		stdout, stderr, code := runBinIn(t, "", []string{"PATH=" + t.TempDir()}, bin,
			"bench", "--quick", "--proto", "proxy", "--backends", "epoll,native-iocopy,haproxy", "--out", out)
		if code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		rep := readReport(t, filepath.Join(out, "proxy.json"))
		const why = "haproxy is not installed (not on PATH); bash scripts/install-bench-tools.sh installs it"
		skipped := map[string]string{}
		for _, sk := range rep.Skipped {
			skipped[sk.Name] = sk.Why
		}
		if !strings.HasPrefix(skipped["haproxy"], why) {
			t.Errorf("skipped %v; want haproxy: %s", skipped, why)
		}
		if !strings.Contains(stderr, "haproxy skipped: "+why) || !strings.Contains(stdout, "haproxy was not measured: "+why) {
			t.Errorf("the skip is not said where a reader looks\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
		}
		// A backend that cannot dial, half-close or pause would be skipped, and say so.
		info, _ := adapters.Registry().Info("epoll")
		epollDials := proxyLacks(info, false, false) == ""
		if !epollDials && !strings.Contains(skipped["epoll"], "which the proxy needs") {
			t.Errorf("epoll cannot serve the proxy yet is not skipped for it: %v", skipped)
		}
		var scenarios []string
		for _, sc := range rep.Scenarios {
			scenarios = append(scenarios, sc.Name)
			for _, r := range sc.Results {
				if r.Contender.Name == "epoll" && !epollDials || r.Contender.Name == "haproxy" {
					t.Errorf("%s: %s measured though skipped", sc.Name, r.Contender.Name)
				}
				if !r.Valid || r.Errors != 0 {
					t.Errorf("%s: %s valid %v, errors %v %v, failed %q", sc.Name, r.Contender.Name, r.Valid, r.ErrorKinds, r.ErrorSamples, r.Failed)
				}
			}
		}
		if want := bench.ProxyScenarios; !slices.Equal(scenarios, want) {
			t.Errorf("scenarios %v; want %v", scenarios, want)
		}
		checkXML(t, readFile(t, filepath.Join(out, "proxy.svg")))
	})

	t.Run("quick-proxy-haproxy", func(t *testing.T) {
		if _, err := exec.LookPath("haproxy"); err != nil {
			t.Skip("haproxy is not installed (bash scripts/install-bench-tools.sh installs it)")
		}
		out := t.TempDir()
		stdout, stderr, code := runBin(t, bin, "bench", "--quick", "--proto", "proxy", "--backends", "haproxy", "--out", out)
		if code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		rep := readReport(t, filepath.Join(out, "proxy.json"))
		for _, sc := range rep.Scenarios {
			r := sc.Results[0]
			if !r.Valid || r.Errors != 0 || r.Contender.Kind != bench.KindTool || !strings.HasPrefix(r.Contender.Model, "HAProxy") {
				t.Errorf("%s: haproxy valid %v, errors %v %v, failed %q, model %q", sc.Name, r.Valid, r.ErrorKinds, r.ErrorSamples, r.Failed, r.Contender.Model)
			}
		}
	})

	t.Run("quick-refs", func(t *testing.T) {
		// refs adds the floor and the baselines a Go user would pick; each is ranked with
		// the backends. Without a C compiler the floor is skipped, saying why.
		_, ccErr := exec.LookPath("cc")
		if ccErr != nil && os.Getenv("CI") == "true" {
			t.Fatal("no cc on PATH: CI must have a C compiler for the floor (bash scripts/install-bench-tools.sh)")
		}
		out := t.TempDir()
		stdout, stderr, code := runBin(t, bin, "bench", "--quick", "--proto", "http", "--scenarios", "pipelined", "--backends", "std,refs", "--out", out)
		if code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		rep := readReport(t, filepath.Join(out, "http.json"))
		want := "std,c-floor,native-gnet,native-nethttp,native-fasthttp"
		if ccErr != nil {
			want = "std,native-gnet,native-nethttp,native-fasthttp"
			if len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0].Why, "no C compiler") {
				t.Errorf("skipped %+v; want c-floor skipped for want of a C compiler", rep.Skipped)
			}
		}
		if got := strings.Join(rep.Settings.Order, ","); got != want {
			t.Errorf("order %s; want %s", got, want)
		}
		var ranks []int
		for _, r := range rep.Scenarios[0].Results {
			if !r.Valid || r.Errors != 0 {
				t.Errorf("%s: valid %v, errors %v %v, failed %q", r.Contender.Name, r.Valid, r.ErrorKinds, r.ErrorSamples, r.Failed)
			}
			ranks = append(ranks, r.Rank)
		}
		slices.Sort(ranks)
		if !slices.Equal(ranks, []int{1, 2, 3, 4, 5}[:len(ranks)]) {
			t.Errorf("ranks %v; want every server ranked 1…%d", ranks, len(ranks))
		}
		_, stderr, code = runBin(t, bin, "bench", "--quick", "--proto", "chat", "--backends", "refs")
		if code != 2 || !strings.Contains(stderr, "no reference servers for chat") {
			t.Errorf("chat refs: exit %d, %q; want 2 and why", code, stderr)
		}
	})

	t.Run("quick-audit", func(t *testing.T) {
		// Every server this binary starts is audited; one without metrics, beside it, is not.
		out := t.TempDir()
		stdout, stderr, code := runBin(t, bin, "bench", "--quick", "--proto", "http", "--backends", "std,epoll", "--metrics", "both", "--out", out)
		if code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		rep := readReport(t, filepath.Join(out, "http.json"))
		if got, want := strings.Join(rep.Settings.Order, ","), "std,std-nometrics,epoll,epoll-nometrics"; got != want {
			t.Errorf("order %s; want %s", got, want)
		}
		for _, sc := range rep.Scenarios {
			for _, r := range sc.Results {
				a := r.Audit
				switch {
				case !r.Valid:
					t.Errorf("%s %s: invalid: errors %v %v, failed %q", sc.Name, r.Contender.Name, r.ErrorKinds, r.ErrorSamples, r.Failed)
				case r.Contender.NoMetrics && (a.Status != bench.AuditNone || a.Why != "metrics off"):
					t.Errorf("%s %s: audit %+v; want not audited, metrics off", sc.Name, r.Contender.Name, a)
				case !r.Contender.NoMetrics && (a.Status != bench.AuditOK || a.Total.Requests < r.Rounds[0].Ops ||
					a.Total.BytesIn != a.Total.Requests*int64(len("GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))):
					t.Errorf("%s %s: audit %+v after %d requests in the window; want ok, every request's bytes in", sc.Name, r.Contender.Name, a, r.Rounds[0].Ops)
				}
			}
		}
		for _, want := range []string{"| audit |", "| ok (", "not audited (metrics off)"} {
			if md := readFile(t, filepath.Join(out, "http.md")); !bytes.Contains(md, []byte(want)) {
				t.Errorf("Markdown lacks %q:\n%s", want, md)
			}
		}
	})

	t.Run("wrong-server", func(t *testing.T) {
		addr := wrongHTTPServer(t)
		out := t.TempDir()
		stdout, stderr, code := runBin(t, bin, "bench", "--quick", "--target", "liar="+addr, "--out", out)
		if code != 1 {
			t.Errorf("exit %d; want 1 for a server that answers wrongly\nstderr:\n%s", code, stderr)
		}
		rep := readReport(t, filepath.Join(out, "http.json"))
		for _, sc := range rep.Scenarios {
			r := sc.Results[0]
			if r.Valid || r.ErrorKinds["bad-body"] == 0 || r.Rank != 0 {
				t.Errorf("%s: liar valid %v, errors %v, rank %d; want invalid with bad-body errors, unranked", sc.Name, r.Valid, r.ErrorKinds, r.Rank)
			}
			if float64(r.Throughput.Median) != 0 {
				t.Errorf("%s: %v wrong answers per second counted as throughput", sc.Name, r.Throughput.Median)
			}
		}
		if strings.Count(stdout, "INVALID (errors)") != len(rep.Scenarios) {
			t.Errorf("the table does not mark every scenario INVALID:\n%s", stdout)
		}
		if strings.Count(stdout, "not audited (no counters: a server the bench did not start)") != len(rep.Scenarios) {
			t.Errorf("the table does not say the target is not audited:\n%s", stdout)
		}
		if !bytes.Contains(readFile(t, filepath.Join(out, "http.svg")), []byte("INVALID")) {
			t.Error("the chart does not mark the liar INVALID")
		}
	})

	t.Run("compare", func(t *testing.T) {
		// Two runs, the second compared with the first: the report says whether the ranking held.
		out := t.TempDir()
		first := filepath.Join(out, "first.json")
		if _, stderr, code := runBin(t, bin, "bench", "--quick", "--proto", "echo", "--backends", "std", "--out", out, "--json", first); code != 0 {
			t.Fatalf("first run: exit %d\n%s", code, stderr)
		}
		stdout, stderr, code := runBin(t, bin, "bench", "--quick", "--proto", "echo", "--backends", "std", "--out", out, "--compare", first)
		if code != 0 || !strings.Contains(stdout, "Ranking by CPU per operation") || !strings.Contains(stdout, "echo: first run std; second run std — same order") {
			t.Errorf("exit %d; want the comparison in:\n%s\n%s", code, stdout, stderr)
		}
	})

	t.Run("quick-idle-http", func(t *testing.T) {
		// Idle HTTP keep-alive connections, each after a validated GET, on epoll with http1's
		// idle timer armed: the report says what the connections spoke.
		out := t.TempDir()
		stdout, stderr, code := runBin(t, bin, "bench", "--quick", "--proto", "idle", "--idle-proto", "http", "--backends", "epoll", "--out", out)
		if code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		rep := readReport(t, filepath.Join(out, "idle.json"))
		sc := rep.Scenarios[0]
		r := sc.Results[0]
		if !r.Valid || r.Errors != 0 || len(r.Sweep) != len(rep.Settings.IdleSweep) || float64(r.MemPerConn.Median) <= 0 {
			t.Errorf("epoll: valid %v, errors %d %v, failed %q, %d points, %v bytes/conn; want every count measured",
				r.Valid, r.Errors, r.ErrorSamples, r.Failed, len(r.Sweep), r.MemPerConn.Median)
		}
		if rep.Settings.IdleProto != "http" || !strings.Contains(sc.Describe, "HTTP keep-alive") || !strings.Contains(stdout, "idle HTTP keep-alive connections") {
			t.Errorf("idle proto %q, caption %q; want http said in the JSON and the table:\n%s", rep.Settings.IdleProto, sc.Describe, stdout)
		}
		if !strings.Contains(rep.Command, "--idle-proto http") {
			t.Errorf("command %q does not record --idle-proto", rep.Command)
		}
	})

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown", []string{"--proto", "idle", "--idle-proto", "ftp"}, "unknown idle proto"},
		{"not-idle", []string{"--proto", "echo", "--idle-proto", "http"}, "--idle-proto is for --proto idle"},
	} {
		t.Run("bad-idle-proto-"+tc.name, func(t *testing.T) {
			args := append([]string{"bench", "--quick", "--backends", "std", "--out", t.TempDir()}, tc.args...)
			_, stderr, code := runBin(t, bin, args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}

	t.Run("bad-metrics", func(t *testing.T) {
		_, stderr, code := runBin(t, bin, "bench", "--quick", "--backends", "std", "--metrics", "sometimes", "--out", t.TempDir())
		if code != 2 || !strings.Contains(stderr, "want on, off or both") {
			t.Errorf("exit %d, stderr %q; want 2 and the choices", code, stderr)
		}
	})

	t.Run("unknown-backend", func(t *testing.T) {
		_, stderr, code := runBin(t, bin, "bench", "--quick", "--backends", "nosuch", "--out", t.TempDir())
		if code != 2 || !strings.Contains(stderr, "unknown backend") {
			t.Errorf("exit %d, stderr %q; want 2 and a clear message", code, stderr)
		}
	})

	t.Run("native-missing", func(t *testing.T) {
		// A native baseline that is not built in is reported as not run; the bench goes on.
		out := t.TempDir()
		_, stderr, code := runBin(t, bin, "bench", "--quick", "--proto", "echo", "--backends", "std,native-nosuch", "--out", out)
		if code != 1 {
			t.Errorf("exit %d; want 1\n%s", code, stderr)
		}
		rep := readReport(t, filepath.Join(out, "echo.json"))
		res := rep.Scenarios[0].Results
		if len(res) != 2 || !res[0].Valid || res[1].Failed == "" {
			t.Errorf("results %+v; want std valid and native-nosuch failed", res)
		}
	})

	t.Run("interrupt", func(t *testing.T) {
		// Ctrl-C in the middle of a long run: the bench stops, reports, and leaves no server.
		out := t.TempDir()
		cmd := exec.Command(bin, "bench", "--proto", "echo", "--backends", "std", "--rounds", "20", "--duration", "2s", "--out", out)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond)
		if children := serveChildren(bin); len(children) == 0 {
			t.Errorf("no serve child running 1.5s into the run")
		}
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("bench still running 20s after SIGINT\n%s", stderr.String())
		}
		if left := serveChildren(bin); len(left) > 0 {
			for _, pid := range left {
				if p, err := os.FindProcess(pid); err == nil {
					_ = p.Kill()
				}
			}
			t.Errorf("serve children left running after SIGINT: %v", left)
		}
		if !strings.Contains(stderr.String(), "stopped early") {
			t.Errorf("no word of the early stop:\n%s", stderr.String())
		}
	})
}

// runBin runs the built binary with a time limit and returns its output and exit status.
func runBin(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runBinIn(t, "", nil, bin, args...)
}

// runBinIn is runBin in the working directory dir (empty: the test's) with env added to the
// environment.
func runBinIn(t *testing.T, dir string, env []string, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not finish within 2 minutes\n%s", args, e.String())
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readReport(t *testing.T, path string) bench.Report {
	t.Helper()
	var rep bench.Report
	if err := json.Unmarshal(readFile(t, path), &rep); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rep
}

func checkXML(t *testing.T, doc []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v", err)
		}
	}
}

// wrongHTTPServer answers every request quickly and wrongly (a body one letter off).
func wrongHTTPServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, Wurld!"
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 16<<10)
				have := 0
				for {
					n, err := c.Read(buf[have:])
					have += n
					var out []byte
					for {
						i := bytes.Index(buf[:have], []byte("\r\n\r\n"))
						if i < 0 {
							break
						}
						out = append(out, wrong...)
						have = copy(buf, buf[i+4:have])
					}
					if _, werr := c.Write(out); werr != nil || err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// serveChildren lists the processes running `bin serve …`.
func serveChildren(bin string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 1 && args[0] == bin && args[1] == "serve" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestBenchBackgroundIdle runs `reactor bench --background-idle` through the binary on std:
// the http rate scenario at each count of idle keep-alive connections, in JSON, Markdown and
// a line chart.
func TestBenchBackgroundIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs load for several seconds")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "reactor")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := t.TempDir()
	stdout, stderr, code := runBin(t, bin, "bench", "--quick", "--proto", "http", "--scenarios", "rate",
		"--background-idle", "0,5,20", "--backends", "std", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	rep := readReport(t, filepath.Join(out, "http.json"))
	if len(rep.Scenarios) != 3 {
		t.Fatalf("%d scenarios; want rate at 0, 5 and 20 idle", len(rep.Scenarios))
	}
	for i, want := range []int{0, 5, 20} {
		sc := rep.Scenarios[i]
		r := sc.Results[0]
		if sc.Name != bench.ScenarioRate || sc.Background != want || !r.Valid || r.Errors != 0 ||
			float64(r.CPUPerOp.Median) <= 0 || float64(r.P99Rounds.Median) <= 0 {
			t.Errorf("%s @%d (want @%d): valid %v, errors %d %v, CPU µs/req %v, p99 %v",
				sc.Name, sc.Background, want, r.Valid, r.Errors, r.ErrorSamples, r.CPUPerOp.Median, r.P99Rounds.Median)
		}
	}
	if md := readFile(t, filepath.Join(out, "http.md")); !bytes.Contains(md, []byte("@20 idle")) {
		t.Errorf("Markdown lacks the sweep table:\n%s", md)
	}
	svg := readFile(t, filepath.Join(out, "http.svg"))
	checkXML(t, svg)
	if !bytes.Contains(svg, []byte("<polyline")) || !bytes.Contains(svg, []byte("p99 latency vs. idle connections")) {
		t.Errorf("SVG lacks the curves:\n%s", svg)
	}
}

// TestBenchIdleNotHeld sweeps select past the 1024 connections it can hold, as `reactor bench
// --proto idle` does: the counts past its limit are "not held" (no connection dialled for
// them, no error, exit 0), and the counts it held are measured and drawn.
func TestBenchIdleNotHeld(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and opens a few thousand loopback connections")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "reactor")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := t.TempDir()
	stdout, stderr, code := runBin(t, bin, "bench", "--quick", "--proto", "idle", "--sweep", "10,100,2000",
		"--backends", "select,std", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d; want 0, a count past a limit is no failure\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	rep := readReport(t, filepath.Join(out, "idle.json"))
	sel, std := rep.Scenarios[0].Results[0], rep.Scenarios[0].Results[1]
	if sel.Errors != 0 || sel.Failed != "" || !strings.Contains(sel.Unheld, "from 2000 up") || len(sel.Rounds[0].Idle) != 2 {
		t.Errorf("select: errors %d %v, failed %q, unheld %q, %d points; want the 2 counts under its limit and 2000 not held",
			sel.Errors, sel.ErrorSamples, sel.Failed, sel.Unheld, len(sel.Rounds[0].Idle))
	}
	if !std.Valid || len(std.Rounds[0].Idle) != 3 {
		t.Errorf("std: valid %v, %d points; want every count held", std.Valid, len(std.Rounds[0].Idle))
	}
	if !strings.Contains(stdout, "not held") {
		t.Errorf("the table does not say select did not hold 2000:\n%s", stdout)
	}
	// select is first, so the first colour: its curve through 10 and 100 is drawn.
	svg := readFile(t, filepath.Join(out, "idle.svg"))
	checkXML(t, svg)
	if !bytes.Contains(svg, []byte(`stroke="#4477aa" stroke-width="2"`)) || !bytes.Contains(svg, []byte("select (not held from 2000)")) {
		t.Errorf("the chart lacks select's curve up to the counts it held:\n%s", svg)
	}
}

// TestBenchDefaultOut runs `reactor bench` without --out, as the README does: the results go
// to a fresh directory under the temporary directory, not into the working directory, and the
// last line of stderr says where.
func TestBenchDefaultOut(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs load for a second")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "reactor")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	work, tmp := t.TempDir(), t.TempDir()
	for run := 1; run <= 2; run++ {
		_, stderr, code := runBinIn(t, work, []string{"TMPDIR=" + tmp}, bin, "bench", "--quick", "--proto", "echo", "--backends", "std")
		if code != 0 {
			t.Fatalf("run %d: exit %d\n%s", run, code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if last := lines[len(lines)-1]; !strings.Contains(last, filepath.Join(tmp, "reactor-bench-echo-")) {
			t.Errorf("run %d: last line %q does not name a reactor-bench-echo-… directory under %s", run, last, tmp)
		}
	}
	if left, _ := os.ReadDir(work); len(left) != 0 {
		t.Errorf("the working directory got %v; want nothing written there", left)
	}
	// Two runs, two directories, each with the whole report.
	runs, _ := filepath.Glob(filepath.Join(tmp, "reactor-bench-echo-*"))
	if len(runs) != 2 {
		t.Fatalf("directories %v; want one per run", runs)
	}
	for _, d := range runs {
		for _, f := range []string{"echo.json", "echo.md", "echo.svg"} {
			if _, err := os.Stat(filepath.Join(d, f)); err != nil {
				t.Error(err)
			}
		}
	}
}

// TestBenchWith measures two builds in one run: the test binary as itself and, through --with,
// as another build. Both must be started, measured and valid, named apart, and usable as --ref.
func TestBenchWith(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs load for several seconds")
	}
	bin := reactorBinary(t)

	t.Run("same-binary", func(t *testing.T) {
		out := t.TempDir()
		stdout, stderr, code := runBin(t, bin, "bench", "--quick", "--proto", "echo", "--backends", "epoll,native-gnet",
			"--with", "same="+bin, "--ref", "same:epoll", "--out", out)
		if code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		rep := readReport(t, filepath.Join(out, "echo.json"))
		if got, want := strings.Join(rep.Settings.Order, ","), "epoll,same:epoll,native-gnet,same:native-gnet"; got != want {
			t.Errorf("order %s; want %s", got, want)
		}
		if strings.Contains(rep.Command, filepath.Dir(bin)) {
			t.Errorf("the report records a path of this machine: %s", rep.Command)
		}
		for _, r := range rep.Scenarios[0].Results {
			if !r.Valid || r.Errors != 0 || float64(r.CPUPerOp.Median) <= 0 {
				t.Errorf("%s: valid %v, errors %d %v, failed %q, %v CPU µs/op; want valid and measured",
					r.Contender.Name, r.Valid, r.Errors, r.ErrorSamples, r.Failed, r.CPUPerOp.Median)
			}
			if strings.HasPrefix(r.Contender.Name, "same:") != (r.Contender.Build == "same") {
				t.Errorf("%s: build %q", r.Contender.Name, r.Contender.Build)
			}
		}
		if !strings.Contains(stdout, "same:epoll") {
			t.Errorf("the table does not name same:epoll:\n%s", stdout)
		}
		for _, r := range rep.Scenarios[0].Results {
			want := bench.AuditOK
			if r.Contender.Kind == bench.KindNative {
				want = bench.AuditNone
			}
			if r.Audit.Status != want {
				t.Errorf("%s: audit %+v; want %s", r.Contender.Name, r.Audit, want)
			}
		}
	})

	t.Run("older-build", func(t *testing.T) {
		// A build from before --metrics-addr: its help does not offer it and its serve refuses
		// it. It must still be measured, and said not to be audited.
		old := filepath.Join(t.TempDir(), "reactor")
		script := `#!/bin/sh
for a in "$@"; do
	case "$a" in
	--metrics-addr|-metrics-addr|--metrics-addr=*) echo "flag provided but not defined: -metrics-addr" >&2; exit 2;;
	--help|-help|-h) "` + bin + `" "$@" 2>&1 | grep -v -e -metrics-addr -e pprof >&2; exit 0;;
	esac
done
exec "` + bin + `" "$@"
`
		if err := os.WriteFile(old, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		stdout, stderr, code := runBin(t, bin, "bench", "--quick", "--proto", "echo", "--backends", "epoll", "--with", "old="+old, "--out", out)
		if code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		res := readReport(t, filepath.Join(out, "echo.json")).Scenarios[0].Results
		if len(res) != 2 || res[0].Audit.Status != bench.AuditOK || !res[1].Valid || res[1].Audit.Status != bench.AuditNone ||
			!strings.Contains(res[1].Audit.Why, "no --metrics-addr") {
			t.Errorf("results %+v; want epoll audited, old:epoll valid and not audited, and why", res)
		}
	})

	t.Run("other-binary-started", func(t *testing.T) {
		// A "build" that exits at once: its contender fails and this build's does not, so
		// the --with binary is the one started for it.
		broken := filepath.Join(t.TempDir(), "reactor")
		if err := os.WriteFile(broken, []byte("#!/bin/sh\necho broken build >&2\nexit 3\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		_, stderr, code := runBin(t, bin, "bench", "--quick", "--proto", "echo", "--backends", "epoll", "--with", "broken="+broken, "--out", out)
		if code != 1 {
			t.Errorf("exit %d; want 1\n%s", code, stderr)
		}
		res := readReport(t, filepath.Join(out, "echo.json")).Scenarios[0].Results
		if len(res) != 2 || !res[0].Valid || !strings.Contains(res[1].Failed, "broken build") {
			t.Errorf("results %+v; want epoll valid and broken:epoll failed with the script's message", res)
		}
	})

	plain := filepath.Join(t.TempDir(), "reactor")
	if err := os.WriteFile(plain, []byte("not a program"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, with, want string }{
		{"missing", "old=" + filepath.Join(t.TempDir(), "nosuch"), "no such file"},
		{"not-executable", "old=" + plain, "not an executable file"},
		{"directory", "old=" + t.TempDir(), "not an executable file"},
		{"no-name", "=" + bin, "want NAME=PATH"},
		{"slash-in-name", "a/b=" + bin, "may not contain"},
	} {
		t.Run("bad-"+tc.name, func(t *testing.T) {
			_, stderr, code := runBin(t, bin, "bench", "--quick", "--backends", "epoll", "--with", tc.with, "--out", t.TempDir())
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
}
