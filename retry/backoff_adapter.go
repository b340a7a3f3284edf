package retry

import (
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// FromBackOff returns a [Policy] driven by b, so an existing cenkalti/backoff
// configuration can be used wherever a Policy is expected: b.NextBackOff() gives the
// sleep, and backoff.Stop ends the retries. A negative duration other than Stop is
// treated as 0; a nil b never retries.
//
// A backoff.BackOff is stateful while a Policy is asked with an explicit attempt
// number, so the two are bridged like this: Next with attempt 0 calls b.Reset before
// asking b, and every later attempt takes b's next value whatever its number. elapsed
// is ignored; b measures its own time (ExponentialBackOff's MaxElapsedTime counts from
// that Reset, i.e. from the first failure rather than the first attempt).
//
// Because b's state belongs to one retry loop at a time, the returned Policy is not
// stateless like the others in this package: calls are serialised, so sharing it is
// race-free, but loops that run concurrently interleave b's sequence (and share a
// backoff.WithMaxRetries budget). Give each concurrent loop its own FromBackOff, or
// prefer a native policy for a client shared by many goroutines.
func FromBackOff(b backoff.BackOff) Policy {
	if b == nil {
		return NTimes(0, 0)
	}
	return &fromBackOff{b: b}
}

type fromBackOff struct {
	mu sync.Mutex
	b  backoff.BackOff
}

func (p *fromBackOff) Next(attempt int, _ time.Duration) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if attempt <= 0 {
		p.b.Reset()
	}
	d := p.b.NextBackOff()
	if d == backoff.Stop {
		return 0, false
	}
	return max(d, 0), true
}

// ToBackOff returns a backoff.BackOff that follows p, for APIs that take one such as
// backoff.Retry and backoff.NewTicker. It counts the retries it has granted and
// measures elapsed time from its creation or latest Reset, and passes both to p.Next;
// backoff.Retry calls Reset before the first attempt, so there elapsed is exactly the
// time since the first attempt started. NextBackOff returns backoff.Stop once p refuses
// (and keeps asking p with the same attempt number, so it stays stopped for the
// count-based policies) and never returns another negative duration. Reset restarts
// both the count and the clock. A nil p never retries.
//
// backoff.Retry retries every error that is not wrapped in backoff.Permanent; it knows
// nothing of [IsRetriable] or a [Classifier]. Classify inside the operation when
// needed: if !retry.Retriable(p, err) { return backoff.Permanent(err) }. Or use [Do].
//
// The returned BackOff is safe for concurrent use, but like any backoff.BackOff it
// drives one retry loop at a time.
func ToBackOff(p Policy) backoff.BackOff {
	if p == nil {
		p = NTimes(0, 0)
	}
	b := &toBackOff{p: p, now: time.Now}
	b.start = b.now()
	return b
}

type toBackOff struct {
	p   Policy
	now func() time.Time // replaced in tests to pin elapsed-based policies

	mu      sync.Mutex
	attempt int
	start   time.Time
}

func (b *toBackOff) NextBackOff() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	sleep, ok := b.p.Next(b.attempt, b.now().Sub(b.start))
	if !ok {
		return backoff.Stop
	}
	b.attempt++
	return max(sleep, 0)
}

func (b *toBackOff) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.attempt = 0
	b.start = b.now()
}
