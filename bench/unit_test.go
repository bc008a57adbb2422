package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	for _, v := range []int64{0, 1, 127, 128, 129, 1000, 65535, 1 << 20, 123456789, 1 << 39} {
		i := bucketOf(v)
		lo, hi := bucketBounds(i)
		if v < lo || v >= hi {
			t.Errorf("value %d in bucket %d = [%d, %d)", v, i, lo, hi)
		}
		if v >= histExact && float64(hi-lo)/float64(lo) > 1.0/histSub+1e-9 {
			t.Errorf("bucket of %d is [%d, %d): wider than 1/%d", v, lo, hi, histSub)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var a, b Histogram
	for i := 1; i <= 10000; i++ {
		d := time.Duration(i) * time.Microsecond
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	if a.Count() != 10000 {
		t.Fatalf("count %d, want 10000", a.Count())
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5000 * time.Microsecond}, {0.99, 9900 * time.Microsecond}, {0.999, 9990 * time.Microsecond}, {1, 10000 * time.Microsecond}} {
		got := a.Quantile(c.q)
		if math.Abs(float64(got-c.want))/float64(c.want) > 0.02 {
			t.Errorf("q%.3f = %v, want %v ±2%%", c.q, got, c.want)
		}
	}
	var empty Histogram
	if got := empty.Quantile(0.5); got != 0 {
		t.Errorf("empty histogram q0.5 = %v, want 0", got)
	}
}

func TestCheckResponse(t *testing.T) {
	ok := okResponse
	cases := []struct {
		name string
		in   string
		n    int
		kind errKind
	}{
		{"complete", ok, len(ok), -1},
		{"two pipelined, first", ok + ok, len(ok), -1},
		{"head split", ok[:20], 0, -1},
		{"body split", ok[:len(ok)-3], 0, -1},
		{"lower-case header", strings.Replace(ok, "Content-Length", "content-length", 1), len(ok), -1},
		{"HTTP/1.0", strings.Replace(ok, "HTTP/1.1", "HTTP/1.0", 1), len(ok), -1},
		{"wrong status", strings.Replace(ok, "200 OK", "404 No", 1), len(ok), errStatus},
		{"wrong body", strings.Replace(ok, "World", "Wurld", 1), len(ok), errBody},
		{"short body", strings.Replace(strings.Replace(ok, "13", "12", 1), "World!", "World", 1), len(ok) - 1, errBody},
		{"no length", "HTTP/1.1 200 OK\r\nServer: t\r\n\r\nHello, World!", -1, errMalformed},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nd\r\nHello, World!\r\n0\r\n\r\n", -1, errMalformed},
		{"not http", "SSH-2.0-OpenSSH\r\n\r\n", -1, errMalformed},
		{"bad length", strings.Replace(ok, "13", "1x", 1), -1, errMalformed},
		{"endless head", strings.Repeat("X", maxResponseHead+1), -1, errMalformed},
	}
	for _, c := range cases {
		n, kind := checkResponse([]byte(c.in))
		if n != c.n || kind != c.kind {
			t.Errorf("%s: got (%d, %d); want (%d, %d)", c.name, n, kind, c.n, c.kind)
		}
	}
}

func TestCheckResponseAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	buf := []byte(okResponse + okResponse)
	allocs := testing.AllocsPerRun(1000, func() {
		if n, k := checkResponse(buf); n <= 0 || k >= 0 {
			t.Fatal("valid response rejected")
		}
	})
	if allocs != 0 {
		t.Errorf("checkResponse allocates %.1f times per response; want 0", allocs)
	}
}

func TestParseChatLine(t *testing.T) {
	cases := []struct {
		in      string
		s       int
		seq, ts int64
		ok      bool
	}{
		{"m3: 17 123456\n", 3, 17, 123456, true},
		{"m0: 1 5\r\n", 0, 1, 5, true},
		{"m3: 17\n", 0, 0, 0, false},
		{"alice: hi\n", 0, 0, 0, false},
		{"m3: x 1\n", 0, 0, 0, false},
		{"m: 1 2\n", 0, 0, 0, false},
		{"m3: 1 2 3\n", 0, 0, 0, false},
		{"m3: 1 2 xxxx\n", 3, 1, 2, true},
		{"m3: 1 2 xxyx\n", 0, 0, 0, false},
	}
	for _, c := range cases {
		s, seq, ts, ok := parseChatLine([]byte(c.in))
		if ok != c.ok || ok && (s != c.s || seq != c.seq || ts != c.ts) {
			t.Errorf("parseChatLine(%q) = %d, %d, %d, %v; want %d, %d, %d, %v", c.in, s, seq, ts, ok, c.s, c.seq, c.ts, c.ok)
		}
	}
}

