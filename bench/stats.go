package bench

import (
	"math"
	"sort"
)

// Spread is the median and the range of a metric over the rounds.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	// N is the number of rounds that produced a value.
	N int `json:"n"`
}

// spreadOf summarises the values that are not NaN (a round that could not measure the metric
// contributes nothing).
func spreadOf(vals []float64) Spread {
	v := make([]float64, 0, len(vals))
	for _, x := range vals {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return Spread{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	sort.Float64s(v)
	return Spread{Median: median(v), Min: v[0], Max: v[len(v)-1], N: len(v)}
}

// median of sorted values.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// medianRatio is the median of the per-round ratios a[i]/b[i], over rounds where both are
// known. Two backends measured in the same round shared the machine's weather, so their ratio
// varies far less than either absolute number.
func medianRatio(a, b []float64) float64 {
	var r []float64
	for i := range a {
		if i < len(b) && !math.IsNaN(a[i]) && !math.IsNaN(b[i]) && b[i] != 0 {
			r = append(r, a[i]/b[i])
		}
	}
	if len(r) == 0 {
		return math.NaN()
	}
	sort.Float64s(r)
	return median(r)
}

// overlaps reports whether two spreads' min–max ranges intersect: then their order may be noise.
func overlaps(a, b Spread) bool {
	return a.N > 0 && b.N > 0 && a.Min <= b.Max && b.Min <= a.Max
}
