package retry

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// pinned returns p with its random source replaced by pick, which receives the
// exclusive upper bound n and must return a value in [0, n).
func pinned(t *testing.T, p Policy, pick func(n int64) int64) *exponential {
	t.Helper()
	e, ok := p.(*exponential)
	if !ok {
		t.Fatalf("policy is %T, want *exponential", p)
	}
	e.int64N = func(n int64) int64 {
		v := pick(n)
		if v < 0 || v >= n {
			t.Fatalf("test source returned %d outside [0, %d)", v, n)
		}
		return v
	}
	return e
}

func lowest(int64) int64    { return 0 }
func highest(n int64) int64 { return n - 1 }

func TestExponentialBackoffRangePerAttempt(t *testing.T) {
	const base = 10 * time.Millisecond
	for attempt := 0; attempt < MaxExponentialRetries; attempt++ {
		wantMax := base * time.Duration(int64(1)<<(attempt+1)-1)
		wantMax = min(wantMax, defaultMaxSleep)

		var gotN int64
		p := pinned(t, ExponentialBackoff(base, MaxExponentialRetries), func(n int64) int64 {
			gotN = n
			return 0
		})
		sleep, ok := p.Next(attempt, 0)
		if !ok {
			t.Fatalf("attempt %d: not allowed", attempt)
		}
		if want := int64(1) << (attempt + 1); gotN != want {
			t.Errorf("attempt %d: random bound %d, want 2^(attempt+1) = %d", attempt, gotN, want)
		}
		// rand 0 and rand 1 both give the multiplier 1: max(1, r).
		if sleep != base {
			t.Errorf("attempt %d: lowest sleep %v, want base %v", attempt, sleep, base)
		}
		p.int64N = func(int64) int64 { return 1 }
		if sleep, _ := p.Next(attempt, 0); sleep != base {
			t.Errorf("attempt %d: sleep for r=1 is %v, want base %v", attempt, sleep, base)
		}

		p = pinned(t, ExponentialBackoff(base, MaxExponentialRetries), highest)
		if sleep, _ := p.Next(attempt, 0); sleep != wantMax {
			t.Errorf("attempt %d: highest sleep %v, want %v", attempt, sleep, wantMax)
		}
	}
}

func TestExponentialBackoffMultiplierIsRandomTimesBase(t *testing.T) {
	const base = 3 * time.Millisecond
	p := pinned(t, ExponentialBackoff(base, 5), func(int64) int64 { return 5 })
	if sleep, _ := p.Next(2, 0); sleep != 5*base {
		t.Fatalf("sleep %v, want 5*base = %v", sleep, 5*base)
	}
}

func TestExponentialBackoffDefaultSourceStaysInRange(t *testing.T) {
	const base = time.Millisecond
	p := ExponentialBackoff(base, 4)
	seen := map[time.Duration]bool{}
	for i := 0; i < 2000; i++ {
		for attempt := 0; attempt < 4; attempt++ {
			sleep, ok := p.Next(attempt, 0)
			hi := base * time.Duration(int64(1)<<(attempt+1)-1)
			if !ok || sleep < base || sleep > hi || sleep%base != 0 {
				t.Fatalf("attempt %d: Next = %v, %t; want a multiple of %v in [%v, %v]", attempt, sleep, ok, base, base, hi)
			}
			if attempt == 2 {
				seen[sleep] = true
			}
		}
	}
	// Attempt 2 draws from [0, 8): multipliers 1..7. With 2000 draws, missing one has
	// probability below 1e-100, so this checks the range is really covered.
	if len(seen) != 7 {
		t.Fatalf("attempt 2 produced %d distinct sleeps, want 7: %v", len(seen), seen)
	}
}

func TestExponentialBackoffSeededSource(t *testing.T) {
	const base = 100 * time.Millisecond
	r := rand.New(rand.NewPCG(1, 2))
	p := pinned(t, ExponentialBackoff(base, MaxExponentialRetries), r.Int64N)
	for attempt := 0; attempt < MaxExponentialRetries; attempt++ {
		sleep, ok := p.Next(attempt, 0)
		hi := min(base*time.Duration(int64(1)<<(attempt+1)-1), defaultMaxSleep)
		if !ok || sleep < base || sleep > hi {
			t.Fatalf("attempt %d: Next = %v, %t; want in [%v, %v]", attempt, sleep, ok, base, hi)
		}
	}
}

func TestExponentialBackoffMaxRetries(t *testing.T) {
	tests := []struct {
		maxRetries int
		allowed    int // attempts 0..allowed-1 are allowed
	}{
		{-5, 0},
		{0, 0},
		{1, 1},
		{3, 3},
		{29, 29},
		{30, 29},
		{math.MaxInt, 29},
	}
	for _, tt := range tests {
		for _, p := range []Policy{
			ExponentialBackoff(time.Millisecond, tt.maxRetries),
			ExponentialBackoffMax(time.Millisecond, tt.maxRetries, time.Second),
			BoundedExponentialBackoff(time.Millisecond, time.Second, tt.maxRetries),
		} {
			for attempt := 0; attempt <= tt.allowed+2; attempt++ {
				_, ok := p.Next(attempt, 0)
				if want := attempt < tt.allowed; ok != want {
					t.Errorf("maxRetries %d, attempt %d: ok = %t, want %t", tt.maxRetries, attempt, ok, want)
				}
			}
		}
	}
}

