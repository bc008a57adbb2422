package ratelog

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestAllowOneLinePerInterval(t *testing.T) {
	var l Limiter
	sec := int64(time.Second)
	steps := []struct {
		at             int64
		wantOK         bool
		wantSuppressed int64
	}{
		{0, true, 0},          // the zero value lets the first line through
		{1, false, 0},         // held back
		{sec / 2, false, 0},   // held back
		{sec - 1, false, 0},   // held back, just before the interval ends
		{sec, true, 3},        // through, with the three held back
		{sec + 10, false, 0},  // held back
		{5 * sec, true, 1},    // a quiet spell: the next line passes at once
		{5*sec + 1, false, 0}, // held back
		{6*sec - 1, false, 0}, // held back
		{6 * sec, true, 2},    // through
		{20 * sec, true, 0},   // nothing held back in between
	}
	for i, s := range steps {
		n, ok := l.allowAt(s.at)
		if ok != s.wantOK || n != s.wantSuppressed {
			t.Errorf("step %d at %v: Allow = %d, %v; want %d, %v", i, time.Duration(s.at), n, ok, s.wantSuppressed, s.wantOK)
		}
	}
}

// TestAllowConcurrent: of many goroutines asking at once, within one interval exactly one is
// let through, and every other call is counted as suppressed.
func TestAllowConcurrent(t *testing.T) {
	var (
		l      Limiter
		passed atomic.Int64
		wg     sync.WaitGroup
	)
	const goroutines, calls = 8, 1000
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				if _, ok := l.allowAt(42); ok {
					passed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if got := passed.Load(); got != 1 {
		t.Errorf("%d lines passed within one interval; want 1", got)
	}
	if n, ok := l.allowAt(42 + int64(Interval)); !ok || n != goroutines*calls-1 {
		t.Errorf("next interval: Allow = %d, %v; want %d, true", n, ok, goroutines*calls-1)
	}
}

func TestAllowSuppressedDoesNotAllocate(t *testing.T) {
	var l Limiter
	l.Allow()
	if allocs := testing.AllocsPerRun(1000, func() { l.Allow() }); allocs != 0 {
		t.Errorf("a suppressed Allow allocates %v times; want 0", allocs)
	}
}
