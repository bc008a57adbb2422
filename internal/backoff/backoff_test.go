package backoff

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// records is a slog.Handler that keeps the "in" attribute of every record.
type records struct {
	mu  sync.Mutex
	ins []time.Duration
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }

func (r *records) Handle(_ context.Context, rec slog.Record) error {
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "in" {
			r.mu.Lock()
			r.ins = append(r.ins, a.Value.Duration())
			r.mu.Unlock()
		}
		return true
	})
	return nil
}

// TestFailedDoublesAndLogsOnce: waits double from First, success starts over, and of a burst
// of failures within a second one is logged.
func TestFailedDoublesAndLogsOnce(t *testing.T) {
	rec := &records{}
	a := Accept{Logger: slog.New(rec), Msg: "accept failed"}
	stop := make(chan struct{})
	close(stop) // no real waiting: the delays are read from the state
	errFull := errors.New("too many open files")
	var got []time.Duration
	for i := 0; i < 10; i++ {
		a.Failed(errFull, stop)
		got = append(got, a.delay)
	}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v; want %v ms", got, want)
		}
	}
	a.Succeeded()
	a.Failed(errFull, stop)
	if a.delay != First {
		t.Errorf("delay after a success and a failure = %v; want %v", a.delay, First)
	}
	if len(rec.ins) != 1 || rec.ins[0] != First {
		t.Errorf("logged waits %v; want one line, saying %v", rec.ins, First)
	}
}

// TestFailedWaits: without stop, Failed waits its delay.
func TestFailedWaits(t *testing.T) {
	a := Accept{Logger: slog.New(&records{})}
	began := time.Now()
	a.Failed(errors.New("x"), nil)
	if took := time.Since(began); took < First {
		t.Errorf("Failed returned after %v; want at least %v", took, First)
	}
}
