package lock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/probe"
	"github.com/zkrecipes/zkrecipes/lock"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
)

func newMutex(t testing.TB, c *zkrecipes.Client, path string, opts ...lock.Option) *lock.Mutex {
	t.Helper()
	m, err := lock.NewMutex(c, path, opts...)
	if err != nil {
		t.Fatalf("NewMutex(%s): %v", path, err)
	}
	return m
}

// acquire acquires m within testkit.Patience and releases the lock when the test ends
// (if the test did not).
func acquire(t testing.TB, m *lock.Mutex) *lock.Lock {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	l, err := m.Acquire(ctx)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", m.Path(), err)
	}
	t.Cleanup(func() { release(t, l) })
	return l
}

func release(t testing.TB, l *lock.Lock) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	if err := l.Release(ctx); err != nil {
		t.Errorf("Release(%s): %v", l.Node(), err)
	}
}

// acquireAsync starts an Acquire on its own goroutine; the result arrives on the channel.
type acquired struct {
	l   *lock.Lock
	err error
	at  time.Time
}

func acquireAsync(ctx context.Context, m *lock.Mutex) <-chan acquired {
	ch := make(chan acquired, 1)
	go func() {
		l, err := m.Acquire(ctx)
		ch <- acquired{l, err, time.Now()}
	}()
	return ch
}

func await[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testkit.Patience):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// mustNotArrive fails if ch delivers before the other side proved progress: it is only
// a check at this moment, never a wait.
func mustNotArrive[T any](t testing.TB, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s happened too early: %+v", what, v)
	default:
	}
}

// waitChildren waits until path has exactly n children and returns them sorted as the
// lock orders them.
func waitChildren(t testing.TB, c *zkrecipes.Client, path string, n int) []string {
	t.Helper()
	ctx := testkit.Ctx(t)
	deadline := time.NewTimer(testkit.Patience)
	defer deadline.Stop()
	for {
		kids, _, ch, err := c.ChildrenW(ctx, path)
		if errors.Is(err, zk.ErrNoNode) {
			kids = nil
			var ok bool
			ok, _, ch, err = c.ExistsW(ctx, path)
			if err == nil && ok {
				continue
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(kids) == n {
			return kids
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("%s has children %v, want %d", path, kids, n)
		}
	}
}

// waitDone waits until ctx is done and returns its cause.
func waitDone(t testing.TB, ctx context.Context, what string) error {
	t.Helper()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-time.After(testkit.Patience):
		t.Fatalf("timed out waiting for %s", what)
		return nil
	}
}

func mutexCounters(m *lock.Mutex) (wakeups, fast int64) { return probe.MutexCounters(m) }

func mutexPipelined(m *lock.Mutex) int64 { return probe.MutexPipelined(m) }