func TestExponentialBackoffIgnoresElapsed(t *testing.T) {
	p := pinned(t, ExponentialBackoff(time.Millisecond, 3), highest)
	for _, elapsed := range []time.Duration{0, time.Hour, math.MaxInt64} {
		if sleep, ok := p.Next(1, elapsed); !ok || sleep != 3*time.Millisecond {
			t.Errorf("elapsed %v: Next = %v, %t; want 3ms, true", elapsed, sleep, ok)
		}
	}
}

func TestExponentialBackoffNegativeArguments(t *testing.T) {
	p := pinned(t, ExponentialBackoff(-time.Second, 3), highest)
	if sleep, ok := p.Next(2, 0); !ok || sleep != 0 {
		t.Errorf("negative base: Next = %v, %t; want 0, true", sleep, ok)
	}
	p = pinned(t, ExponentialBackoffMax(time.Second, 3, -time.Second), highest)
	if sleep, ok := p.Next(2, 0); !ok || sleep != 0 {
		t.Errorf("negative maxSleep: Next = %v, %t; want 0, true", sleep, ok)
	}
	// A negative attempt is a caller bug; it is read as the first retry.
	p = pinned(t, ExponentialBackoff(time.Millisecond, 3), highest)
	if sleep, ok := p.Next(-1, 0); !ok || sleep != time.Millisecond {
		t.Errorf("negative attempt: Next = %v, %t; want 1ms, true", sleep, ok)
	}
}

func TestExponentialBackoffMaxSleepCap(t *testing.T) {
	const (
		base     = 100 * time.Millisecond
		maxSleep = 250 * time.Millisecond
	)
	for _, p := range []Policy{
		ExponentialBackoffMax(base, 10, maxSleep),
		BoundedExponentialBackoff(base, maxSleep, 10),
	} {
		for attempt := 0; attempt < 10; attempt++ {
			uncapped := base * time.Duration(int64(1)<<(attempt+1)-1)
			if sleep, _ := pinned(t, p, highest).Next(attempt, 0); sleep != min(uncapped, maxSleep) {
				t.Errorf("attempt %d: highest sleep %v, want min(%v, %v)", attempt, sleep, uncapped, maxSleep)
			}
			if sleep, _ := pinned(t, p, lowest).Next(attempt, 0); sleep != base {
				t.Errorf("attempt %d: lowest sleep %v, want %v", attempt, sleep, base)
			}
		}
		// From attempt 1 on, the multiplier 3 already exceeds the cap: exactly maxSleep.
		if sleep, _ := pinned(t, p, func(int64) int64 { return 3 }).Next(1, 0); sleep != maxSleep {
			t.Errorf("capped sleep %v, want exactly %v", sleep, maxSleep)
		}
	}
}

func TestExponentialBackoffCapBelowBase(t *testing.T) {
	p := pinned(t, BoundedExponentialBackoff(time.Second, time.Millisecond, 3), lowest)
	if sleep, _ := p.Next(0, 0); sleep != time.Millisecond {
		t.Fatalf("sleep %v, want the cap 1ms even below base", sleep)
	}
}

func TestExponentialBackoffDefaultCapIsCuratorIntegerMaxMillis(t *testing.T) {
	if want := time.Duration(2147483647) * time.Millisecond; defaultMaxSleep != want {
		t.Fatalf("defaultMaxSleep = %v, want %v", defaultMaxSleep, want)
	}
	p := pinned(t, ExponentialBackoff(time.Hour, MaxExponentialRetries), highest)
	if sleep, _ := p.Next(20, 0); sleep != defaultMaxSleep {
		t.Fatalf("sleep %v, want Curator's default cap %v", sleep, defaultMaxSleep)
	}
}

func TestExponentialBackoffSaturatesInsteadOfOverflowing(t *testing.T) {
	// 1h in nanoseconds times 2^29-1 is about 1.9e21, far beyond int64.
	p := pinned(t, ExponentialBackoffMax(time.Hour, MaxExponentialRetries, math.MaxInt64), highest)
	sleep, ok := p.Next(MaxExponentialRetries-1, 0)
	if !ok || sleep != math.MaxInt64 {
		t.Fatalf("Next = %v, %t; want the largest Duration, true", sleep, ok)
	}
	const maxSleep = 90 * 24 * time.Hour
	p = pinned(t, ExponentialBackoffMax(time.Hour, MaxExponentialRetries, maxSleep), highest)
	if sleep, _ := p.Next(MaxExponentialRetries-1, 0); sleep != maxSleep {
		t.Fatalf("sleep %v, want exactly the cap %v", sleep, maxSleep)
	}
	// Just below the overflow threshold the product is still exact.
	if got := saturatingMul(time.Duration(math.MaxInt64/7), 7); got != time.Duration(math.MaxInt64/7*7) {
		t.Fatalf("saturatingMul at the threshold = %v", got)
	}
	if got := saturatingMul(time.Duration(math.MaxInt64/7)+1, 7); got != math.MaxInt64 {
		t.Fatalf("saturatingMul past the threshold = %v, want saturation", got)
	}
	if got := saturatingMul(0, math.MaxInt64); got != 0 {
		t.Fatalf("saturatingMul(0, max) = %v, want 0", got)
	}
}
