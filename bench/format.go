package bench

import (
	"fmt"
	"math"
)

// siHuman writes a rate or count with a k/M suffix and three significant digits.
func siHuman(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case math.Abs(v) >= 1e6:
		return trim3(v/1e6) + "M"
	case math.Abs(v) >= 1e3:
		return trim3(v/1e3) + "k"
	default:
		return trim3(v)
	}
}

// trim3 writes v with three significant digits.
func trim3(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// bytesHuman writes a byte count in B, KiB, MiB or GiB.
func bytesHuman(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case math.Abs(v) >= 1<<30:
		return trim3(v/(1<<30)) + " GiB"
	case math.Abs(v) >= 1<<20:
		return trim3(v/(1<<20)) + " MiB"
	case math.Abs(v) >= 1<<10:
		return trim3(v/(1<<10)) + " KiB"
	default:
		return fmt.Sprintf("%.0f B", v)
	}
}

// usHuman writes microseconds, switching to milliseconds past 10 ms.
func usHuman(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v >= 10000:
		return trim3(v/1000) + " ms"
	default:
		return trim3(v) + " µs"
	}
}

// ratioHuman writes a ratio as ×1.23.
func ratioHuman(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("×%.2f", v)
}

// spreadHuman writes "median (min–max)" with f.
func spreadHuman(r Range, f func(float64) string) string {
	if r.N == 0 || math.IsNaN(float64(r.Median)) {
		return "n/a"
	}
	if r.N == 1 {
		return f(float64(r.Median))
	}
	return fmt.Sprintf("%s (%s–%s)", f(float64(r.Median)), f(float64(r.Min)), f(float64(r.Max)))
}
