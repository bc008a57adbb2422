package lifecycle

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/reactorlab/reactor/reactor"
)

// returnsWithin runs f and fails the test unless it returns within a second.
func returnsWithin(t *testing.T, what string, f func()) {
	t.Helper()
	ret := make(chan struct{})
	go func() {
		defer close(ret)
		f()
	}()
	select {
	case <-ret:
	case <-time.After(time.Second):
		t.Fatalf("%s still blocked after a second", what)
	}
}

// blocked reports whether c stays open for a moment.
func blocked[T any](c <-chan T) bool {
	select {
	case <-c:
		return false
	case <-time.After(20 * time.Millisecond):
		return true
	}
}

func TestStartOnce(t *testing.T) {
	var s State
	if err := s.Start(); err != nil {
		t.Fatalf("first Start: %v", err)
	}
	s.Started()
	if err := s.Start(); !errors.Is(err, reactor.ErrAlreadyStarted) {
		t.Errorf("second Start: %v; want ErrAlreadyStarted", err)
	}
}

func TestShutdownBeforeStart(t *testing.T) {
	var s State
	for i := range 2 {
		if first, err := s.Shutdown(context.Background(), nil); first || err != nil {
			t.Errorf("Shutdown %d before Start = %v, %v; want false, nil", i+1, first, err)
		}
	}
	if err := s.Wait(); !errors.Is(err, reactor.ErrServerClosed) {
		t.Errorf("Wait = %v; want ErrServerClosed", err)
	}
	if err := s.Start(); !errors.Is(err, reactor.ErrAlreadyStarted) {
		t.Errorf("Start after Shutdown: %v; want ErrAlreadyStarted", err)
	}
}

func TestShutdownAfterFailedStart(t *testing.T) {
	var s State
	s.Start()
	bind := errors.New("bind: address in use")
	s.Finish(bind)
	s.Started()
	if first, err := s.Shutdown(context.Background(), nil); first || err != nil {
		t.Errorf("Shutdown after a failed Start = %v, %v; want false, nil", first, err)
	}
	if err := s.Wait(); err != bind {
		t.Errorf("Wait = %v; want the Start's error", err)
	}
}

// TestShutdownWaitsForStart: a Shutdown during Start decides only once Start has returned.
func TestShutdownWaitsForStart(t *testing.T) {
	var s State
	s.Start()
	res := make(chan bool, 1)
	go func() {
		first, _ := s.Shutdown(context.Background(), nil)
		res <- first
	}()
	if !blocked(res) {
		t.Fatal("Shutdown returned while Start was running")
	}
	s.Started()
	if first := <-res; !first {
		t.Error("Shutdown after Start = false; want true: it stops the backend")
	}
}

// TestSecondShutdownWaits: only the first Shutdown does the work; the others wait for it, and
// one whose context ends first aborts the connections and still waits.
func TestSecondShutdownWaits(t *testing.T) {
	var s State
	s.Start()
	s.Started()
	if first, err := s.Shutdown(context.Background(), nil); !first || err != nil {
		t.Fatalf("first Shutdown = %v, %v; want true, nil", first, err)
	}
	if s.Failed() {
		t.Error("Failed during a Shutdown = true; want false: the Shutdown stops the backend")
	}

	ctx, cancel := context.WithCancel(context.Background())
	aborted := make(chan struct{})
	type result struct {
		first bool
		err   error
	}
	late := make(chan result, 1)
	go func() {
		first, err := s.Shutdown(ctx, func() { close(aborted) })
		late <- result{first, err}
	}()
	if !blocked(late) {
		t.Fatal("second Shutdown returned before Finish")
	}
	cancel()
	returnsWithin(t, "abort", func() { <-aborted })
	if !blocked(late) {
		t.Fatal("second Shutdown returned before Finish after its context ended")
	}
	s.Finish(reactor.ErrServerClosed)
	if r := <-late; r.first || !errors.Is(r.err, context.Canceled) {
		t.Errorf("second Shutdown = %v, %v; want false, context.Canceled", r.first, r.err)
	}
	returnsWithin(t, "Wait", func() {
		if err := s.Wait(); !errors.Is(err, reactor.ErrServerClosed) {
			t.Errorf("Wait = %v; want ErrServerClosed", err)
		}
	})
}

// TestShutdownAfterFailure: a backend that failed on its own is stopped by the failure's
// handling; Shutdown waits for it and Wait reports the failure.
func TestShutdownAfterFailure(t *testing.T) {
	var s State
	s.Start()
	s.Started()
	if s.Stopping() {
		t.Error("Stopping before any stop = true")
	}
	if !s.Failed() {
		t.Fatal("Failed = false; want true: nothing else stops the backend")
	}
	if !s.Stopping() {
		t.Error("Stopping after Failed = false")
	}
	broke := errors.New("listener broke")
	res := make(chan bool, 1)
	go func() {
		first, _ := s.Shutdown(context.Background(), nil)
		res <- first
	}()
	if !blocked(res) {
		t.Fatal("Shutdown returned before the failure's Finish")
	}
	s.Finish(broke)
	s.Finish(reactor.ErrServerClosed)
	if first := <-res; first {
		t.Error("Shutdown after Failed = true; want false")
	}
	if err := s.Wait(); err != broke {
		t.Errorf("Wait = %v; want the first Finish's error", err)
	}
}

// testConn records its abort.
type testConn struct{ cause error }

func (c *testConn) Abort(cause error) { c.cause = cause }

func TestConns(t *testing.T) {
	var s Conns[*testConn]
	c := []*testConn{{}, {}, {}, {}}
	for i := range 3 {
		if !s.Add(c[i]) {
			t.Fatalf("Add(conn %d) before Close = false", i)
		}
	}
	s.Remove(c[1])
	s.Abort()
	for i, want := range []error{reactor.ErrServerClosed, nil, reactor.ErrServerClosed} {
		if c[i].cause != want {
			t.Errorf("conn %d after Abort: cause %v; want %v", i, c[i].cause, want)
		}
	}
	if !blocked(s.Drained()) {
		t.Fatal("Drained before Close")
	}
	if got := len(s.Close()); got != 2 {
		t.Errorf("Close returned %d connections; want 2", got)
	}
	if s.Add(c[3]) {
		t.Error("Add after Close = true; want false")
	}
	s.Remove(c[0])
	if !blocked(s.Drained()) {
		t.Fatal("Drained with a connection left")
	}
	s.Remove(c[2])
	returnsWithin(t, "Drained", func() { <-s.Drained() })
}

func TestConnsCloseEmpty(t *testing.T) {
	var s Conns[*testConn]
	if got := s.Close(); len(got) != 0 {
		t.Errorf("Close of an empty set = %v; want none", got)
	}
	returnsWithin(t, "Drained", func() { <-s.Drained() })
	if got := s.Close(); len(got) != 0 {
		t.Errorf("second Close = %v; want none", got)
	}
}
