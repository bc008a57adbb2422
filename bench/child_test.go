package bench

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary play a server child: started by the bench as
// `<self> serve --backend B --proto P --addr A --loops N`, it behaves as the variable says.
const helperEnv = "BENCH_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperChild(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// helperChild is a stand-in server: "late" announces itself 300 ms before it listens (as a
// careless server might), then echoes — or with --proto proxy relays each connection to
// --upstream — until SIGTERM; "crash" writes a complaint and exits 3; "http" refuses to start
// unless told --proto http, then answers every request (counted by its empty line) with
// okResponse. Flags other than serve's four (and --upstream) make it exit 2, as an older
// build's serve refuses --metrics-addr; but "counting" takes it too, and echoes while it
// counts the bytes each way in metrics served there, as reactor serve does, and
// "counting-off" counts one byte too many out on every connection.
func helperChild(mode string, args []string) int {
	if strings.HasPrefix(mode, "counting") {
		return countingChild(mode == "counting-off", args)
	}
	if len(args) == 0 || args[0] != "serve" {
		fmt.Fprintln(os.Stderr, "helper: want serve …")
		return 2
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	backend := fs.String("backend", "", "")
	proto := fs.String("proto", "", "")
	addr := fs.String("addr", "", "")
	upstream := fs.String("upstream", "", "")
	fs.Int("loops", 0, "")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if mode == "crash" {
		fmt.Fprintln(os.Stderr, "helper: boom, cannot serve")
		return 3
	}
	if mode == "http" && *proto != "http" {
		fmt.Fprintf(os.Stderr, "helper: told to serve %q; want http\n", *proto)
		return 3
	}
	fmt.Fprintf(os.Stderr, "level=INFO msg=serving proto=%s addr=%s backend=%s\n", *proto, *addr, *backend)
	time.Sleep(300 * time.Millisecond)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				switch {
				case *proto == "proxy":
					relay(c, *upstream)
					return
				case mode != "http":
					_, _ = io.Copy(c, c)
					return
				}
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						if _, err := io.WriteString(c, okResponse); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	ln.Close()
	return 0
}

// relay proxies c to upstream both ways, passing on the client's end of stream.
func relay(c net.Conn, upstream string) {
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer u.Close()
	go func() {
		_, _ = io.Copy(u, c)
		u.(*net.TCPConn).CloseWrite()
	}()
	_, _ = io.Copy(c, u)
}

// countingChild is the "counting" helper: an echo server that keeps its counters as reactor
// serve does and serves them on --metrics-addr, logging where first.
func countingChild(off bool, args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.String("backend", "", "")
	fs.String("proto", "", "")
	addr := fs.String("addr", "", "")
	fs.Int("loops", 0, "")
	metricsAddr := fs.String("metrics-addr", "", "")
	if len(args) == 0 || fs.Parse(args[1:]) != nil {
		return 2
	}
	var in, out, accepted, closed atomic.Int64
	mln, err := net.Listen("tcp", *metricsAddr)
	if err != nil {
		return 1
	}
	go http.Serve(mln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "reactor_received_bytes_total{backend=\"c\",proto=\"echo\"} %d\n", in.Load())
		fmt.Fprintf(w, "reactor_sent_bytes_total{backend=\"c\",proto=\"echo\"} %d\n", out.Load())
		c := closed.Load()
		fmt.Fprintf(w, "reactor_connections_accepted_total{backend=\"c\",proto=\"echo\"} %d\n", accepted.Load())
		fmt.Fprintf(w, "reactor_connections_active{backend=\"c\",proto=\"echo\"} %d\n", accepted.Load()-c)
	}))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return 1
	}
	fmt.Fprintf(os.Stderr, "level=INFO msg=metrics addr=%s\n", mln.Addr())
	fmt.Fprintf(os.Stderr, "level=INFO msg=serving addr=%s\n", ln.Addr())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer closed.Add(1)
				defer c.Close()
				buf := make([]byte, 64<<10)
				if off {
					out.Add(1)
				}
				for {
					n, err := c.Read(buf)
					in.Add(int64(n))
					if err != nil {
						return
					}
					m, err := c.Write(buf[:n])
					out.Add(int64(m))
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	return 0
}