func TestStats(t *testing.T) {
	s := spreadOf([]float64{5, math.NaN(), 1, 3})
	if s.Median != 3 || s.Min != 1 || s.Max != 5 || s.N != 3 {
		t.Errorf("spreadOf = %+v; want median 3, 1–5, n 3", s)
	}
	if s := spreadOf([]float64{4, 2}); s.Median != 3 {
		t.Errorf("median of 2, 4 = %v; want 3", s.Median)
	}
	if s := spreadOf([]float64{math.NaN()}); s.N != 0 || !math.IsNaN(s.Median) {
		t.Errorf("spreadOf(NaN) = %+v; want empty", s)
	}
	// Round 2 was slow for both: the ratio does not care.
	if r := medianRatio([]float64{200, 100, 220}, []float64{100, 50, 100}); r != 2 {
		t.Errorf("medianRatio = %v; want 2", r)
	}
	if !overlaps(Spread{Min: 1, Max: 3, N: 3}, Spread{Min: 2.5, Max: 4, N: 3}) || overlaps(Spread{Min: 1, Max: 2, N: 3}, Spread{Min: 2.5, Max: 4, N: 3}) {
		t.Error("overlaps wrong")
	}
}

func TestRankTies(t *testing.T) {
	mk := func(name string, lo, med, hi float64) Result {
		return Result{Contender: Contender{Name: name}, Valid: true, CPUPerOp: Range{Median: Num(med), Min: Num(lo), Max: Num(hi), N: 5}}
	}
	rs := []Result{mk("slow", 5, 6, 7), mk("a", 1, 1.2, 1.5), mk("b", 1.4, 1.6, 1.8), {Contender: Contender{Name: "bad"}, Errors: 3}}
	rank("pipelined", rs)
	want := map[string]string{"a": "1=", "b": "2=", "slow": "3", "bad": "–"}
	for _, r := range rs {
		if got := rankHuman(r); got != want[r.Contender.Name] {
			t.Errorf("%s ranked %q; want %q", r.Contender.Name, got, want[r.Contender.Name])
		}
	}
}

func TestParseWrk(t *testing.T) {
	out := []byte(`Running 2s test @ http://127.0.0.1:8080/plaintext
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.02ms  321.00us   8.00ms   90.00%
    Req/Sec   123.45k    10.00k  150.00k    70.00%
  245678 requests in 2.00s, 30.00MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec: 122839.00
Transfer/sec:     15.00MB
`)
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.requests != 245678 || r.seconds != 2 || r.non2xx != 7 || r.read != 3 || r.timeout != 2 {
		t.Errorf("parseWrk = %+v", r)
	}
	if _, err := parseWrk([]byte("unable to connect")); err == nil {
		t.Error("parseWrk accepted output without a summary")
	}
}

func TestProcSelf(t *testing.T) {
	if !pinSupported {
		t.Skip("no /proc here")
	}
	cpu, err := cpuTime(os.Getpid())
	if err != nil || cpu < 0 {
		t.Fatalf("cpuTime(self) = %v, %v", cpu, err)
	}
	rss, peak, err := memory(os.Getpid())
	if err != nil || rss <= 0 || peak < rss {
		t.Fatalf("memory(self) = %d, %d, %v; want 0 < rss ≤ peak", rss, peak, err)
	}
	if cpuAllowedList(os.Getpid()) == "" {
		t.Error("no Cpus_allowed_list for self")
	}
}

func TestCPUList(t *testing.T) {
	for _, c := range []struct {
		in   []int
		want string
	}{{[]int{1}, "1"}, {[]int{1, 2, 3}, "1-3"}, {[]int{0, 2, 3, 5}, "0,2-3,5"}} {
		if got := cpuList(c.in); got != c.want {
			t.Errorf("cpuList(%v) = %q; want %q", c.in, got, c.want)
		}
	}
}

