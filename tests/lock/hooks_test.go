package lock_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/lock"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// lockEvents records the lock hooks' events of one client.
type lockEvents struct {
	mu      sync.Mutex
	list    []string
	changed chan struct{}
}

func (e *lockEvents) hooks() zkrecipes.Hooks {
	e.changed = make(chan struct{})
	add := func(s string) {
		e.mu.Lock()
		e.list = append(e.list, s)
		close(e.changed)
		e.changed = make(chan struct{})
		e.mu.Unlock()
	}
	return zkrecipes.Hooks{
		LockAcquired: func(_ context.Context, ev zkrecipes.LockAcquireEvent) {
			add(fmt.Sprintf("acquired %s %s held=%v err=%v node=%v", ev.Kind, ev.Path, ev.Acquired, ev.Err != nil, ev.Node != ""))
		},
		LockReleased: func(_ context.Context, ev zkrecipes.LockReleaseEvent) {
			add(fmt.Sprintf("released %s %s lost=%v err=%v", ev.Kind, ev.Path, ev.Lost, ev.Err != nil))
		},
	}
}

// waitLen waits until n events were recorded and returns them.
func (e *lockEvents) waitLen(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(testkit.Patience)
	for {
		e.mu.Lock()
		list, ch := append([]string(nil), e.list...), e.changed
		e.mu.Unlock()
		if len(list) >= n {
			return list
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("events %q, want %d", list, n)
		}
	}
}

// The lock recipes report every acquisition (held or not) and exactly one end per hold:
// a Release, or a loss (then Release reports nothing more); a semaphore's inner P/locks
// mutex reports nothing.
func TestLockHooks(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	var ev lockEvents
	c := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithHooks(ev.hooks()))
	admin := testkit.Connect(t, srv.Servers(), ns)
	m := newMutex(t, c, "/l")
	l := acquire(t, m)
	if _, err := m.TryAcquire(ctx); !errors.Is(err, lock.ErrLocked) {
		t.Fatal(err)
	}
	release(t, l)
	l = acquire(t, m)
	if err := admin.Delete(ctx, l.Node(), -1); err != nil {
		t.Fatal(err)
	}
	waitDone(t, l.Context(), "the lost hold")
	ev.waitLen(t, 5)
	release(t, l)
	s, err := lock.NewSemaphore(c, "/sem", 1)
	if err != nil {
		t.Fatal(err)
	}
	sl, err := s.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	release(t, sl)
	got := ev.waitLen(t, 7)
	want := []string{
		"acquired mutex /l held=true err=false node=true",
		"acquired mutex /l held=false err=false node=false",
		"released mutex /l lost=false err=false",
		"acquired mutex /l held=true err=false node=true",
		"released mutex /l lost=true err=false",
		"acquired semaphore /sem held=true err=false node=true",
		"released semaphore /sem lost=false err=false",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events:\n%q\nwant\n%q", got, want)
	}
}
