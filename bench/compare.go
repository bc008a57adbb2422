package bench

import (
	"fmt"
	"sort"
	"strings"
)

// CompareRanks compares the ranking of two reports of the same protocol, scenario by scenario,
// and says for each whether the order is the same, differs only between servers whose min–max
// ranges overlap in one of the runs (within noise), or differs for real.
func CompareRanks(a, b *Report) []string {
	var out []string
	for _, sa := range a.Scenarios {
		var sb *Scenario
		for i := range b.Scenarios {
			if b.Scenarios[i].Name == sa.Name {
				sb = &b.Scenarios[i]
			}
		}
		if sb == nil || sa.Name == ScenarioRate {
			continue
		}
		oa, ob := rankOrder(sa), rankOrder(*sb)
		line := fmt.Sprintf("%s: first run %s; second run %s", sa.Name, orderString(sa, oa), orderString(*sb, ob))
		var real, noise []string
		for i, x := range oa {
			for _, y := range oa[i+1:] {
				// x ranked before y in the first run; did the second run agree?
				px, py := indexOf(ob, x), indexOf(ob, y)
				if px < 0 || py < 0 || px < py {
					continue
				}
				pair := x + "/" + y
				if overlaps(metricOf(sa, x), metricOf(sa, y)) || overlaps(metricOf(*sb, x), metricOf(*sb, y)) {
					noise = append(noise, pair)
				} else {
					real = append(real, pair)
				}
			}
		}
		switch {
		case len(real) == 0 && len(noise) == 0:
			line += " — same order"
		case len(real) == 0:
			line += fmt.Sprintf(" — differs only within noise (overlapping min–max ranges: %s)", strings.Join(noise, ", "))
		default:
			line += fmt.Sprintf(" — DIFFERS beyond noise for %s", strings.Join(real, ", "))
			if len(noise) > 0 {
				line += fmt.Sprintf("; within noise for %s", strings.Join(noise, ", "))
			}
		}
		out = append(out, line)
	}
	return out
}

// rankOrder lists a scenario's ranked servers from rank 1 down.
func rankOrder(sc Scenario) []string {
	var rs []Result
	for _, r := range sc.Results {
		if r.Rank > 0 {
			rs = append(rs, r)
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Rank < rs[j].Rank })
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.Contender.Name
	}
	return names
}

// orderString writes an order as "a < b = c", where = joins neighbours whose ranges overlap.
func orderString(sc Scenario, order []string) string {
	var b strings.Builder
	for i, n := range order {
		if i > 0 {
			if overlaps(metricOf(sc, order[i-1]), metricOf(sc, n)) {
				b.WriteString(" = ")
			} else {
				b.WriteString(" < ")
			}
		}
		b.WriteString(n)
	}
	if len(order) == 0 {
		return "(nothing ranked)"
	}
	return b.String()
}

func metricOf(sc Scenario, name string) Spread {
	for _, r := range sc.Results {
		if r.Contender.Name == name {
			return rankMetric(sc.Name, r).spread()
		}
	}
	return Spread{}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}
