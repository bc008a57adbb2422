//go:build linux

package main

import (
	"math"
	"os"
	"testing"
)

func TestSpread(t *testing.T) {
	for _, tc := range []struct {
		vals []float64
		want string
	}{
		{nil, "–"},
		{[]float64{7}, "7.0"},
		{[]float64{3, 1, 2}, "2.0 (1.0–3.0)"},
		{[]float64{4, 1, 2, 3}, "2.5 (1.0–4.0)"},
		{[]float64{5, 5, 5}, "5.0"},
	} {
		if got := spread(tc.vals, "%.1f"); got != tc.want {
			t.Errorf("spread(%v) = %q; want %q", tc.vals, got, tc.want)
		}
	}
}

func TestPct(t *testing.T) {
	sorted := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct{ p, want float64 }{{50, 5}, {90, 9}, {99, 10}, {1, 1}} {
		if got := pct(sorted, tc.p); got != tc.want {
			t.Errorf("pct(1..10, %v) = %v; want %v", tc.p, got, tc.want)
		}
	}
	if got := pct(nil, 50); !math.IsNaN(got) {
		t.Errorf("pct(nil, 50) = %v; want NaN", got)
	}
}

// TestMeasureSelf: the process-tree readings see this process, its threads and some memory.
func TestMeasureSelf(t *testing.T) {
	u := measure(os.Getpid())
	if u.procs < 1 || u.threads < 1 || u.rssKiB <= 0 || u.pssKiB <= 0 || u.cpuSec <= 0 {
		t.Errorf("measure(self) = %+v; want at least one process and thread, memory and CPU time", u)
	}
}