func TestNumJSON(t *testing.T) {
	b, err := json.Marshal(struct{ A, B Num }{Num(math.NaN()), 1.5})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"A":null,"B":1.5}` {
		t.Errorf("got %s", b)
	}
	var back struct{ A, B Num }
	if err := json.Unmarshal(b, &back); err != nil || !math.IsNaN(float64(back.A)) || back.B != 1.5 {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}

// wellFormed fails the test unless doc parses as XML.
func wellFormed(t *testing.T, doc []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
	}
}

var sink int

func TestSchedTimeAgreesWithTicks(t *testing.T) {
	if !pinSupported {
		t.Skip("no /proc here")
	}
	a := readCPU(os.Getpid())
	// Burn CPU until the ticks have moved by 100 ms (the machine may give us only a share of
	// a core, so wall time says little), at most 5 s.
	var b cpuReading
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
		for i := 0; i < 1e6; i++ {
			sink++
		}
		if b = readCPU(os.Getpid()); b.ticks-a.ticks >= 0.1 {
			break
		}
	}
	got, exact := cpuBetween(a, b)
	if !exact || got < 0.05 {
		t.Errorf("cpuBetween = %v s (exact %v); readings %+v → %+v", got, exact, a, b)
	}
	if _, exact := cpuBetween(cpuReading{ticks: 1, sched: 1}, cpuReading{ticks: 2, sched: 1.2}); exact {
		t.Error("a scheduler figure far below the ticks (an exited thread) was trusted")
	}
}

func TestCompareRanks(t *testing.T) {
	mk := func(cpu map[string][3]float64) *Report {
		sc := Scenario{Name: ScenarioPipelined}
		for _, n := range []string{"a", "b", "c"} {
			v := cpu[n]
			sc.Results = append(sc.Results, Result{Contender: Contender{Name: n}, Valid: true,
				CPUPerOp: Range{Min: Num(v[0]), Median: Num(v[1]), Max: Num(v[2]), N: 5}})
		}
		rank(sc.Name, sc.Results)
		return &Report{Scenarios: []Scenario{sc}}
	}
	first := mk(map[string][3]float64{"a": {1, 1.1, 1.2}, "b": {1.15, 1.3, 1.4}, "c": {2, 2.1, 2.2}})
	same := mk(map[string][3]float64{"a": {1, 1.05, 1.1}, "b": {1.2, 1.3, 1.4}, "c": {2, 2.2, 2.3}})
	swapNoise := mk(map[string][3]float64{"a": {1.1, 1.3, 1.4}, "b": {1.0, 1.2, 1.3}, "c": {2, 2.1, 2.2}})
	swapReal := mk(map[string][3]float64{"a": {3, 3.1, 3.2}, "b": {1.0, 1.2, 1.3}, "c": {2, 2.1, 2.2}})
	for _, c := range []struct {
		name string
		b    *Report
		want string
	}{{"same", same, "same order"}, {"noise", swapNoise, "within noise (overlapping min–max ranges: a/b)"}, {"real", swapReal, "DIFFERS beyond noise for a/c"}} {
		lines := CompareRanks(first, c.b)
		if len(lines) != 1 || !strings.Contains(lines[0], c.want) {
			t.Errorf("%s: %q; want it to say %q", c.name, lines, c.want)
		}
	}
}

// TestIdleChartSaysNothingOfThroughput: an idle chart has no throughput, so an invalid server's
// bar must not say its answers were "not counted as throughput"; the http chart still does.
func TestIdleChartSaysNothingOfThroughput(t *testing.T) {
	invalid := Result{Contender: Contender{Name: "bad"}, Errors: 3, ErrorKinds: map[string]int64{"wrong-bytes": 3}}
	for _, c := range []struct {
		proto, scenario string
		throughput      bool
	}{
		{"idle", "idle", false},
		{"http", ScenarioPipelined, true},
	} {
		rep := &Report{Proto: c.proto, Settings: Settings{Rounds: 1, IdleSweep: []int{10, 100}},
			Scenarios: []Scenario{{Name: c.scenario, Results: []Result{invalid}}}}
		var svg bytes.Buffer
		if err := rep.WriteSVG(&svg); err != nil {
			t.Fatal(err)
		}
		wellFormed(t, svg.Bytes())
		if !strings.Contains(svg.String(), "INVALID: 3 errors") {
			t.Errorf("%s: the chart does not mark the invalid server:\n%s", c.proto, svg.String())
		}
		if got := strings.Contains(svg.String(), "throughput"); got != c.throughput {
			t.Errorf("%s: chart mentions throughput %v; want %v:\n%s", c.proto, got, c.throughput, svg.String())
		}
	}
}