// TestChildAudited runs the bench against servers that keep counters as reactor serve does:
// one whose counters are right is audited ok, with what the load did; one that counts a byte
// too many is caught, its result invalid with an audit-mismatch error; an older server that
// takes no --metrics-addr is started without it and said not to be audited.
func TestChildAudited(t *testing.T) {
	defer func(d time.Duration) { settleTimeout = d }(settleTimeout)
	settleTimeout = 300 * time.Millisecond
	for _, c := range []struct {
		mode, status, why string
	}{
		{"counting", AuditOK, ""},
		{"counting-off", AuditMismatch, "bytes out: server counted"},
		{"late", AuditNone, "its serve has no --metrics-addr: an older build"},
	} {
		t.Setenv(helperEnv, c.mode)
		o := Defaults("echo", true)
		o.Pin = false
		o.Rounds = 2
		o.Self = os.Args[0]
		o.Contenders = []Contender{{Name: c.mode, Kind: KindBackend}}
		rep, err := Run(context.Background(), o, nil)
		if err != nil {
			t.Fatal(err)
		}
		r := rep.Scenarios[0].Results[0]
		a := r.Audit
		if a.Status != c.status || !strings.Contains(a.First+a.Why, c.why) {
			t.Errorf("%s: audit %+v; want %s, %q", c.mode, a, c.status, c.why)
		}
		if c.status == AuditMismatch {
			if r.Valid || r.ErrorKinds["audit-mismatch"] != 2 || a.Mismatched != 2 {
				t.Errorf("%s: valid %v, errors %v; want invalid with an audit-mismatch error in each round", c.mode, r.Valid, r.ErrorKinds)
			}
			continue
		}
		if !r.Valid || r.Errors != 0 {
			t.Errorf("%s: valid %v, errors %v %v; want valid", c.mode, r.Valid, r.ErrorKinds, r.ErrorSamples)
		}
		if c.status == AuditOK {
			// Every byte the load wrote was echoed and read: as many in as out, at least
			// the messages the window counted.
			if a.Audited != 2 || a.Total.BytesIn != a.Total.BytesOut || a.Total.BytesIn < r.Rounds[0].Bytes {
				t.Errorf("%s: audit %+v after %d bytes in the first window; want 2 rounds, in = out ≥ the window's", c.mode, a, r.Rounds[0].Bytes)
			}
		}
	}
}

