package lock

import "github.com/zkrecipes/zkrecipes/internal/probe"

// The integration tests (tests/lock) see these internals through internal/probe.
func init() {
	probe.MutexCounters = func(x any) (int64, int64) {
		m := x.(*Mutex)
		return m.counters.Wakeups.Load(), m.counters.Fast.Load()
	}
}
