package retry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// failing returns an fn that fails with errs in turn, then succeeds, and counts calls.
func failing(calls *int, errs ...error) func(context.Context) error {
	return func(context.Context) error {
		*calls++
		if *calls <= len(errs) {
			return errs[*calls-1]
		}
		return nil
	}
}

// within runs f and fails the test if it has not returned after a generous deadline:
// long enough for a loaded box, far shorter than the hour-long sleeps it guards against.
func within(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Do did not return promptly after its context ended")
		return nil
	}
}

func TestDoSucceedsFirstTime(t *testing.T) {
	calls := 0
	if err := Do(context.Background(), NTimes(3, 0), failing(&calls)); err != nil || calls != 1 {
		t.Fatalf("Do = %v after %d calls; want nil after 1", err, calls)
	}
}

func TestDoRetriesRetriableErrorsUntilSuccess(t *testing.T) {
	calls := 0
	fn := failing(&calls, zk.ErrConnectionClosed, fmt.Errorf("get /a: %w", serverCodeError(-4)), zk.ErrSessionExpired)
	if err := Do(context.Background(), NTimes(3, time.Millisecond), fn); err != nil || calls != 4 {
		t.Fatalf("Do = %v after %d calls; want nil after 4", err, calls)
	}
}

func TestDoStopsAtFinalError(t *testing.T) {
	for _, final := range []error{zk.ErrNoNode, zk.ErrNodeExists, zk.ErrBadVersion, errors.New("app error")} {
		calls := 0
		wrapped := fmt.Errorf("set /a: %w", final)
		err := Do(context.Background(), Forever(0), failing(&calls, zk.ErrConnectionClosed, wrapped))
		if err != wrapped || calls != 2 {
			t.Errorf("final %v: Do = %v after %d calls; want the same error after 2", final, err, calls)
		}
	}
}

func TestDoReturnsLastErrorWhenPolicyRefuses(t *testing.T) {
	calls := 0
	last := fmt.Errorf("create /a: %w", zk.ErrNoServer)
	err := Do(context.Background(), NTimes(2, 0), failing(&calls, zk.ErrConnectionClosed, zk.ErrConnectionClosed, last, nil))
	if err != last || calls != 3 {
		t.Fatalf("Do = %v after %d calls; want %v after 3", err, calls, last)
	}
	if !errors.Is(err, zk.ErrNoServer) {
		t.Fatal("errors.Is lost the sentinel")
	}
}

func TestDoPassesAttemptAndElapsed(t *testing.T) {
	var attempts []int
	var elapsed []time.Duration
	p := PolicyFunc(func(attempt int, e time.Duration) (time.Duration, bool) {
		attempts = append(attempts, attempt)
		elapsed = append(elapsed, e)
		return 0, attempt < 3
	})
	calls := 0
	err := Do(context.Background(), p, func(context.Context) error { calls++; return zk.ErrConnectionClosed })
	if !errors.Is(err, zk.ErrConnectionClosed) || calls != 4 {
		t.Fatalf("Do = %v after %d calls; want ErrConnectionClosed after 4", err, calls)
	}
	if want := []int{0, 1, 2, 3}; !slices.Equal(attempts, want) {
		t.Fatalf("attempts = %v, want %v", attempts, want)
	}
	if elapsed[0] < 0 || !slices.IsSorted(elapsed) {
		t.Fatalf("elapsed = %v, want non-negative and non-decreasing", elapsed)
	}
}

func TestDoOnRetry(t *testing.T) {
	type call struct {
		attempt int
		err     error
		sleep   time.Duration
	}
	var got []call
	hook := OnRetry(func(attempt int, err error, sleep time.Duration) { got = append(got, call{attempt, err, sleep}) })
	p := PolicyFunc(func(attempt int, _ time.Duration) (time.Duration, bool) {
		if attempt == 0 {
			return -time.Second, true // negative sleeps are reported and slept as 0
		}
		return time.Millisecond, attempt < 2
	})
	e0, e1, e2 := zk.ErrConnectionClosed, zk.ErrSessionMoved, zk.ErrNoServer
	calls := 0
	err := Do(context.Background(), p, failing(&calls, e0, e1, e2), hook, nil, OnRetry(nil))
	if err != e2 {
		t.Fatalf("Do = %v, want %v", err, e2)
	}
	want := []call{{0, e0, 0}, {1, e1, time.Millisecond}}
	if !slices.Equal(got, want) {
		t.Fatalf("OnRetry calls = %v, want %v (none when giving up)", got, want)
	}
}

