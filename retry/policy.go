// Package retry decides whether and when a failed ZooKeeper operation is tried again.
//
// A [Policy] answers one question: after attempt retries have already been made and
// elapsed time has passed since the first attempt started, may the operation be retried,
// and how long must the caller sleep first? The constructors mirror Apache Curator's
// policies with Curator's formulas and argument orders:
//
//	Curator                                              zkrecipes
//	ExponentialBackoffRetry(base, maxRetries)            ExponentialBackoff(base, maxRetries)
//	ExponentialBackoffRetry(base, maxRetries, maxSleep)  ExponentialBackoffMax(base, maxRetries, maxSleep)
//	BoundedExponentialBackoffRetry(base, max, retries)   BoundedExponentialBackoff(base, maxSleep, maxRetries)
//	RetryNTimes(n, sleep)                                NTimes(n, sleep)
//	RetryOneTime(sleep)                                  OneTime(sleep)
//	RetryForever(interval)                               Forever(interval)
//	RetryUntilElapsed(maxElapsed, sleep)                 UntilElapsed(maxElapsed, sleep)
//	SessionFailedRetryPolicy(delegate)                   SessionFailed(delegate)
//
// Which errors are worth retrying is a separate question, answered by [IsRetriable]
// (Curator's connection-loss class) unless the policy implements [Classifier].
// [Do] runs the whole loop with a context; [FromBackOff] and [ToBackOff] convert between
// a Policy and a github.com/cenkalti/backoff/v4 BackOff.
//
// Invalid arguments never panic: negative durations and counts are treated as 0, which
// the constructors document case by case.
package retry

import "time"

// Policy decides whether a failed operation may be retried and how long to sleep first.
//
// attempt is the number of retries already made: 0 when the first attempt has just
// failed, 1 after the first retry failed, and so on. elapsed is the time since the
// first attempt started. Next returns ok=false when no further retry is allowed; sleep
// is then meaningless. A negative sleep is treated as 0 by everything in this package.
//
// One Policy serves every operation of a client at once, so implementations must be
// safe for concurrent use and should keep no state between calls: everything a
// decision needs is in the arguments. All policies of this package are stateless
// except the one returned by [FromBackOff].
type Policy interface {
	Next(attempt int, elapsed time.Duration) (sleep time.Duration, ok bool)
}

// PolicyFunc adapts an ordinary function to a [Policy].
type PolicyFunc func(attempt int, elapsed time.Duration) (sleep time.Duration, ok bool)

// Next calls f(attempt, elapsed).
func (f PolicyFunc) Next(attempt int, elapsed time.Duration) (time.Duration, bool) {
	return f(attempt, elapsed)
}

// nonNegative clamps the negative inputs that Curator's Java constructors would reject
// or misbehave on: a Go caller gets a working policy instead of a panic.
func nonNegative[T ~int | ~int64](v T) T {
	return max(v, 0)
}
