package testkit

import (
	"slices"
	"testing"
	"time"
)

// Samples collects the durations of a side-by-side benchmark per side ("raw", "zkrecipes",
// "curator"), for the metrics the issues set targets on: the median (p50) of each side and
// the ratios of the medians.
type Samples map[string][]time.Duration

// Add records one sample of side.
func (s Samples) Add(side string, d ...time.Duration) { s[side] = append(s[side], d...) }

// P50 is side's median, 0 without samples.
func (s Samples) P50(side string) time.Duration {
	v := slices.Clone(s[side])
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// Report reports <side>-p50-<unit> and <side>-mean-<unit> of each side that has samples,
// with unit "µs" or "ms".
func (s Samples) Report(b *testing.B, unit string, sides ...string) {
	scale := 1e3
	if unit == "ms" {
		scale = 1e6
	}
	for _, side := range sides {
		v := s[side]
		if len(v) == 0 {
			continue
		}
		var sum time.Duration
		for _, d := range v {
			sum += d
		}
		b.ReportMetric(float64(s.P50(side).Nanoseconds())/scale, side+"-p50-"+unit)
		b.ReportMetric(float64(sum.Nanoseconds())/float64(len(v))/scale, side+"-mean-"+unit)
	}
}

// Ratio reports a/over, the ratio of the medians, when both sides have samples.
func (s Samples) Ratio(b *testing.B, a, over string) {
	if s.P50(a) > 0 && s.P50(over) > 0 {
		b.ReportMetric(float64(s.P50(a))/float64(s.P50(over)), a+"/"+over)
	}
}

// Rate reports <side>-ops/s from side's median: how many one after another would take per
// second.
func (s Samples) Rate(b *testing.B, side, ops string) {
	if p := s.P50(side); p > 0 {
		b.ReportMetric(float64(time.Second)/float64(p), side+"-"+ops+"/s")
	}
}