func TestDoConsultsClassifier(t *testing.T) {
	calls := 0
	err := Do(context.Background(), SessionFailed(Forever(0)), failing(&calls, zk.ErrConnectionClosed, zk.ErrSessionExpired, nil))
	if !errors.Is(err, zk.ErrSessionExpired) || calls != 2 {
		t.Fatalf("Do = %v after %d calls; want ErrSessionExpired after 2", err, calls)
	}

	calls = 0
	err = Do(context.Background(), onlyNoNode{NTimes(5, 0)}, failing(&calls, zk.ErrNoNode, zk.ErrNoNode, nil))
	if err != nil || calls != 3 {
		t.Fatalf("custom classifier: Do = %v after %d calls; want nil after 3", err, calls)
	}
}

func TestDoNilPolicyRunsOnce(t *testing.T) {
	calls := 0
	err := Do(context.Background(), nil, failing(&calls, zk.ErrConnectionClosed, nil))
	if !errors.Is(err, zk.ErrConnectionClosed) || calls != 1 {
		t.Fatalf("Do = %v after %d calls; want ErrConnectionClosed after 1", err, calls)
	}
}

func TestDoContextAlreadyDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	err := Do(ctx, Forever(0), failing(&calls, zk.ErrConnectionClosed))
	if err != context.Canceled || calls != 0 {
		t.Fatalf("Do = %v after %d calls; want context.Canceled and fn not called", err, calls)
	}
}

func TestDoCancelDuringSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	last := fmt.Errorf("get /a: %w", zk.ErrConnectionClosed)
	err := within(t, func() error {
		return Do(ctx, Forever(time.Hour), func(context.Context) error { calls++; return last },
			OnRetry(func(int, error, time.Duration) { cancel() }))
	})
	if calls != 1 {
		t.Fatalf("fn ran %d times, want 1", calls)
	}
	if !errors.Is(err, context.Canceled) || !errors.Is(err, zk.ErrConnectionClosed) {
		t.Fatalf("Do = %v; want it to match both context.Canceled and the last error", err)
	}
	if IsRetriable(err) {
		t.Fatal("the error Do returns on cancel must not look retriable")
	}
}

func TestDoDeadlineDuringSleep(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := within(t, func() error {
		return Do(ctx, ExponentialBackoffMax(time.Hour, 5, time.Hour), func(context.Context) error {
			return serverCodeError(-7)
		})
	})
	if !errors.Is(err, context.DeadlineExceeded) || err.Error() != "context deadline exceeded (last error: unknown error: -7)" {
		t.Fatalf("Do = %q; want DeadlineExceeded carrying the last error", err)
	}
	if inner := err.(interface{ Unwrap() []error }).Unwrap(); len(inner) != 2 || !IsRetriable(inner[1]) {
		t.Fatal("the last error inside is no longer recognisable")
	}
}

func TestDoCancelDuringCall(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	err := Do(ctx, Forever(0), func(ctx context.Context) error {
		calls++
		cancel()
		return zk.ErrConnectionClosed
	})
	if calls != 1 || !errors.Is(err, context.Canceled) || !errors.Is(err, zk.ErrConnectionClosed) {
		t.Fatalf("Do = %v after %d calls; want Canceled + ErrConnectionClosed after 1", err, calls)
	}

	// fn reporting the cancellation itself: returned as is, not wrapped twice.
	ctx2, cancel2 := context.WithCancel(context.Background())
	own := fmt.Errorf("get /a: %w", context.Canceled)
	err = Do(ctx2, Forever(0), func(context.Context) error { cancel2(); return own })
	if err != own {
		t.Fatalf("Do = %v, want fn's own error %v", err, own)
	}

	// A final answer that arrives after cancellation is still the answer.
	ctx3, cancel3 := context.WithCancel(context.Background())
	err = Do(ctx3, Forever(0), func(context.Context) error { cancel3(); return zk.ErrNoNode })
	if err != zk.ErrNoNode {
		t.Fatalf("Do = %v, want ErrNoNode unchanged", err)
	}
}

func TestDoPassesContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	err := Do(ctx, nil, func(got context.Context) error {
		if got.Value(key{}) != "v" {
			return errors.New("fn got a different context")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
