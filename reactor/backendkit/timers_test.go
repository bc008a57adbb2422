package backendkit

import (
	"errors"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// TestPostedTimers: timers run on the owner in deadline order whatever order their posts
// arrive in, stop reports whether it kept f from running (also while the run waits in the
// owner's queue), StopAll ends them all, and a refused post means f never runs.
func TestPostedTimers(t *testing.T) {
	var ts PostedTimers
	posted := make(chan func(reactor.Conn), 16)
	refuse := false
	post := func(f func(reactor.Conn)) error {
		if refuse {
			return errors.New("closing")
		}
		posted <- f
		return nil
	}
	var ran []int
	run := func(reactor.Conn) {
		ts.RunDue(func() bool { return true }, func(f func(reactor.Conn)) { f(nil) })
	}
	arm := func(d time.Duration, n int) func() bool {
		return ts.Arm(d, func(reactor.Conn) { ran = append(ran, n) }, post, run)
	}
	arm(30*time.Millisecond, 3)
	arm(10*time.Millisecond, 1)
	stop2 := arm(20*time.Millisecond, 2)
	time.Sleep(60 * time.Millisecond) // all three fired: their runs wait in the owner's queue
	if !stop2() {
		t.Error("stop of a fired timer whose run waits reported false; want true")
	}
	if stop2() {
		t.Error("a second stop reported true")
	}
	(<-posted)(nil) // the first run takes every due timer, in deadline order
	if len(ran) != 2 || ran[0] != 1 || ran[1] != 3 {
		t.Fatalf("ran %v; want [1 3]", ran)
	}
	for len(posted) > 0 {
		(<-posted)(nil)
	}
	if len(ran) != 2 {
		t.Fatalf("ran %v after the other runs; want each once", ran)
	}

	stop4 := arm(time.Hour, 4)
	ts.StopAll()
	if stop4() {
		t.Error("stop after StopAll reported true; the close, not the stop, kept f from running")
	}

	refuse = true
	stop5 := arm(time.Millisecond, 5)
	time.Sleep(20 * time.Millisecond)
	if stop5() {
		t.Error("stop after a refused post reported true; f could never have run")
	}
	if len(ran) != 2 || len(posted) != 0 {
		t.Errorf("ran %v, %d posted; want nothing more", ran, len(posted))
	}
}
