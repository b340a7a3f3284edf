package retry_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes/retry"
)

// printRange asks p about each attempt and prints whether the random sleep lies in
// [lo, hi(attempt)], which keeps the output deterministic.
func printRange(p retry.Policy, lo time.Duration, hi func(attempt int) time.Duration) {
	for attempt := 0; ; attempt++ {
		sleep, ok := p.Next(attempt, 0)
		if !ok {
			fmt.Printf("retry %d: refused\n", attempt)
			return
		}
		fmt.Printf("retry %d: sleep in [%v, %v]: %t\n", attempt, lo, hi(attempt), lo <= sleep && sleep <= hi(attempt))
	}
}

func ExampleExponentialBackoff() {
	const base = 100 * time.Millisecond
	// Curator: new ExponentialBackoffRetry(100, 4)
	p := retry.ExponentialBackoff(base, 4)
	printRange(p, base, func(attempt int) time.Duration {
		return base * time.Duration(1<<(attempt+1)-1)
	})
	// Output:
	// retry 0: sleep in [100ms, 100ms]: true
	// retry 1: sleep in [100ms, 300ms]: true
	// retry 2: sleep in [100ms, 700ms]: true
	// retry 3: sleep in [100ms, 1.5s]: true
	// retry 4: refused
}

func ExampleExponentialBackoffMax() {
	const base, maxSleep = 100 * time.Millisecond, 500 * time.Millisecond
	// Curator: new ExponentialBackoffRetry(100, 4, 500)
	p := retry.ExponentialBackoffMax(base, 4, maxSleep)
	printRange(p, base, func(attempt int) time.Duration {
		return min(base*time.Duration(1<<(attempt+1)-1), maxSleep)
	})
	// Output:
	// retry 0: sleep in [100ms, 100ms]: true
	// retry 1: sleep in [100ms, 300ms]: true
	// retry 2: sleep in [100ms, 500ms]: true
	// retry 3: sleep in [100ms, 500ms]: true
	// retry 4: refused
}

func ExampleBoundedExponentialBackoff() {
	const base, maxSleep = time.Second, 2 * time.Second
	// Curator: new BoundedExponentialBackoffRetry(1000, 2000, 3); note maxSleep comes
	// before maxRetries here, unlike ExponentialBackoffMax.
	p := retry.BoundedExponentialBackoff(base, maxSleep, 3)
	printRange(p, base, func(attempt int) time.Duration {
		return min(base*time.Duration(1<<(attempt+1)-1), maxSleep)
	})
	// Output:
	// retry 0: sleep in [1s, 1s]: true
	// retry 1: sleep in [1s, 2s]: true
	// retry 2: sleep in [1s, 2s]: true
	// retry 3: refused
}

func ExampleNTimes() {
	p := retry.NTimes(2, 50*time.Millisecond)
	for attempt := 0; attempt < 3; attempt++ {
		fmt.Println(p.Next(attempt, 0))
	}
	// Output:
	// 50ms true
	// 50ms true
	// 0s false
}

func ExampleOneTime() {
	p := retry.OneTime(time.Second)
	fmt.Println(p.Next(0, 0))
	fmt.Println(p.Next(1, 0))
	// Output:
	// 1s true
	// 0s false
}

func ExampleForever() {
	p := retry.Forever(time.Second)
	fmt.Println(p.Next(1_000_000, 365*24*time.Hour))
	// Output:
	// 1s true
}

func ExampleUntilElapsed() {
	p := retry.UntilElapsed(10*time.Second, time.Second)
	for _, elapsed := range []time.Duration{0, 9 * time.Second, 10 * time.Second} {
		sleep, ok := p.Next(0, elapsed)
		fmt.Printf("after %v: %v %t\n", elapsed, sleep, ok)
	}
	// Output:
	// after 0s: 1s true
	// after 9s: 1s true
	// after 10s: 0s false
}