func TestChildAnnouncedEarlyIsNotCountedAgainst(t *testing.T) {
	t.Setenv(helperEnv, "late")
	o := Defaults("echo", true)
	o.Pin = true
	o.Self = os.Args[0]
	o.Contenders = []Contender{{Name: "late", Kind: KindBackend}}
	rep, err := Run(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Scenarios[0].Results[0]
	if !r.Valid || r.Errors != 0 || float64(r.CPUPerOp.Median) <= 0 {
		t.Fatalf("valid %v, errors %v %v, failed %q, CPU %v; want a clean measurement", r.Valid, r.ErrorKinds, r.ErrorSamples, r.Failed, r.CPUPerOp.Median)
	}
	if rep.Settings.Pinned {
		if cpus := r.Rounds[0].ServerCPUs; cpus == "" || strings.ContainsAny(cpus, "-,") {
			t.Errorf("pinned, yet the child may run on CPUs %q", cpus)
		}
	}
	if left := helperChildren(); len(left) > 0 {
		t.Errorf("children left running: %v", left)
	}
}

func TestChildThatCannotServeIsReported(t *testing.T) {
	t.Setenv(helperEnv, "crash")
	o := Defaults("echo", true)
	o.Pin = false
	o.Rounds = 2
	o.Self = os.Args[0]
	o.Contenders = []Contender{{Name: "crashy", Kind: KindBackend}}
	rep, err := Run(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Scenarios[0].Results[0]
	if r.Valid || !strings.Contains(r.Failed, "boom") || len(r.Rounds) != 2 {
		t.Errorf("valid %v, failed %q, %d rounds; want invalid, the child's complaint, 2 rounds", r.Valid, r.Failed, len(r.Rounds))
	}
}

// TestRunProxy measures a stand-in proxy (this test binary as a child, relaying to a stand-in
// upstream echo server, another child) in every proxy scenario, beside a haproxy that cannot
// be found: it is reported as skipped, with the reason, in the progress, the tables and the
// JSON, and the run is otherwise whole.
func TestRunProxy(t *testing.T) {
	t.Setenv(helperEnv, "late")
	t.Setenv("PATH", t.TempDir()) // no haproxy here
	o := Defaults("proxy", true)
	o.Pin = false
	o.Self = os.Args[0]
	o.Contenders = []Contender{{Name: "relay", Kind: KindBackend}, ParseContender("haproxy")}
	var progress bytes.Buffer
	rep, err := Run(context.Background(), o, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Skipped) != 1 || rep.Skipped[0].Name != "haproxy" || !strings.Contains(rep.Skipped[0].Why, "not installed") {
		t.Errorf("skipped %+v; want haproxy, not installed", rep.Skipped)
	}
	if !strings.Contains(progress.String(), "haproxy skipped: haproxy is not installed") {
		t.Errorf("the progress does not say haproxy was skipped:\n%s", progress.String())
	}
	var names []string
	for _, sc := range rep.Scenarios {
		names = append(names, sc.Name)
		if len(sc.Results) != 1 {
			t.Fatalf("%s: %d results; want the relay's alone", sc.Name, len(sc.Results))
		}
		r := sc.Results[0]
		if !r.Valid || r.Errors != 0 {
			t.Errorf("%s: valid %v, errors %v %v, failed %q", sc.Name, r.Valid, r.ErrorKinds, r.ErrorSamples, r.Failed)
			continue
		}
		switch sc.Name {
		case ScenarioIdle:
			if len(r.Sweep) != len(o.IdleSweep) || float64(r.MemPerConn.Median) <= 0 {
				t.Errorf("idle: %d points, %v bytes/pair", len(r.Sweep), r.MemPerConn.Median)
			}
		case ScenarioRate:
			if r.Latency == nil || r.Latency.Count == 0 {
				t.Error("rate: no latency")
			}
		default:
			if float64(r.Throughput.Median) <= 0 || float64(r.CPUPerOp.Median) <= 0 {
				t.Errorf("%s: %v %s, %v CPU µs/%s; want both measured", sc.Name, r.Throughput.Median, sc.Unit, r.CPUPerOp.Median, sc.Op)
			}
		}
	}
	if want := []string{"rr", "rate", "bulk", "idle"}; !slices.Equal(names, want) {
		t.Errorf("scenarios %v; want %v", names, want)
	}
	var text, js bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"haproxy was not measured: haproxy is not installed", "not run: haproxy is not installed", "MiB/s", "CPU µs/MiB", "bytes/pair"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, text.String())
		}
	}
	if !strings.Contains(js.String(), `"skipped"`) || !strings.Contains(js.String(), `"upstream"`) {
		t.Errorf("the JSON lacks the skipped contender or the upstream:\n%s", js.String())
	}
	if left := helperChildren(); len(left) > 0 {
		t.Errorf("children left running: %v", left)
	}

	// With nothing left to measure, the run says why instead of reporting nothing.
	o.Contenders = o.Contenders[1:]
	if _, err := Run(context.Background(), o, nil); err == nil || !strings.Contains(err.Error(), "haproxy is not installed") {
		t.Errorf("only a missing haproxy: err %v; want nothing to measure, and why", err)
	}
}

// TestChildIdleHTTP: with IdleProto http the children serve http, with no flag but serve's
// four (so http1's idle timeout stays at its default, and older builds take the command line),
// and every idle connection makes a validated GET before it rests.
func TestChildIdleHTTP(t *testing.T) {
	t.Setenv(helperEnv, "http")
	o := Defaults("idle", true)
	o.Pin = false
	o.IdleProto = "http"
	o.Self = os.Args[0]
	o.Contenders = []Contender{{Name: "h", Kind: KindBackend}}
	rep, err := Run(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := rep.Scenarios[0]
	r := sc.Results[0]
	if !r.Valid || r.Errors != 0 || r.Failed != "" || len(r.Rounds[0].Idle) != len(o.IdleSweep) {
		t.Fatalf("valid %v, errors %v %v, failed %q, %d points; want every count measured cleanly",
			r.Valid, r.ErrorKinds, r.ErrorSamples, r.Failed, len(r.Rounds[0].Idle))
	}
	if rep.Settings.IdleProto != "http" || !strings.Contains(sc.Describe, "HTTP keep-alive") {
		t.Errorf("report says idle proto %q, %q; want http", rep.Settings.IdleProto, sc.Describe)
	}

	// The same children as echo servers: they refuse to start.
	o.IdleProto = ""
	rep, err = Run(context.Background(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := rep.Scenarios[0].Results[0]; r.Valid || !strings.Contains(r.Failed, "want http") {
		t.Errorf("echo idle against the http-only helper: valid %v, failed %q; want it refused", r.Valid, r.Failed)
	}
	if rep.Settings.IdleProto != "echo" {
		t.Errorf("report says idle proto %q; want echo, the default", rep.Settings.IdleProto)
	}
}

// helperChildren lists running processes of this test binary started as children.
func helperChildren() []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 1 && args[0] == os.Args[0] && args[1] == "serve" {
			out = append(out, e.Name())
		}
	}
	return out
}
