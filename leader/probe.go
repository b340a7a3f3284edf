package leader

import (
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/probe"
)

// The integration tests (tests/leader) see these internals through internal/probe.
func init() {
	probe.LatchCounters = func(x any) (int64, int64) {
		l := x.(*Latch)
		return l.predWakeups.Load(), l.fastHandovers.Load()
	}
	probe.SetLatchSettled = func(x any, fn func()) { x.(*Latch).settled = fn }
	probe.SetLatchStateHeard = func(x any, fn func(zkrecipes.StateChange)) { x.(*Latch).stateHeard = fn }
}
