//go:build linux

// Command progression measures the rows of docs/progression.md that the side-by-side bench
// (reactor bench) does not: what a model costs the whole server — every process and thread of
// it, children included — in memory per idle connection and in context switches per request;
// how long a connection waits for its own process (process per connection) against prefork;
// what busy polling burns with nothing to do; what edge-triggered readiness saves over
// level-triggered; where select stops taking connections; and how the chat room drops a member
// that does not read.
//
//	go build -o DIR/reactor ./cmd/reactor
//	go run ./bench/progression --reactor DIR/reactor --out bench/results
//
// It starts each server with reactor serve (loopback, port 0), pins it to CPU 0 with
// GOMAXPROCS=1 and one loop, and runs its own clients on the other CPUs, as reactor bench does.
// Every answer is checked; a wrong one stops the run. It writes progression-models.json and
// progression-models.md into --out and prints the Markdown.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	bin := flag.String("reactor", "", "the reactor `binary` to measure (go build -o DIR/reactor ./cmd/reactor)")
	out := flag.String("out", "", "`dir` for progression-models.json and .md (default: print only)")
	idle := flag.Int("idle", 200, "idle connections for memory per connection")
	trips := flag.Int("trips", 2000, "echo round trips per active connection, for context switches and CPU per request")
	active := flag.Int("active", 8, "active connections (of the idle ones) for context switches and CPU per request")
	connects := flag.Int("connects", 200, "connections opened one after another for connect latency")
	rounds := flag.Int("rounds", 3, "rounds: every measurement once per round, the report giving median (min–max)")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "progression: --reactor is required (go build -o DIR/reactor ./cmd/reactor)")
		os.Exit(2)
	}
	pinClient()
	r := &report{Machine: machine(), Idle: *idle, Active: *active, Trips: *trips, Connects: *connects}
	steps := []struct {
		name string
		fn   func(*round, *report, string) error
	}{
		{"models", measureModels},
		{"connect", measureConnect},
		{"idle CPU", measureIdleCPU},
		{"edge vs level", measureEdge},
		{"select cap", measureSelectCap},
		{"chat slow member", measureChatDrop},
	}
	began := time.Now()
	for i := range *rounds {
		rd := &round{}
		for _, s := range steps {
			fmt.Fprintf(os.Stderr, "progression: round %d of %d: %s…\n", i+1, *rounds, s.name)
			if err := s.fn(rd, r, *bin); err != nil {
				fmt.Fprintf(os.Stderr, "progression: %s: %v\n", s.name, err)
				os.Exit(1)
			}
		}
		r.Rounds = append(r.Rounds, *rd)
	}
	r.Seconds = time.Since(began).Seconds()
	r.LoadAfter = loadAvg()
	md := r.markdown()
	fmt.Print(md)
	if *out != "" {
		js, _ := json.MarshalIndent(r, "", "  ")
		if err := os.WriteFile(filepath.Join(*out, "progression-models.json"), append(js, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "progression:", err)
			os.Exit(1)
		}
		if err := os.WriteFile(filepath.Join(*out, "progression-models.md"), []byte(md), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "progression:", err)
			os.Exit(1)
		}
	}
}

// pinClient keeps this program off CPU 0, where the servers run, when there is another CPU.
func pinClient() {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil || set.Count() < 2 {
		return
	}
	set.Clear(0)
	unix.SchedSetaffinity(0, &set)
}

type report struct {
	Machine   string  `json:"machine"`
	LoadAfter string  `json:"load_after"`
	Seconds   float64 `json:"seconds"`
	Idle      int     `json:"idle_conns"`
	Active    int     `json:"active_conns"`
	Trips     int     `json:"trips_per_conn"`
	Connects  int     `json:"connects"`
	Rounds    []round `json:"rounds"`
}

// round is one pass over every measurement.
type round struct {
	Models   []modelRow   `json:"models"`
	Connect  []connectRow `json:"connect"`
	IdleCPU  []idleCPURow `json:"idle_cpu"`
	Edge     []edgeRow    `json:"edge"`
	Select   selectRow    `json:"select"`
	ChatDrop chatRow      `json:"chat_drop"`
}

