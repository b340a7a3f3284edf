package retry

import "time"

// NTimes returns Curator's RetryNTimes(n, sleep): up to n retries (attempt < n), each
// after the same sleep. A negative n is treated as 0 (never retry), a negative sleep as 0.
func NTimes(n int, sleep time.Duration) Policy {
	return nTimes{n: nonNegative(n), sleep: nonNegative(sleep)}
}

// OneTime returns Curator's RetryOneTime(sleep): a single retry after sleep, the same as
// NTimes(1, sleep). A negative sleep is treated as 0.
func OneTime(sleep time.Duration) Policy {
	return NTimes(1, sleep)
}

type nTimes struct {
	n     int
	sleep time.Duration
}

func (p nTimes) Next(attempt int, _ time.Duration) (time.Duration, bool) {
	if attempt >= p.n {
		return 0, false
	}
	return p.sleep, true
}

// Forever returns Curator's RetryForever(interval): every retry is allowed, each after
// interval. Curator rejects an interval <= 0; here a negative interval is treated as 0,
// which retries without pausing, so pair it with a context that ends the loop.
func Forever(interval time.Duration) Policy {
	return forever{interval: nonNegative(interval)}
}

type forever struct {
	interval time.Duration
}

func (p forever) Next(int, time.Duration) (time.Duration, bool) {
	return p.interval, true
}

// UntilElapsed returns Curator's RetryUntilElapsed(maxElapsed, sleep): a retry is
// allowed while elapsed < maxElapsed, each after sleep. As in Curator the decision is
// taken before the sleep, so the last retry may start up to sleep after maxElapsed;
// bound the loop with a context deadline when that matters. Negative arguments are
// treated as 0; maxElapsed 0 never retries.
func UntilElapsed(maxElapsed, sleep time.Duration) Policy {
	return untilElapsed{maxElapsed: nonNegative(maxElapsed), sleep: nonNegative(sleep)}
}

type untilElapsed struct {
	maxElapsed time.Duration
	sleep      time.Duration
}

func (p untilElapsed) Next(_ int, elapsed time.Duration) (time.Duration, bool) {
	if elapsed >= p.maxElapsed {
		return 0, false
	}
	return p.sleep, true
}