func ExampleSessionFailed() {
	p := retry.SessionFailed(retry.NTimes(3, time.Second))
	fmt.Println(retry.Retriable(p, zk.ErrConnectionClosed))
	fmt.Println(retry.Retriable(p, fmt.Errorf("set /config: %w", zk.ErrSessionExpired)))
	// Output:
	// true
	// false
}

func ExampleIsRetriable() {
	// go-zk reports the server's ConnectionLoss code (-4) without a sentinel.
	connectionLoss := errors.New("unknown error: -4")
	fmt.Println(retry.IsRetriable(fmt.Errorf("create /a: %w", connectionLoss)))
	fmt.Println(retry.IsRetriable(fmt.Errorf("get /a: %w", zk.ErrConnectionClosed)))
	fmt.Println(retry.IsRetriable(fmt.Errorf("get /a: %w", zk.ErrNoNode)))
	fmt.Println(retry.IsRetriable(context.Canceled))
	// Output:
	// true
	// true
	// false
	// false
}

// awaitNode also retries zk.ErrNoNode, for a read of a node that another process is
// about to create.
type awaitNode struct{ retry.Policy }

func (awaitNode) Retriable(err error) bool {
	return retry.IsRetriable(err) || errors.Is(err, zk.ErrNoNode)
}

func ExampleClassifier() {
	p := awaitNode{retry.NTimes(3, 10*time.Millisecond)}
	fmt.Println(retry.Retriable(p, zk.ErrConnectionClosed))
	fmt.Println(retry.Retriable(p, fmt.Errorf("get /ready: %w", zk.ErrNoNode)))
	fmt.Println(retry.Retriable(p, zk.ErrBadVersion))
	// Output:
	// true
	// true
	// false
}

func ExampleDo() {
	calls := 0
	getConfig := func(ctx context.Context) error {
		calls++
		if calls < 3 {
			return fmt.Errorf("get /config: %w", zk.ErrConnectionClosed)
		}
		return nil
	}
	err := retry.Do(context.Background(), retry.ExponentialBackoff(time.Millisecond, 5), getConfig,
		retry.OnRetry(func(attempt int, err error, _ time.Duration) {
			fmt.Printf("retry %d after: %v\n", attempt, err)
		}))
	fmt.Println("calls:", calls, "err:", err)
	// Output:
	// retry 0 after: get /config: zk: connection closed
	// retry 1 after: get /config: zk: connection closed
	// calls: 3 err: <nil>
}

func ExampleDo_finalError() {
	calls := 0
	err := retry.Do(context.Background(), retry.Forever(time.Millisecond), func(ctx context.Context) error {
		calls++
		return fmt.Errorf("delete /lock: %w", zk.ErrBadVersion)
	})
	fmt.Println("calls:", calls, "bad version:", errors.Is(err, zk.ErrBadVersion))
	// Output:
	// calls: 1 bad version: true
}

func ExampleFromBackOff() {
	b := backoff.WithMaxRetries(backoff.NewConstantBackOff(20*time.Millisecond), 2)
	p := retry.FromBackOff(b)
	for attempt := 0; attempt < 3; attempt++ {
		fmt.Println(p.Next(attempt, 0))
	}
	// Attempt 0 starts a new loop: b is Reset.
	fmt.Println(p.Next(0, 0))
	// Output:
	// 20ms true
	// 20ms true
	// 0s false
	// 20ms true
}

func ExampleToBackOff() {
	p := retry.NTimes(2, 0)
	calls := 0
	err := backoff.Retry(func() error {
		calls++
		err := fmt.Errorf("get /a: %w", zk.ErrNoServer)
		if !retry.Retriable(p, err) {
			return backoff.Permanent(err)
		}
		return err
	}, retry.ToBackOff(p))
	fmt.Println("calls:", calls, "err:", err)
	// Output:
	// calls: 3 err: get /a: zk: could not connect to a server
}
