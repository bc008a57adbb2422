package bench

import (
	"math/bits"
	"time"
)

// Histogram records durations in log-linear buckets: exact below 128 ns, then 64 buckets per
// power of two, so any recorded value is known to within 1.6%. It holds a fixed array, so
// Record never allocates; each load goroutine keeps its own and they are merged at the end.
// The zero value is empty and ready to use.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	max    int64
}

const (
	histSubBits = 6
	histSub     = 1 << histSubBits // buckets per power of two
	histExact   = 2 * histSub      // values below this have a bucket each
	// Durations up to 2^40 ns (18 minutes) are distinguished; larger ones land in the last
	// bucket, which is far beyond any bounded load run.
	histBuckets = histExact + (40-histSubBits)*histSub
)

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)]++
	h.n++
	if v > h.max {
		h.max = v
	}
}

// Count returns the number of recorded durations.
func (h *Histogram) Count() uint64 { return h.n }

// Merge adds every duration recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	if o.max > h.max {
		h.max = o.max
	}
}

// Quantile returns the duration below which a fraction q of the recorded ones lie (the middle
// of the bucket that holds it), or 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	rank := uint64(q * float64(h.n))
	if rank >= h.n {
		rank = h.n - 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			lo, hi := bucketBounds(i)
			mid := lo + (hi-lo)/2
			if mid > h.max {
				mid = h.max
			}
			return time.Duration(mid)
		}
	}
	return time.Duration(h.max)
}

func bucketOf(v int64) int {
	if v < histExact {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - (histSubBits + 1) // shift that leaves the top 7 bits
	i := histExact + (e-1)*histSub + int(v>>uint(e)) - histSub
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// bucketBounds returns the smallest value of bucket i and the smallest of bucket i+1.
func bucketBounds(i int) (lo, hi int64) {
	if i < histExact {
		return int64(i), int64(i) + 1
	}
	e := (i-histExact)/histSub + 1
	top := int64((i-histExact)%histSub + histSub)
	return top << uint(e), (top + 1) << uint(e)
}
