package evioloop

import (
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// TestRunDueOrder: a timer whose goroutine fired is run with every timer due before it, even
// one whose own goroutine has not run yet (goroutines are scheduled in no particular order)
// and whose deadline had not passed when the run began.
func TestRunDueOrder(t *testing.T) {
	c := loopConn(handler{})
	var ran []string
	arm := func(name string, when time.Time, state int32) *timer {
		tm := &timer{c: c, when: when, t: time.AfterFunc(time.Hour, func() {}), f: func(reactor.Conn) { ran = append(ran, name) }}
		tm.state.Store(state)
		if c.timers == nil {
			c.timers = make(map[*timer]struct{})
		}
		c.timers[tm] = struct{}{}
		return tm
	}
	now := time.Now()
	arm("early", now.Add(time.Hour), timerArmed)
	arm("late", now.Add(time.Hour+time.Millisecond), timerFired)
	arm("later still", now.Add(2*time.Hour), timerArmed)
	c.runDue(c)
	if len(ran) != 2 || ran[0] != "early" || ran[1] != "late" {
		t.Errorf("ran %q; want [early late]: the fired timer and the one due before it, in deadline order", ran)
	}
	c.stopTimers()
}
