package ownertimer

import (
	"testing"
	"time"
)

// owner runs what post hands it on the test's goroutine, as a connection's owner would.
type owner chan func()

func (o owner) post(run func()) { o <- run }

func (o owner) runOne(t *testing.T) {
	t.Helper()
	select {
	case run := <-o:
		run()
	case <-time.After(5 * time.Second):
		t.Fatal("the timer was not posted")
	}
}

func TestFiresOnOwner(t *testing.T) {
	var s Set
	o := make(owner, 4)
	fired := 0
	start := time.Now()
	stop := s.AfterFunc(20*time.Millisecond, o.post, func() { fired++ })
	o.runOne(t)
	if fired != 1 || time.Since(start) < 20*time.Millisecond {
		t.Fatalf("fired %d times after %v; want once, after 20ms", fired, time.Since(start))
	}
	if stop() {
		t.Errorf("stop after firing = true; want false")
	}
}

func TestStopAndClose(t *testing.T) {
	var s Set
	o := make(owner, 4)
	fired := false
	stop := s.AfterFunc(time.Millisecond, o.post, func() { fired = true })
	time.Sleep(5 * time.Millisecond) // posted by now, not yet run
	if !stop() {
		t.Errorf("stop before the owner ran it = false; want true: fire is prevented")
	}
	if stop() {
		t.Errorf("second stop = true; want false")
	}
	o.runOne(t)
	late := s.AfterFunc(time.Millisecond, o.post, func() { fired = true })
	s.Close()
	if late() {
		t.Errorf("stop after Close = true; want false")
	}
	s.AfterFunc(0, o.post, func() { fired = true })() // after Close: arms nothing
	time.Sleep(5 * time.Millisecond)
	for len(o) > 0 {
		o.runOne(t)
	}
	if fired {
		t.Errorf("a stopped timer, or one of a closed Set, fired")
	}
}
