package retry

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-zookeeper/zk"
)

// countingBackOff records Reset calls and yields 1ms, 2ms, ... until limit values were
// given, then backoff.Stop.
type countingBackOff struct {
	resets, calls, limit int
}

func (b *countingBackOff) Reset() { b.resets++; b.calls = 0 }

func (b *countingBackOff) NextBackOff() time.Duration {
	if b.calls >= b.limit {
		return backoff.Stop
	}
	b.calls++
	return time.Duration(b.calls) * time.Millisecond
}

func TestFromBackOffResetsAtAttemptZero(t *testing.T) {
	b := &countingBackOff{limit: 2}
	p := FromBackOff(b)
	checkDecisions(t, "first loop", p, []decision{
		{0, 0, 1 * time.Millisecond, true},
		{1, 0, 2 * time.Millisecond, true},
		{2, 0, 0, false},
	})
	if b.resets != 1 {
		t.Fatalf("resets after first loop = %d, want 1", b.resets)
	}
	// A new loop starts at attempt 0 and must not inherit the exhausted state.
	checkDecisions(t, "second loop", p, []decision{
		{0, 0, 1 * time.Millisecond, true},
	})
	if b.resets != 2 {
		t.Fatalf("resets after second loop started = %d, want 2", b.resets)
	}
	// A negative attempt is a caller bug and is read as attempt 0.
	p.Next(-1, 0)
	if b.resets != 3 {
		t.Fatalf("resets after attempt -1 = %d, want 3", b.resets)
	}
}

func TestFromBackOffLibraryPolicies(t *testing.T) {
	checkDecisions(t, "StopBackOff", FromBackOff(&backoff.StopBackOff{}), []decision{{0, 0, 0, false}})
	checkDecisions(t, "ZeroBackOff", FromBackOff(&backoff.ZeroBackOff{}), []decision{{0, 0, 0, true}, {99, 0, 0, true}})
	checkDecisions(t, "WithMaxRetries(Constant(5ms), 2)",
		FromBackOff(backoff.WithMaxRetries(backoff.NewConstantBackOff(5*time.Millisecond), 2)),
		[]decision{
			{0, 0, 5 * time.Millisecond, true},
			{1, 0, 5 * time.Millisecond, true},
			{2, 0, 0, false},
			{0, 0, 5 * time.Millisecond, true}, // WithMaxRetries counts from its Reset
		})

	exp := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(10*time.Millisecond),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(0),
		backoff.WithMaxInterval(30*time.Millisecond),
		backoff.WithMaxElapsedTime(0),
	)
	checkDecisions(t, "ExponentialBackOff", FromBackOff(exp), []decision{
		{0, 0, 10 * time.Millisecond, true},
		{1, 0, 20 * time.Millisecond, true},
		{2, 0, 30 * time.Millisecond, true},
		{3, 0, 30 * time.Millisecond, true},
		{0, 0, 10 * time.Millisecond, true},
	})
}

func TestFromBackOffNegativeIsZeroAndNilNeverRetries(t *testing.T) {
	checkDecisions(t, "negative constant", FromBackOff(backoff.NewConstantBackOff(-5*time.Second)),
		[]decision{{0, 0, 0, true}})
	checkDecisions(t, "nil", FromBackOff(nil), []decision{{0, 0, 0, false}})
}

func TestFromBackOffConcurrentUseIsRaceFree(t *testing.T) {
	p := FromBackOff(&countingBackOff{limit: 1 << 30})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				if _, ok := p.Next(i%5, 0); !ok {
					t.Error("unexpected stop")
					return
				}
			}
		}()
	}
	wg.Wait()
}

// fakeClock is advanced by hand so that elapsed-based policies are pinned exactly.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.now = c.now.Add(d) }

func withClock(t *testing.T, b backoff.BackOff, c *fakeClock) backoff.BackOff {
	t.Helper()
	tb, ok := b.(*toBackOff)
	if !ok {
		t.Fatalf("ToBackOff returned %T", b)
	}
	tb.now = c.Now
	tb.Reset()
	return b
}

