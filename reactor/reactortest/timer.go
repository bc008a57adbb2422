package reactortest

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// timerSlack is how late this suite lets a timer fire. The contract promises a few milliseconds
// on an idle owner; the suite runs under -race on loaded two-core CI machines, where a loop or
// the Go scheduler is held up for a hundred milliseconds now and then, so it asks for the order
// of magnitude, not the promise. Early is never allowed.
const timerSlack = 250 * time.Millisecond

// testAfterFunc: Conn.AfterFunc runs f on the owner once d has passed — never earlier, and
// late by at most timerSlack — unless stopped; never after OnClose; and ten thousand of them
// on a thousand connections fire once each, in deadline order.
func (s *suite) testAfterFunc(t *testing.T) {
	t.Run("OnTime", s.testAfterFuncOnTime)
	t.Run("Stop", s.testAfterFuncStop)
	t.Run("ReArm", s.testAfterFuncReArm)
	t.Run("NotAfterClose", s.testAfterFuncNotAfterClose)
	t.Run("TenThousand", s.testAfterFuncTenThousand)
}

// fired is one timer's report: its duration, and how long after the AfterFunc call it ran.
type fired struct {
	where  string
	d, got time.Duration
}

// armTimers arms one timer per duration on c, each reporting to out; the time is taken before
// the call, so a timer that fires early always shows as early.
func armTimers(oc *OrderChecker, c reactor.Conn, where string, ds []time.Duration, out chan<- fired) {
	for _, d := range ds {
		armed := time.Now()
		c.AfterFunc(d, oc.guard(c, "a timer's function", func(reactor.Conn) {
			out <- fired{where, d, time.Since(armed)}
		}))
	}
}

// testAfterFuncOnTime: timers armed in OnOpen and in a posted function, from 0 to 200ms, each
// run once, no sooner than asked, no later than timerSlack after.
func (s *suite) testAfterFuncOnTime(t *testing.T) {
	ds := []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}
	out := make(chan fired, 2*len(ds)+1)
	var oc *OrderChecker
	oc, conns := openedConns(1, nil)
	oc.inner = funcHandler{open: func(c reactor.Conn) {
		armTimers(oc, c, "OnOpen", ds, out)
		conns <- c
	}}
	srv := s.start(t, reactor.Config{}, oc)
	c := srv.dial(t)
	sc := serverConn(t, conns)
	if err := sc.Post(func(c reactor.Conn) { armTimers(oc, c, "a posted function", ds, out) }); err != nil {
		t.Fatalf("Post: %v", err)
	}
	for i := 0; i < 2*len(ds); i++ {
		select {
		case f := <-out:
			switch {
			case f.got < f.d:
				t.Errorf("a %v timer armed in %s ran after %v: early", f.d, f.where, f.got)
			case f.got > f.d+timerSlack:
				t.Errorf("a %v timer armed in %s ran after %v: later than the %v the suite allows", f.d, f.where, f.got, timerSlack)
			}
		case <-time.After(ioTimeout):
			t.Fatalf("%d of %d timers ran within %v", i, 2*len(ds), ioTimeout)
		}
	}
	// Each ran once: a second run would have shown by now.
	time.Sleep(50 * time.Millisecond)
	if n := len(out); n != 0 {
		t.Errorf("%d timer functions ran twice", n)
	}
	c.Close()
	srv.shutdown()
	oc.Check(t)
}

// testAfterFuncStop: stop before the timer fires returns true and f never runs; a second stop,
// a stop after f ran, and a stop from inside f return false.
func (s *suite) testAfterFuncStop(t *testing.T) {
	oc, conns := openedConns(1, nil)
	srv := s.start(t, reactor.Config{}, oc)
	c := srv.dial(t)
	sc := serverConn(t, conns)
	var neverRan atomic.Int32
	type verdicts struct{ first, second, inside, afterRun bool }
	got := make(chan verdicts, 1)
	firedOnce := make(chan struct{})
	var v verdicts // the owner's only
	var stopFired func() bool
	onOwner := func(f func(reactor.Conn)) {
		t.Helper()
		if err := sc.Post(oc.guard(sc, "a posted function", f)); err != nil {
			t.Fatalf("Post: %v", err)
		}
	}
	onOwner(func(c reactor.Conn) {
		stop := c.AfterFunc(100*time.Millisecond, oc.guard(c, "a stopped timer's function", func(reactor.Conn) { neverRan.Add(1) }))
		v.first, v.second = stop(), stop()
		var self func() bool
		self = c.AfterFunc(time.Millisecond, oc.guard(c, "a timer's function", func(reactor.Conn) {
			v.inside = self()
			close(firedOnce)
		}))
		stopFired = self
	})
	select {
	case <-firedOnce:
	case <-time.After(ioTimeout):
		t.Fatalf("a 1ms timer did not run within %v", ioTimeout)
	}
	onOwner(func(reactor.Conn) {
		v.afterRun = stopFired()
		got <- v
	})
	select {
	case v := <-got:
		if !v.first {
			t.Errorf("stop before the timer fired = false; want true")
		}
		if v.second {
			t.Errorf("stop called a second time = true; want false")
		}
		if v.inside {
			t.Errorf("stop from inside the timer's own function = true; want false (it runs already)")
		}
		if v.afterRun {
			t.Errorf("stop after the timer's function ran = true; want false")
		}
	case <-time.After(ioTimeout):
		t.Fatalf("a posted function did not run within %v", ioTimeout)
	}
	time.Sleep(100*time.Millisecond + timerSlack)
	if n := neverRan.Load(); n != 0 {
		t.Errorf("a stopped timer's function ran %d times; want never", n)
	}
	c.Close()
	srv.shutdown()
	oc.Check(t)
}

