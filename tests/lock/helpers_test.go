package lock_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/probe"
	"github.com/zkrecipes/zkrecipes/lock"
	"github.com/zkrecipes/zkrecipes/retry"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// patience bounds every wait in these tests: generous, because the box is small and
// shared, and never part of an assertion about durations.
const patience = 60 * time.Second

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*patience)
	t.Cleanup(cancel)
	return ctx
}

// newNamespace returns a namespace no other test uses, for all clients of one test.
func newNamespace(t testing.TB) string { return strings.TrimPrefix(zktest.BasePath(t), "/") }

// connect opens a Client in ns with a short session (the harness's tickTime is 200 ms)
// and closes it when the test ends.
func connect(t testing.TB, servers []string, ns string, opts ...zkrecipes.Option) *zkrecipes.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	all := append([]zkrecipes.Option{
		zkrecipes.WithSessionTimeout(2 * time.Second),
		zkrecipes.WithNamespace(ns),
		zkrecipes.WithRetryPolicy(retry.ExponentialBackoffMax(50*time.Millisecond, 5, 500*time.Millisecond)),
	}, opts...)
	c, err := zkrecipes.Connect(ctx, servers, all...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), patience)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c
}

func newMutex(t testing.TB, c *zkrecipes.Client, path string, opts ...lock.Option) *lock.Mutex {
	t.Helper()
	m, err := lock.NewMutex(c, path, opts...)
	if err != nil {
		t.Fatalf("NewMutex(%s): %v", path, err)
	}
	return m
}

// acquire acquires m within patience and releases the lock when the test ends (if the
// test did not).
func acquire(t testing.TB, m *lock.Mutex) *lock.Lock {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
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
	ctx, cancel := context.WithTimeout(context.Background(), patience)
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
	case <-time.After(patience):
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
	ctx := testCtx(t)
	deadline := time.NewTimer(patience)
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

// waitNoNodeOf waits until no child of path is owned by session.
func waitNoNodeOf(t testing.TB, ctx context.Context, observer *zkrecipes.Client, path string, session int64) {
	t.Helper()
	for {
		kids, _, ch, err := observer.ChildrenW(ctx, path)
		if errors.Is(err, zk.ErrNoNode) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var mine []string
		for _, k := range kids {
			ok, st, err := observer.Exists(ctx, path+"/"+k)
			if err != nil {
				t.Fatal(err)
			}
			if ok && st.EphemeralOwner == session {
				mine = append(mine, k)
			}
		}
		if len(mine) == 0 {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("nodes of session %#x still under %s: %v", session, path, mine)
		}
	}
}

// states keeps every state change of one client, for tests to wait on.
type states struct {
	mu      sync.Mutex
	list    []zkrecipes.StateChange
	changed chan struct{}
}

func watchStates(t testing.TB, c *zkrecipes.Client) *states {
	s := &states{changed: make(chan struct{})}
	stop := c.Listen(func(sc zkrecipes.StateChange) {
		s.mu.Lock()
		s.list = append(s.list, sc)
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	})
	t.Cleanup(stop)
	return s
}

func (s *states) mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.list)
}

// waitFor waits for a change to st after position from, for which match (if set) holds.
func (s *states) waitFor(t testing.TB, from int, st zkrecipes.State, match func(zkrecipes.StateChange) bool) zkrecipes.StateChange {
	t.Helper()
	deadline := time.NewTimer(patience)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		for _, sc := range s.list[from:] {
			if sc.State == st && (match == nil || match(sc)) {
				s.mu.Unlock()
				return sc
			}
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", st)
		}
	}
}

// waitDone waits until ctx is done and returns its cause.
func waitDone(t testing.TB, ctx context.Context, what string) error {
	t.Helper()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-time.After(patience):
		t.Fatalf("timed out waiting for %s", what)
		return nil
	}
}

func mutexCounters(m *lock.Mutex) (wakeups, fast int64) { return probe.MutexCounters(m) }

func mutexPipelined(m *lock.Mutex) int64 { return probe.MutexPipelined(m) }