type modelRow struct {
	Backend       string  `json:"backend"`
	Processes     int     `json:"processes"` // with the idle connections open
	Threads       int     `json:"threads"`
	PssPerConnKiB float64 `json:"pss_per_conn_kib"` // (PSS of the tree with N − with none) / N
	RssPerConnKiB float64 `json:"rss_per_conn_kib"`
	CtxPerReq     float64 `json:"ctx_switches_per_req"` // voluntary + involuntary, all threads of the tree
	VolPerReq     float64 `json:"voluntary_per_req"`
	CPUPerReqUs   float64 `json:"cpu_us_per_req"`
}

type connectRow struct {
	Server string  `json:"server"`
	P50us  float64 `json:"p50_us"`
	P90us  float64 `json:"p90_us"`
	P99us  float64 `json:"p99_us"`
	MaxUs  float64 `json:"max_us"`
}

type idleCPURow struct {
	Backend   string  `json:"backend"`
	CPUPerSec float64 `json:"cpu_seconds_per_second"`
	// RunnablePerSec adds the time the server's threads were ready to run but waited for a
	// CPU: a spinning loop is runnable all the time, whatever share a loaded machine gives it.
	RunnablePerSec float64 `json:"runnable_seconds_per_second"`
	WindowSec      float64 `json:"window_seconds"`
}

type edgeRow struct {
	Mode            string  `json:"mode"`
	CPUPerReqUs     float64 `json:"cpu_us_per_req"`
	CtxPerReq       float64 `json:"ctx_switches_per_req"`
	BulkCPUPerMiBUs float64 `json:"bulk_cpu_us_per_mib"`
	SmallP99Us      float64 `json:"small_p99_us_beside_bulk"`
}

type selectRow struct {
	FirstRefused   int  `json:"first_refused"` // 1-based connection number
	AlsoRefused    int  `json:"also_refused"`  // of the attempts after it
	Attempts       int  `json:"attempts_after"`
	OldStillServed bool `json:"old_still_served"`
	NewServedAfter bool `json:"new_served_after_closing_some"`
}

type chatRow struct {
	MaxOutbound    int     `json:"max_outbound"`
	LineBytes      int     `json:"line_bytes"`
	LinesUntilDrop int     `json:"lines_until_drop"`
	BytesUntilDrop int     `json:"bytes_until_drop"`
	MsUntilDrop    float64 `json:"ms_until_drop"`
	ReaderGotAll   bool    `json:"reader_got_all"`
	ReaderP50us    float64 `json:"reader_p50_us"`
	ReaderP99us    float64 `json:"reader_p99_us"`
	Announcement   string  `json:"announcement"`
	DroppedCounted bool    `json:"dropped"`
}

// server is one reactor serve process.
type server struct {
	cmd  *exec.Cmd
	addr string
	pid  int
}

// start runs reactor serve with args on CPU 0, GOMAXPROCS=1, and waits for its serving line.
func start(bin string, args ...string) (*server, error) {
	all := append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json", "--log-level", "warn"}, args...)
	name := bin
	if tp, err := exec.LookPath("taskset"); err == nil && runtime.NumCPU() > 1 {
		all = append([]string{"-c", "0", bin}, all...)
		name = tp
	}
	cmd := exec.Command(name, all...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// --log-level warn hides the serving line; the address comes from the listening socket.
	s := &server{cmd: cmd, pid: cmd.Process.Pid}
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if addr := listening(s.pid); addr != "" {
			s.addr = addr
			return s, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.stop()
	var logged []string
	for l := range lines {
		logged = append(logged, l)
	}
	return nil, fmt.Errorf("reactor serve %v: not listening after 15s: %s", args, strings.Join(logged, "\n"))
}

// listening finds the loopback TCP port process pid listens on, from /proc/net/tcp.
func listening(pid int) string {
	inodes := map[string]bool{}
	for _, p := range tree(pid) {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p))
		for _, fd := range fds {
			l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", p, fd.Name()))
			if err == nil && strings.HasPrefix(l, "socket:[") {
				inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
			}
		}
	}
	b, _ := os.ReadFile("/proc/net/tcp")
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: LISTEN
			continue
		}
		_, port, _ := strings.Cut(f[1], ":")
		n, _ := strconv.ParseUint(port, 16, 16)
		return fmt.Sprintf("127.0.0.1:%d", n)
	}
	return ""
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// tree is pid and every descendant of it, from /proc/*/stat.
func tree(pid int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		f := bytes.Fields(b[i+1:])
		if len(f) > 1 {
			pp, _ := strconv.Atoi(string(f[1]))
			parent[p] = pp
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		for c, pp := range parent {
			if pp == out[i] {
				out = append(out, c)
			}
		}
	}
	return out
}