// testAfterFuncReArm: a function that arms its own timer again, 20 times at 5ms: each run comes
// no sooner than 5ms after the one before it.
func (s *suite) testAfterFuncReArm(t *testing.T) {
	const times, every = 20, 5 * time.Millisecond
	var oc *OrderChecker
	done := make(chan []time.Duration, 1)
	oc, _ = openedConns(0, nil)
	oc.inner = funcHandler{open: func(c reactor.Conn) {
		var gaps []time.Duration
		var tick func(reactor.Conn)
		last := time.Now()
		tick = func(c reactor.Conn) {
			gaps = append(gaps, time.Since(last))
			if len(gaps) == times {
				done <- gaps
				return
			}
			last = time.Now()
			c.AfterFunc(every, oc.guard(c, "a re-armed timer's function", tick))
		}
		c.AfterFunc(every, oc.guard(c, "a timer's function", tick))
	}}
	srv := s.start(t, reactor.Config{}, oc)
	c := srv.dial(t)
	select {
	case gaps := <-done:
		for i, g := range gaps {
			if g < every {
				t.Errorf("run %d came %v after the one before; want ≥ %v", i, g, every)
			}
		}
	case <-time.After(ioTimeout):
		t.Fatalf("a timer re-armed from its own function did not run %d times within %v", times, ioTimeout)
	}
	c.Close()
	srv.shutdown()
	oc.Check(t)
}

// testAfterFuncNotAfterClose: a timer pending when the connection closes — by the peer's close,
// the peer's reset, Close from another goroutine, the handler's Close action, Abort — never
// runs; nor does one armed in OnClose, whose stop reports false. Then 50 connections race
// their timers against their close: none runs after OnClose.
func (s *suite) testAfterFuncNotAfterClose(t *testing.T) {
	const pending, racers = time.Second, 50
	ways := []string{"the peer's close", "the peer's reset", "Close", "the Close action", "Abort"}
	var ran atomic.Int32
	var stopInClose atomic.Int32 // stops in OnClose that returned true
	never := func(reactor.Conn) { ran.Add(1) }
	var oc *OrderChecker
	oc, conns := openedConns(len(ways)+racers, func(c reactor.Conn, in []byte) (int, reactor.Action) {
		return len(in), reactor.Close
	})
	oc.inner = funcHandler{
		open: func(c reactor.Conn) {
			c.AfterFunc(pending, oc.guard(c, "a timer pending at close", never))
			conns <- c
		},
		data: oc.inner.(funcHandler).data,
		close: func(c reactor.Conn, _ error) {
			if c.AfterFunc(0, never)() {
				stopInClose.Add(1)
			}
		},
	}
	srv := s.start(t, reactor.Config{}, oc)
	begun := time.Now()
	for _, how := range ways {
		c := srv.dial(t)
		sc := serverConn(t, conns)
		switch how {
		case "the peer's close":
			c.Close()
		case "the peer's reset":
			c.SetLinger(0)
			c.Close()
		case "Close":
			sc.Close()
		case "the Close action":
			c.Write([]byte("x"))
		case "Abort":
			sc.Abort(nil)
		}
		if how != "the peer's close" && how != "the peer's reset" {
			// A closing server may linger until the peer's end of stream (or a bound); the
			// peer gives it at once.
			expectEOF(t, c, pending/2)
			c.Close()
		}
	}
	if !eventually(pending/2, func() bool { _, closed := oc.Counts(); return closed == len(ways) }) {
		_, closed := oc.Counts()
		t.Fatalf("%d of %d connections closed within %v; the test needs them closed before their timers are due", closed, len(ways), pending/2)
	}
	if time.Since(begun) > pending {
		t.Fatalf("the closes took %v, past the timers' %v", time.Since(begun), pending)
	}

	// Racers: timers at 0..49ms while the peer closes at about 25ms.
	for i := 0; i < racers; i++ {
		c := srv.dial(t)
		sc := serverConn(t, conns)
		if err := sc.Post(func(c reactor.Conn) {
			for k := 0; k < 50; k++ {
				c.AfterFunc(time.Duration(k)*time.Millisecond, oc.guard(c, "a timer racing its connection's close", func(reactor.Conn) {}))
			}
		}); err != nil {
			t.Fatalf("Post: %v", err)
		}
		time.AfterFunc(time.Duration(20+i%10)*time.Millisecond, func() { c.Close() })
	}
	time.Sleep(time.Until(begun.Add(pending + timerSlack)))
	if !eventually(ioTimeout, func() bool { _, closed := oc.Counts(); return closed == len(ways)+racers }) {
		_, closed := oc.Counts()
		t.Fatalf("%d of %d connections closed", closed, len(ways)+racers)
	}
	// A late timer would run soon after its due time; give it the time to show.
	time.Sleep(50 * time.Millisecond)
	if n := ran.Load(); n != 0 {
		t.Errorf("%d timers ran after their connection closed (pending at the close, or armed in OnClose); want none", n)
	}
	if n := stopInClose.Load(); n != 0 {
		t.Errorf("%d stops of timers armed in OnClose returned true; want false (nothing to stop)", n)
	}
	srv.shutdown()
	oc.Check(t)
}

