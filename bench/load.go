package bench

import (
	"context"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// generator is one built-in load generator bound to one server address. Its goroutines start
// in begin, count validated operations in counters that snapshot reads without stopping them,
// and exit in end: end gives every connection a deadline of a grace period from then, so a
// server that owes answers and never sends them cannot keep end from returning.
type generator interface {
	// begin connects and starts the load; deadline is a backstop for every read and write
	// should end come late.
	begin(ctx context.Context, deadline time.Time) error
	// snapshot returns the validated operations and payload bytes so far.
	snapshot() (ops, bytes int64)
	// measure turns latency recording on or off.
	measure(on bool)
	// end stops issuing work, waits for the answers still owed (or the deadline), closes
	// every connection and returns once all of its goroutines have exited.
	end()
	// latency returns the merged latency histogram, or nil when the generator records none.
	latency() *Histogram
	// traffic returns what the generator has done to the server, for the audit: every byte
	// written and read, every http answer read, every chat line received. It is complete
	// once the generator has drained (after end, or a drainer's drain).
	traffic() Traffic
}

// drainer is a generator whose quiet point comes before it closes its connections: drain
// stops the work and waits for what is owed, and end then closes. The audit goes between the
// two, where closing would make the server say more than the generator reads (chat's leave
// announcements to members that have gone).
type drainer interface {
	generator
	drain()
}

// window is one measured run of a generator against a server.
type window struct {
	Ops     int64
	Bytes   int64
	Seconds float64
	// CPU is the server's CPU seconds during the window; NaN when it is not ours to read.
	CPU float64
	// CPUExact is set when CPU comes from the scheduler's nanosecond account rather than
	// from 10 ms clock ticks.
	CPUExact bool
	// LoadCPU is this process's CPU seconds during the window (the load generators and the
	// bench's own bookkeeping); NaN when unknown.
	LoadCPU float64
	Latency *Histogram
}

// graceAfterRun is how long a generator waits past the end of a run for answers it is owed
// before counting them as missing. A variable so that tests of deliberately broken servers
// need not wait as long.
var graceAfterRun = 2 * time.Second

// runWindow warms the server up with g for warmup, then measures for dur: operations and
// bytes come from g's counters, CPU time from the server's /proc entry (pid ≤ 0: unknown).
// When the run was not cut short, quiet (if not nil) is called at g's quiet point, where g
// has stopped and read every answer it was owed: after end, or for a drainer after drain and
// before end.
func runWindow(ctx context.Context, g generator, pid int, warmup, dur time.Duration, quiet func()) (window, error) {
	deadline := time.Now().Add(warmup + dur + backstop)
	if err := g.begin(ctx, deadline); err != nil {
		g.end()
		return window{}, err
	}
	if !sleepCtx(ctx, warmup) {
		g.end()
		return window{}, ctx.Err()
	}
	ops0, bytes0 := g.snapshot()
	cpu0, self0 := readCPU(pid), readCPU(os.Getpid())
	t0 := time.Now()
	g.measure(true)
	ok := sleepCtx(ctx, dur)
	ops1, bytes1 := g.snapshot()
	cpu1, self1 := readCPU(pid), readCPU(os.Getpid())
	t1 := time.Now()
	g.measure(false)
	d, drains := g.(drainer)
	if drains {
		d.drain()
	} else {
		g.end()
	}
	if ok && quiet != nil {
		quiet()
	}
	if drains {
		g.end()
	}
	if !ok {
		return window{}, ctx.Err()
	}
	cpu, exact := cpuBetween(cpu0, cpu1)
	load, _ := cpuBetween(self0, self1)
	return window{
		Ops:      ops1 - ops0,
		Bytes:    bytes1 - bytes0,
		Seconds:  t1.Sub(t0).Seconds(),
		CPU:      cpu,
		CPUExact: exact,
		LoadCPU:  load,
		Latency:  g.latency(),
	}, nil
}

// cpuReading is a process's CPU time read two ways: in clock ticks from /proc/<pid>/stat
// (which counts exited threads) and in nanoseconds from the scheduler (which does not).
// Either is NaN when it could not be read.
type cpuReading struct {
	ticks, sched float64
}

// readCPU reads a process's CPU time; pid ≤ 0 (no process of ours) reads as unknown.
func readCPU(pid int) cpuReading {
	r := cpuReading{ticks: math.NaN(), sched: math.NaN()}
	if pid <= 0 {
		return r
	}
	if s, err := cpuTime(pid); err == nil {
		r.ticks = s
	}
	if s, err := schedTime(pid); err == nil {
		r.sched = s
	}
	return r
}

// cpuBetween is the CPU time used between two readings: the scheduler's exact figure when it
// agrees with the ticks to within their rounding (two ticks, plus 10% for the kernel's scaling
// of user and system time), else the ticks — a thread that exited in between makes the exact
// figure too small. It reports whether the exact figure was used.
func cpuBetween(a, b cpuReading) (float64, bool) {
	ticks := b.ticks - a.ticks
	sched := b.sched - a.sched
	if math.IsNaN(sched) || math.IsNaN(ticks) {
		return ticks, false
	}
	if math.Abs(sched-ticks) <= 2.0/clockTicks+0.1*ticks {
		return sched, true
	}
	return ticks, false
}

// sleepCtx sleeps for d or until ctx ends; it reports whether the full time passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// counter is an operation counter padded to its own cache line, so workers on different
// cores do not slow each other down updating neighbours.
type counter struct {
	n atomic.Int64
	_ [56]byte
}

// backstop bounds a load connection's life past the planned end of its run, for the case where
// the machine is so loaded that end itself comes late.
const backstop = time.Minute

// connSet tracks a generator's open connections so that end can set their deadline: the grace
// period then runs from the moment the run really ended, not from when it was planned to, which
// on a heavily loaded machine can be much earlier.
type connSet struct {
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	expiry time.Time // set by expire
}

// add registers c with deadline as its backstop, or with the expiry if expire already ran.
func (s *connSet) add(c net.Conn, deadline time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	if !s.expiry.IsZero() {
		deadline = s.expiry
	}
	_ = c.SetDeadline(deadline)
	s.conns[c] = struct{}{}
}

// remove forgets c (the caller closes it).
func (s *connSet) remove(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// expire gives every connection, and every one added later, the deadline t.
func (s *connSet) expire(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expiry = t
	for c := range s.conns {
		_ = c.SetDeadline(t)
	}
}

// dialer connects load connections; a server that does not accept within the timeout is
// reported as a connect error.
var dialer = net.Dialer{Timeout: 3 * time.Second}

// retryPause is how long a worker waits after a failed connection before trying again, so a
// refusing server is not hammered in a tight loop.
const retryPause = 20 * time.Millisecond