// usage is what the process tree of a server holds or has used.
type usage struct {
	procs, threads int
	pssKiB, rssKiB float64
	ctx, vol       float64
	cpuSec         float64
	waitSec        float64 // runnable but waiting for a CPU (schedstat's second field)
}

func statusField(b []byte, key string) float64 {
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseFloat(f[0], 64)
				return n
			}
		}
	}
	return 0
}

// measure sums, over pid's tree and every thread of it: memory (PSS shares the pages that the
// processes of one program have in common, where RSS would count them in each), context
// switches (/proc/P/task/T/status) and CPU time (schedstat, in ns).
func measure(pid int) usage {
	var u usage
	for _, p := range tree(pid) {
		dir := fmt.Sprintf("/proc/%d", p)
		st, err := os.ReadFile(dir + "/status")
		if err != nil {
			continue
		}
		u.procs++
		u.threads += int(statusField(st, "Threads"))
		u.rssKiB += statusField(st, "VmRSS")
		if sm, err := os.ReadFile(dir + "/smaps_rollup"); err == nil {
			u.pssKiB += statusField(sm, "Pss")
		}
		tasks, _ := os.ReadDir(dir + "/task")
		for _, t := range tasks {
			ts, err := os.ReadFile(dir + "/task/" + t.Name() + "/status")
			if err != nil {
				continue
			}
			v := statusField(ts, "voluntary_ctxt_switches")
			u.vol += v
			u.ctx += v + statusField(ts, "nonvoluntary_ctxt_switches")
			if ss, err := os.ReadFile(dir + "/task/" + t.Name() + "/schedstat"); err == nil {
				if f := strings.Fields(string(ss)); len(f) > 1 {
					ns, _ := strconv.ParseFloat(f[0], 64)
					wait, _ := strconv.ParseFloat(f[1], 64)
					u.cpuSec += ns / 1e9
					u.waitSec += wait / 1e9
				}
			}
		}
	}
	return u
}

// settled is the tree's usage once its memory has stopped moving: the least PSS of a few reads.
func settled(pid int) usage {
	time.Sleep(300 * time.Millisecond)
	best := measure(pid)
	for range 3 {
		time.Sleep(100 * time.Millisecond)
		if u := measure(pid); u.pssKiB < best.pssKiB {
			best = u
		}
	}
	return best
}

// echoTrip writes msg and reads it back, checking it.
func echoTrip(c net.Conn, msg, buf []byte) error {
	if _, err := c.Write(msg); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, buf[:len(msg)]); err != nil {
		return err
	}
	if !bytes.Equal(buf[:len(msg)], msg) {
		return fmt.Errorf("echo answered %q to %q", buf[:len(msg)], msg)
	}
	return nil
}

func dial(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	return c, nil
}

// openIdle opens n echo connections, each after one round trip.
func openIdle(addr string, n int) ([]net.Conn, error) {
	var conns []net.Conn
	buf := make([]byte, 16)
	for i := range n {
		c, err := dial(addr)
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("connection %d: %w", i+1, err)
		}
		conns = append(conns, c)
		if err := echoTrip(c, []byte("ping\n"), buf); err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("connection %d: %w", i+1, err)
		}
	}
	return conns, nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// roundTrips runs trips echo round trips of a 64-byte message, one in flight, on each of conns
