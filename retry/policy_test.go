package retry

import (
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
)

type decision struct {
	attempt int
	elapsed time.Duration
	sleep   time.Duration
	ok      bool
}

func checkDecisions(t *testing.T, name string, p Policy, want []decision) {
	t.Helper()
	for _, w := range want {
		sleep, ok := p.Next(w.attempt, w.elapsed)
		if ok != w.ok || (ok && sleep != w.sleep) {
			t.Errorf("%s: Next(%d, %v) = %v, %t; want %v, %t", name, w.attempt, w.elapsed, sleep, ok, w.sleep, w.ok)
		}
	}
}

func TestPolicyFunc(t *testing.T) {
	var p Policy = PolicyFunc(func(attempt int, elapsed time.Duration) (time.Duration, bool) {
		return time.Duration(attempt) * elapsed, attempt < 2
	})
	checkDecisions(t, "PolicyFunc", p, []decision{
		{1, time.Second, time.Second, true},
		{2, time.Second, 0, false},
	})
}

// One Policy serves all operations of a client at once; run with -race.
func TestPoliciesConcurrentUse(t *testing.T) {
	policies := map[string]Policy{
		"ExponentialBackoff":        ExponentialBackoff(time.Millisecond, 10),
		"ExponentialBackoffMax":     ExponentialBackoffMax(time.Millisecond, 10, 5*time.Millisecond),
		"BoundedExponentialBackoff": BoundedExponentialBackoff(time.Millisecond, 5*time.Millisecond, 10),
		"NTimes":                    NTimes(5, time.Millisecond),
		"OneTime":                   OneTime(time.Millisecond),
		"Forever":                   Forever(time.Millisecond),
		"UntilElapsed":              UntilElapsed(time.Second, time.Millisecond),
		"SessionFailed":             SessionFailed(ExponentialBackoff(time.Millisecond, 10)),
		"FromBackOff":               FromBackOff(backoff.NewExponentialBackOff()),
	}
	var wg sync.WaitGroup
	for name, p := range policies {
		for g := 0; g < 3; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 300; i++ {
					sleep, _ := p.Next(i%12, time.Duration(i)*time.Millisecond)
					if sleep < 0 {
						t.Errorf("%s: negative sleep %v", name, sleep)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
}
