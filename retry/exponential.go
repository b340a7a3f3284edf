package retry

import (
	"math"
	"math/rand/v2"
	"time"
)

// MaxExponentialRetries is the largest maxRetries the exponential policies accept
// (Curator's MAX_RETRIES_LIMIT); larger values are treated as this one. It keeps the
// random multiplier's range, 2^(attempt+1), within 2^29.
const MaxExponentialRetries = 29

// defaultMaxSleep is Curator's default cap for ExponentialBackoffRetry,
// Integer.MAX_VALUE milliseconds (about 24.8 days).
const defaultMaxSleep = time.Duration(math.MaxInt32) * time.Millisecond

// ExponentialBackoff returns Curator's ExponentialBackoffRetry(base, maxRetries).
//
// A retry is allowed while attempt < maxRetries. The sleep before retry number attempt
// (0-based) is base * max(1, r) with r drawn uniformly from [0, 2^(attempt+1)), so it lies
// in [base, base*(2^(attempt+1)-1)]; like Curator's default it is capped at 2^31-1 ms.
// elapsed is ignored.
//
// maxRetries above [MaxExponentialRetries] is treated as 29; a negative maxRetries as 0
// (never retry). A negative base is treated as 0 (retry without sleeping). The product
// is computed in 64 bits and saturates instead of overflowing, so a large base never
// yields a negative or wrapped-around sleep.
func ExponentialBackoff(base time.Duration, maxRetries int) Policy {
	return newExponential(base, maxRetries, defaultMaxSleep)
}

// ExponentialBackoffMax returns Curator's ExponentialBackoffRetry(base, maxRetries,
// maxSleep): [ExponentialBackoff] with every sleep capped at maxSleep. A negative
// maxSleep is treated as 0, so every sleep is 0.
func ExponentialBackoffMax(base time.Duration, maxRetries int, maxSleep time.Duration) Policy {
	return newExponential(base, maxRetries, maxSleep)
}

// BoundedExponentialBackoff returns Curator's BoundedExponentialBackoffRetry(base,
// maxSleep, maxRetries). It behaves exactly like [ExponentialBackoffMax]; only the
// argument order differs, and follows Curator's so that configuration carries over.
func BoundedExponentialBackoff(base, maxSleep time.Duration, maxRetries int) Policy {
	return newExponential(base, maxRetries, maxSleep)
}

type exponential struct {
	base       time.Duration
	maxSleep   time.Duration
	maxRetries int
	// int64N returns a uniform value in [0, n). Tests replace it to pin both ends of
	// the range; the default is safe for concurrent use.
	int64N func(n int64) int64
}

func newExponential(base time.Duration, maxRetries int, maxSleep time.Duration) *exponential {
	return &exponential{
		base:       nonNegative(base),
		maxSleep:   nonNegative(maxSleep),
		maxRetries: min(nonNegative(maxRetries), MaxExponentialRetries),
		int64N:     rand.Int64N,
	}
}

func (p *exponential) Next(attempt int, _ time.Duration) (time.Duration, bool) {
	attempt = nonNegative(attempt)
	if attempt >= p.maxRetries {
		return 0, false
	}
	multiplier := max(1, p.int64N(int64(1)<<(attempt+1)))
	return min(saturatingMul(p.base, multiplier), p.maxSleep), true
}

// saturatingMul returns d*m for m >= 1, or the largest Duration if that overflows.
// Durations count nanoseconds, so overflow is reachable with a base of hours and a late
// attempt, where Curator's milliseconds were not.
func saturatingMul(d time.Duration, m int64) time.Duration {
	if d > 0 && int64(d) > math.MaxInt64/m {
		return math.MaxInt64
	}
	return d * time.Duration(m)
}
