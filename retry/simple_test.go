package retry

import (
	"math"
	"testing"
	"time"
)

func TestNTimes(t *testing.T) {
	const s = 7 * time.Millisecond
	checkDecisions(t, "NTimes(3)", NTimes(3, s), []decision{
		{0, 0, s, true},
		{1, time.Hour, s, true},
		{2, 0, s, true},
		{3, 0, 0, false},
		{math.MaxInt, 0, 0, false},
	})
	checkDecisions(t, "NTimes(0)", NTimes(0, s), []decision{{0, 0, 0, false}})
	checkDecisions(t, "NTimes(-1)", NTimes(-1, s), []decision{{0, 0, 0, false}})
	checkDecisions(t, "NTimes(2, -1s)", NTimes(2, -time.Second), []decision{{0, 0, 0, true}, {2, 0, 0, false}})
}

func TestOneTime(t *testing.T) {
	const s = 5 * time.Millisecond
	checkDecisions(t, "OneTime", OneTime(s), []decision{
		{0, 0, s, true},
		{1, 0, 0, false},
	})
	checkDecisions(t, "OneTime(-1s)", OneTime(-time.Second), []decision{{0, 0, 0, true}})
}

func TestForever(t *testing.T) {
	const s = time.Second
	checkDecisions(t, "Forever", Forever(s), []decision{
		{0, 0, s, true},
		{1000, 0, s, true},
		{math.MaxInt, math.MaxInt64, s, true},
	})
	checkDecisions(t, "Forever(-1s)", Forever(-time.Second), []decision{{3, 0, 0, true}})
}

func TestUntilElapsed(t *testing.T) {
	const (
		maxElapsed = 10 * time.Second
		s          = 250 * time.Millisecond
	)
	checkDecisions(t, "UntilElapsed", UntilElapsed(maxElapsed, s), []decision{
		{0, 0, s, true},
		{math.MaxInt, 0, s, true}, // the count does not matter
		{5, maxElapsed - time.Nanosecond, s, true},
		{5, maxElapsed, 0, false}, // Curator: elapsed < maxElapsed
		{0, maxElapsed + time.Hour, 0, false},
	})
	checkDecisions(t, "UntilElapsed(0)", UntilElapsed(0, s), []decision{{0, 0, 0, false}})
	checkDecisions(t, "UntilElapsed(-1s)", UntilElapsed(-time.Second, s), []decision{{0, 0, 0, false}})
	checkDecisions(t, "UntilElapsed(1s, -1s)", UntilElapsed(time.Second, -time.Second), []decision{{0, 0, 0, true}})
}
