package testkit

import (
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// ConnectFreezable connects a client to servers whose go-zk loop fz can wedge (see
// zktest.Freezer), with a 2 s session timeout so that the watchdog acts within seconds.
// The wedge is released before the client is closed.
func ConnectFreezable(t testing.TB, servers []string, ns string, fz *zktest.Freezer, opts ...zkrecipes.Option) *zkrecipes.Client {
	t.Helper()
	c := Connect(t, servers, ns, append([]zkrecipes.Option{zkrecipes.WithDialer(fz.Dial), zkrecipes.WithSessionTimeout(2 * time.Second)}, opts...)...)
	t.Cleanup(fz.Unfreeze) // runs before c's Close, registered earlier
	return c
}

// WedgeAndReplace wedges c's go-zk loop with fz, makes a call (a listing of path) that
// waits on it, and returns once the watchdog replaced the go-zk connection: the call has
// succeeded and c is RECONNECTED on the session it had, with WatchesLost. st records c's
// states (WatchStates).
func WedgeAndReplace(t testing.TB, c *zkrecipes.Client, st *States, fz *zktest.Freezer, path string) zkrecipes.StateChange {
	t.Helper()
	ctx := Ctx(t)
	sid := c.SessionID()
	m := st.Mark()
	fz.Wedge(t, false)
	if _, _, err := c.Children(ctx, path); err != nil {
		t.Fatalf("a call across the wedged go-zk loop: %v", err)
	}
	rc := st.WaitFor(t, m, zkrecipes.StateReconnected, nil)
	if rc.NewSession || rc.SessionID != sid || !rc.WatchesLost {
		t.Fatalf("reconnected %+v, want session %#x resumed with WatchesLost", rc, sid)
	}
	return rc
}