func TestToBackOffCountsAttempts(t *testing.T) {
	var got []int
	p := PolicyFunc(func(attempt int, _ time.Duration) (time.Duration, bool) {
		got = append(got, attempt)
		return time.Duration(attempt+1) * time.Millisecond, attempt < 2
	})
	b := ToBackOff(p)
	want := []time.Duration{time.Millisecond, 2 * time.Millisecond, backoff.Stop, backoff.Stop}
	for i, w := range want {
		if d := b.NextBackOff(); d != w {
			t.Errorf("call %d: NextBackOff = %v, want %v", i, d, w)
		}
	}
	// Once stopped, the policy keeps being asked about the refused attempt.
	if wantAttempts := []int{0, 1, 2, 2}; !slices.Equal(got, wantAttempts) {
		t.Errorf("attempts passed to the policy = %v, want %v", got, wantAttempts)
	}
	b.Reset()
	if d := b.NextBackOff(); d != time.Millisecond {
		t.Errorf("after Reset: NextBackOff = %v, want 1ms", d)
	}
	if got[len(got)-1] != 0 {
		t.Errorf("after Reset the policy saw attempt %d, want 0", got[len(got)-1])
	}
}

func TestToBackOffElapsed(t *testing.T) {
	c := &fakeClock{now: time.Unix(1700000000, 0)}
	b := withClock(t, ToBackOff(UntilElapsed(time.Second, 100*time.Millisecond)), c)
	if d := b.NextBackOff(); d != 100*time.Millisecond {
		t.Fatalf("at 0s: %v, want 100ms", d)
	}
	c.Advance(999 * time.Millisecond)
	if d := b.NextBackOff(); d != 100*time.Millisecond {
		t.Fatalf("at 999ms: %v, want 100ms", d)
	}
	c.Advance(time.Millisecond)
	if d := b.NextBackOff(); d != backoff.Stop {
		t.Fatalf("at 1s: %v, want Stop", d)
	}
	b.Reset() // restarts the clock
	if d := b.NextBackOff(); d != 100*time.Millisecond {
		t.Fatalf("after Reset: %v, want 100ms", d)
	}

	var seen []time.Duration
	b = withClock(t, ToBackOff(PolicyFunc(func(_ int, elapsed time.Duration) (time.Duration, bool) {
		seen = append(seen, elapsed)
		return 0, true
	})), c)
	b.NextBackOff()
	c.Advance(3 * time.Second)
	b.NextBackOff()
	if len(seen) != 2 || seen[0] != 0 || seen[1] != 3*time.Second {
		t.Fatalf("elapsed seen by the policy = %v, want [0s 3s]", seen)
	}
}

func TestToBackOffNeverReturnsOtherNegatives(t *testing.T) {
	b := ToBackOff(PolicyFunc(func(int, time.Duration) (time.Duration, bool) { return -time.Hour, true }))
	if d := b.NextBackOff(); d != 0 {
		t.Fatalf("NextBackOff = %v, want 0 for a negative sleep", d)
	}
	if d := ToBackOff(nil).NextBackOff(); d != backoff.Stop {
		t.Fatalf("ToBackOff(nil).NextBackOff = %v, want Stop", d)
	}
}

func TestToBackOffWithBackoffRetry(t *testing.T) {
	calls := 0
	err := backoff.Retry(func() error {
		calls++
		return zk.ErrConnectionClosed
	}, ToBackOff(NTimes(3, 0)))
	if calls != 4 {
		t.Errorf("operation ran %d times, want 1 + 3 retries", calls)
	}
	if !errors.Is(err, zk.ErrConnectionClosed) {
		t.Errorf("Retry returned %v", err)
	}

	// The documented way to keep the classification under backoff.Retry.
	p := NTimes(3, 0)
	calls = 0
	err = backoff.Retry(func() error {
		calls++
		err := zk.ErrNoNode
		if !Retriable(p, err) {
			return backoff.Permanent(err)
		}
		return err
	}, ToBackOff(p))
	if calls != 1 || !errors.Is(err, zk.ErrNoNode) {
		t.Errorf("permanent error: %d calls, err %v; want 1 call and ErrNoNode", calls, err)
	}
}

func TestRoundTrip(t *testing.T) {
	const s = 4 * time.Millisecond
	p := FromBackOff(ToBackOff(NTimes(2, s)))
	for loop := 0; loop < 2; loop++ {
		checkDecisions(t, "FromBackOff(ToBackOff(NTimes(2)))", p, []decision{
			{0, 0, s, true},
			{1, 0, s, true},
			{2, 0, 0, false},
		})
	}
	b := ToBackOff(FromBackOff(backoff.WithMaxRetries(backoff.NewConstantBackOff(s), 1)))
	for loop := 0; loop < 2; loop++ {
		if d := b.NextBackOff(); d != s {
			t.Fatalf("loop %d: first NextBackOff = %v, want %v", loop, d, s)
		}
		if d := b.NextBackOff(); d != backoff.Stop {
			t.Fatalf("loop %d: second NextBackOff = %v, want Stop", loop, d)
		}
		b.Reset()
	}
}
