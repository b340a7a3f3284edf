package testkit

import (
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
)

// States keeps every state change of one client, for tests to wait on.
type States struct {
	mu      sync.Mutex
	list    []zkrecipes.StateChange
	changed chan struct{}
}

// WatchStates records c's state changes from now until the test ends, calling also (if
// set) with each first.
func WatchStates(t testing.TB, c *zkrecipes.Client, also func(zkrecipes.StateChange)) *States {
	s := &States{changed: make(chan struct{})}
	stop := c.Listen(func(sc zkrecipes.StateChange) {
		if also != nil {
			also(sc)
		}
		s.mu.Lock()
		s.list = append(s.list, sc)
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
	})
	t.Cleanup(stop)
	return s
}

// Mark returns a position; WaitFor looks only at changes after it.
func (s *States) Mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.list)
}

// Since returns the states after position from.
func (s *States) Since(from int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, sc := range s.list[from:] {
		out = append(out, sc.State.String())
	}
	return out
}

// WaitFor waits for a change to st after position from, for which match
// (if set) holds, and returns it.
func (s *States) WaitFor(t testing.TB, from int, st zkrecipes.State, match func(zkrecipes.StateChange) bool) zkrecipes.StateChange {
	t.Helper()
	deadline := time.NewTimer(Patience)
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