// at once.
func roundTrips(conns []net.Conn, trips int) error {
	errs := make(chan error, len(conns))
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg, buf := bytes.Repeat([]byte("m"), 64), make([]byte, 64)
			for range trips {
				if err := echoTrip(c, msg, buf); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// measureModels: memory per idle connection, threads and processes, and context switches and
// CPU per request, for the models from a process per connection to epoll.
func measureModels(rd *round, r *report, bin string) error {
	for _, b := range []string{"process", "thread", "std", "epoll"} {
		s, err := start(bin, "--backend", b, "--proto", "echo", "--loops", "1")
		if err != nil {
			return err
		}
		row, err := modelRun(s, b, r)
		s.stop()
		if err != nil {
			return fmt.Errorf("%s: %w", b, err)
		}
		rd.Models = append(rd.Models, row)
	}
	return nil
}

func modelRun(s *server, b string, r *report) (modelRow, error) {
	base := settled(s.pid)
	conns, err := openIdle(s.addr, r.Idle)
	if err != nil {
		return modelRow{}, err
	}
	defer closeAll(conns)
	held := settled(s.pid)
	row := modelRow{
		Backend: b, Processes: held.procs, Threads: held.threads,
		PssPerConnKiB: (held.pssKiB - base.pssKiB) / float64(r.Idle),
		RssPerConnKiB: (held.rssKiB - base.rssKiB) / float64(r.Idle),
	}
	act := conns[:r.Active]
	if err := roundTrips(act, 100); err != nil { // warm up
		return row, err
	}
	before := measure(s.pid)
	if err := roundTrips(act, r.Trips); err != nil {
		return row, err
	}
	after := measure(s.pid)
	reqs := float64(r.Active * r.Trips)
	row.CtxPerReq = (after.ctx - before.ctx) / reqs
	row.VolPerReq = (after.vol - before.vol) / reqs
	row.CPUPerReqUs = (after.cpuSec - before.cpuSec) / reqs * 1e6
	return row, nil
}

// measureConnect: how long a new connection waits for its first answer — connect, one byte
// out and back — with a process started for it, against prefork's processes started ahead.
func measureConnect(rd *round, r *report, bin string) error {
	for _, c := range []struct {
		name string
		args []string
	}{
		{"process", []string{"--backend", "process"}},
		{"prefork (--procs 2, epoll)", []string{"--backend", "epoll", "--procs", "2"}},
		{"epoll", []string{"--backend", "epoll"}},
	} {
		s, err := start(bin, append(c.args, "--proto", "echo", "--loops", "1")...)
		if err != nil {
			return err
		}
		var lat []float64
		buf := make([]byte, 1)
		for i := 0; i < r.Connects && err == nil; i++ {
			t0 := time.Now()
			var conn net.Conn
			if conn, err = dial(s.addr); err == nil {
				err = echoTrip(conn, []byte{'x'}, buf)
				lat = append(lat, float64(time.Since(t0).Microseconds()))
				conn.Close()
			}
		}
		s.stop()
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		slices.Sort(lat)
		rd.Connect = append(rd.Connect, connectRow{Server: c.name, P50us: pct(lat, 50), P90us: pct(lat, 90), P99us: pct(lat, 99), MaxUs: lat[len(lat)-1]})
	}
	return nil
}

func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// measureIdleCPU: CPU used in a 2 s window by a server with no connection at all.
func measureIdleCPU(rd *round, r *report, bin string) error {
	for _, b := range []string{"busypoll", "epoll"} {
		s, err := start(bin, "--backend", b, "--proto", "echo", "--loops", "1")
		if err != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond)
		u0, t0 := measure(s.pid), time.Now()
		time.Sleep(2 * time.Second)
		u1, t1 := measure(s.pid), time.Now()
		s.stop()
		w := t1.Sub(t0).Seconds()
		rd.IdleCPU = append(rd.IdleCPU, idleCPURow{Backend: b, CPUPerSec: (u1.cpuSec - u0.cpuSec) / w,
			RunnablePerSec: (u1.cpuSec + u1.waitSec - u0.cpuSec - u0.waitSec) / w, WindowSec: w})
	}
	return nil
}

// measureEdge: epoll level- against edge-triggered — CPU and context switches per echo round
// trip, CPU per MiB streamed by one bulk connection, and the p99 of small round trips on a
// connection that shares the loop with that bulk stream (what the 16-read re-arm is for).
func measureEdge(rd *round, r *report, bin string) error {
	for _, m := range []struct {
		name string
		args []string
	}{
		{"level-triggered", nil},
		{"edge-triggered", []string{"--edge"}},
	} {
		s, err := start(bin, append([]string{"--backend", "epoll", "--proto", "echo", "--loops", "1"}, m.args...)...)
		if err != nil {
			return err
		}
		row, err := edgeRun(s, m.name, r)
		s.stop()
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		rd.Edge = append(rd.Edge, row)
	}
	return nil
}

func edgeRun(s *server, mode string, r *report) (edgeRow, error) {
	row := edgeRow{Mode: mode}
	conns, err := openIdle(s.addr, r.Active)
	if err != nil {
		return row, err
	}
	defer closeAll(conns)
	if err := roundTrips(conns, 100); err != nil { // warm up
		return row, err
	}
	before := measure(s.pid)
	if err := roundTrips(conns, r.Trips); err != nil {
		return row, err
	}
	after := measure(s.pid)
	reqs := float64(r.Active * r.Trips)
	row.CPUPerReqUs = (after.cpuSec - before.cpuSec) / reqs * 1e6
	row.CtxPerReq = (after.ctx - before.ctx) / reqs

	// One connection streams 64 MiB through the echo (writer and reader at once) while
	// another makes small round trips on the same loop.
	bulk, err := dial(s.addr)
	if err != nil {
		return row, err
	}
	defer bulk.Close()
	const total = 64 << 20
	chunk := bytes.Repeat([]byte("b"), 256<<10)
	got := make(chan error, 1)
	go func() {
		n, err := io.CopyN(io.Discard, bulk, total)
		if err == nil && n != total {
			err = fmt.Errorf("bulk: %d of %d bytes back", n, total)
		}
		got <- err
	}()
	stopSmall := make(chan struct{})
	var lat []float64
	smallDone := make(chan error, 1)
	go func() {
		buf, msg := make([]byte, 64), bytes.Repeat([]byte("s"), 64)
		for {
			select {
			case <-stopSmall:
				smallDone <- nil
				return
			default:
			}
			t0 := time.Now()
			if err := echoTrip(conns[0], msg, buf); err != nil {
				smallDone <- err
				return
			}
			lat = append(lat, float64(time.Since(t0).Microseconds()))
		}
	}()
	b0 := measure(s.pid)
	for sent := 0; sent < total; sent += len(chunk) {
		if _, err := bulk.Write(chunk); err != nil {
			return row, err
		}
	}
	if err := <-got; err != nil {
		return row, err
	}
	b1 := measure(s.pid)
	close(stopSmall)
	if err := <-smallDone; err != nil {
		return row, err
	}
	row.BulkCPUPerMiBUs = (b1.cpuSec - b0.cpuSec) / (total >> 20) * 1e6
	slices.Sort(lat)
	row.SmallP99Us = pct(lat, 99)
	return row, nil
}

// measureSelectCap: connections to the select backend, one after another, each with a round
// trip, until one is refused; then whether the server still serves.
func measureSelectCap(rd *round, r *report, bin string) error {
	s, err := start(bin, "--backend", "select", "--proto", "echo", "--loops", "1")
	if err != nil {
		return err
	}
	defer s.stop()
	var conns []net.Conn
	defer func() { closeAll(conns) }()
	buf := make([]byte, 16)
	trip := func(c net.Conn) bool {
		c.SetDeadline(time.Now().Add(3 * time.Second))
		return echoTrip(c, []byte("ping\n"), buf) == nil
	}
	for i := 1; i <= 2000; i++ {
		c, err := dial(s.addr)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		if !trip(c) {
			c.Close()
			rd.Select.FirstRefused = i
			break
		}
		conns = append(conns, c)
	}
	if rd.Select.FirstRefused == 0 {
		return errors.New("select took 2,000 connections; want a refusal near 1,024")
	}
	const more = 20
	rd.Select.Attempts = more
	for range more {
		c, err := dial(s.addr)
		if err != nil {
			return err
		}
		if !trip(c) {
			rd.Select.AlsoRefused++
		}
		c.Close()
	}
	rd.Select.OldStillServed = trip(conns[0]) && trip(conns[len(conns)-1])
	closeAll(conns[len(conns)-10:])
	conns = conns[:len(conns)-10]
	time.Sleep(200 * time.Millisecond)
	if c, err := dial(s.addr); err == nil {
		rd.Select.NewServedAfter = trip(c)
		c.Close()
	}
	return nil
}

// measureChatDrop: a room of three — a sender, a reader and a member that never reads (its
// receive buffer kept small) — and lines of 1 KiB sent until the server drops the member that
// does not read. The reader must get every line, and is timed.
func measureChatDrop(rd *round, r *report, bin string) error {
	const maxOut = 256 << 10
	s, err := start(bin, "--backend", "epoll", "--proto", "chat", "--loops", "1", "--max-outbound", strconv.Itoa(maxOut))
	if err != nil {
		return err
	}
	defer s.stop()
	join := func(name string, rcvbuf int) (net.Conn, *bufio.Reader, error) {
		d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
			if rcvbuf > 0 {
				rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf) })
			}
			return nil
		}}
		c, err := d.Dial("tcp", s.addr)
		if err != nil {
			return nil, nil, err
		}
		c.SetDeadline(time.Now().Add(60 * time.Second))
		fmt.Fprintf(c, "NAME: %s\n", name)
		return c, bufio.NewReader(c), nil
	}
	slow, _, err := join("slow", 4096)
	if err != nil {
		return err
	}
	defer slow.Close()
	reader, rr, err := join("reader", 0)
	if err != nil {
		return err
	}
	defer reader.Close()
	sender, sd, err := join("sender", 0)
	if err != nil {
		return err
	}
	defer sender.Close()
	go io.Copy(io.Discard, sd)
	// The reader waits until the sender has joined.
	for {
		line, err := rr.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.Contains(line, "sender joined") {
			break
		}
	}
	text := strings.Repeat("x", 1000)
	rd.ChatDrop = chatRow{MaxOutbound: maxOut, LineBytes: len("sender: ") + len(text) + 1}
	var lat []float64
	t0 := time.Now()
	for i := 1; i <= 100000; i++ {
		ts := time.Now()
		fmt.Fprintf(sender, "%08d %s\n", i, text[9:])
		for {
			line, err := rr.ReadString('\n')
			if err != nil {
				return fmt.Errorf("reader: %w", err)
			}
			if strings.HasPrefix(line, "* slow ") {
				rd.ChatDrop.Announcement = strings.TrimSpace(line)
				rd.ChatDrop.DroppedCounted = strings.Contains(line, "dropped")
				rd.ChatDrop.LinesUntilDrop = i - 1
				rd.ChatDrop.MsUntilDrop = float64(time.Since(t0).Microseconds()) / 1000
				continue
			}
			want := fmt.Sprintf("sender: %08d %s\n", i, text[9:])
			if line != want {
				return fmt.Errorf("reader got %.40q; want line %d", line, i)
			}
			lat = append(lat, float64(time.Since(ts).Microseconds()))
			break
		}
		if rd.ChatDrop.Announcement != "" {
			rd.ChatDrop.ReaderGotAll = len(lat) == i
			break
		}
	}
	if rd.ChatDrop.Announcement == "" {
		return errors.New("the member that does not read was never dropped")
	}
	rd.ChatDrop.BytesUntilDrop = rd.ChatDrop.LinesUntilDrop * rd.ChatDrop.LineBytes
	slices.Sort(lat)
	rd.ChatDrop.ReaderP50us, rd.ChatDrop.ReaderP99us = pct(lat, 50), pct(lat, 99)
	return nil
}

func machine() string {
	var u unix.Utsname
	unix.Uname(&u)
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), Linux %s, %s; load average before: %s", runtime.NumCPU(), cpu, unix.ByteSliceToString(u.Release[:]), runtime.Version(), loadAvg())
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
