package lock

import (
	"context"

	"github.com/zkrecipes/zkrecipes/internal/probe"
	"github.com/zkrecipes/zkrecipes/internal/queue"
)

// The integration tests (tests/lock) see these internals through internal/probe.
func init() {
	probe.MutexCounters = func(x any) (int64, int64) {
		m := x.(*Mutex)
		return m.counters.Wakeups.Load(), m.counters.Fast.Load()
	}
	probe.MutexPipelined = func(x any) int64 { return x.(*Mutex).counters.Pipelined.Load() }
	probe.SetMutexWaiting = func(x any, fn func()) {
		switch m := x.(type) {
		case *Mutex:
			m.counters.Waiting = fn
		case *RWMutex:
			m.counters.Waiting = fn
		}
	}
	probe.MutexAcquireAdopting = func(x any, ctx context.Context, node string) (any, error) {
		m := x.(*Mutex)
		return m.acquireWith(ctx, queue.Request{Marker: mutexMarker, Data: m.data, Rule: queue.Exclusive, Adopt: node, Fast: true})
	}
}