// testAfterFuncTenThousand: 1,000 connections (fewer on a backend that cannot hold them) each
// arm 10 timers in OnOpen, in a shuffled order, with durations 30ms apart between 50ms and
// 0.4s. Each timer runs once, never early, and a connection's timers run in the order of their
// deadlines; all is done within a bounded time.
//
// A deadline is when AfterFunc was called plus d, and the call itself takes time (much of it
// on a loaded machine), so each timer knows its deadline only within [before+d, after+d],
// before and after being read around the call. A timer that runs after another whose window
// lies wholly after its own ran out of order; windows that overlap prove nothing either way.
func (s *suite) testAfterFuncTenThousand(t *testing.T) {
	const perConn = 10
	conns := s.most(1000)
	var early, inverted atomic.Int32
	var runs atomic.Int64
	var accepted atomic.Int64
	var oc *OrderChecker
	oc, _ = openedConns(0, nil)
	oc.inner = funcHandler{open: func(c reactor.Conn) {
		i := int(accepted.Add(1))
		var lastLo time.Time // the latest lower bound of a deadline run so far; the owner's only
		for k := 0; k < perConn; k++ {
			// 3 is prime to 10: rank runs over every value once, in an order that differs
			// from the arming order.
			rank := (k*3 + i) % perConn
			d := 50*time.Millisecond + time.Duration(rank)*30*time.Millisecond + time.Duration(i%7)*time.Millisecond
			var hi time.Time
			lo := time.Now().Add(d)
			c.AfterFunc(d, oc.guard(c, "one of 10,000 timers' functions", func(c reactor.Conn) {
				if time.Now().Before(lo) {
					early.Add(1)
				}
				if hi.Before(lastLo) {
					inverted.Add(1)
				}
				lastLo = maxTime(lastLo, lo)
				runs.Add(1)
				c.Write([]byte{byte(rank)})
			}))
			hi = time.Now().Add(d)
		}
	}}
	srv := s.start(t, reactor.Config{}, oc)
	begun := time.Now()
	cs := make([]*net.TCPConn, 0, conns)
	for i := 0; i < conns; i++ {
		cs = append(cs, srv.dial(t))
	}
	for i, c := range cs {
		if got := readFull(t, c, perConn); len(got) < perConn {
			t.Fatalf("connection %d: %d of its %d timers reported", i, len(got), perConn)
		}
	}
	if n := inverted.Load(); n > 0 {
		t.Errorf("%d timers ran after a timer of the same connection due wholly later; want them in deadline order", n)
	}
	took := time.Since(begun)
	t.Logf("%d timers on %d connections ran in %v", perConn*conns, conns, took.Round(time.Millisecond))
	// The longest timer is 0.4s; the rest is dialing and the loaded machine.
	if took > ioTimeout {
		t.Errorf("%d timers on %d connections took %v; want under %v", perConn*conns, conns, took, ioTimeout)
	}
	time.Sleep(50 * time.Millisecond)
	if n := runs.Load(); n != int64(perConn*conns) {
		t.Errorf("%d timer functions ran; want %d, once each", n, perConn*conns)
	}
	if n := early.Load(); n != 0 {
		t.Errorf("%d of %d timers ran early", n, perConn*conns)
	}
	for _, c := range cs {
		c.Close()
	}
	srv.shutdown()
	oc.Check(t)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
