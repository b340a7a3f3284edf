package leader_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// The leader's connection wedges (pings answered, replies swallowed) while a call is
// pending: the Client's watchdog replaces the connection within the session, the leader
// steps down on SUSPENDED and leads again with the same node on RECONNECTED, and nobody
// else leads in between.
func TestLatchRecoversAfterWatchdog(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	h := newHistory()
	d := zktest.NewFaultDialer()
	var fired atomic.Int64
	ca := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(d.Dial),
		zkrecipes.WithHooks(zkrecipes.Hooks{Watchdog: func(context.Context, zkrecipes.WatchdogEvent) { fired.Add(1) }}))
	st := testkit.WatchStates(t, ca, nil)
	a := startLatch(t, ca, "/e", "a", h)
	startLatch(t, testkit.Connect(t, srv.Servers(), ns), "/e", "b", h)
	h.waitLeader(t, "a")
	node := a.Node()
	sid := ca.SessionID()

	m := st.Mark()
	if n := d.Wedge(); n != 1 {
		t.Fatalf("wedged %d connections, want 1", n)
	}
	// A call that waits on the wedged connection; the watchdog replaces the connection
	// and the retry succeeds.
	if _, _, err := ca.Children(testkit.Ctx(t), "/e"); err != nil {
		t.Fatal(err)
	}
	if fired.Load() == 0 {
		t.Fatal("the call returned without the watchdog firing")
	}
	st.WaitFor(t, m, zkrecipes.StateSuspended, nil)
	if rc := st.WaitFor(t, m, zkrecipes.StateReconnected, nil); rc.NewSession || rc.SessionID != sid {
		t.Fatalf("reconnected %+v, want session %#x resumed", rc, sid)
	}
	h.waitLeader(t, "a")
	if a.Node() != node {
		t.Fatalf("a leads with node %s, had %s", a.Node(), node)
	}
	h.check(t)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.counts["b"] != 0 {
		t.Fatalf("b led during a's watchdog replacement; history:\n%v", h.events)
	}
}

// go-zk's own loop wedges under a follower (its reads never return): the watchdog
// replaces the go-zk connection and resumes the session, keeping the follower's node;
// the watch on its predecessor went with the old connection (RECONNECTED says
// WatchesLost), so the latch sets it again, and when the leader leaves the follower
// takes over, with its node of before.
func TestLatchFollowerRecoversAfterWedgedLoop(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	h := newHistory()
	fz := zktest.NewFreezer()
	ca := testkit.Connect(t, srv.Servers(), ns)
	a := startLatch(t, ca, "/e", "a", h)
	h.waitLeader(t, "a")
	cb := testkit.ConnectFreezable(t, srv.Servers(), ns, fz)
	st := testkit.WatchStates(t, cb, nil)
	b := startLatch(t, cb, "/e", "b", h)
	node := b.Node() // Start returns once the node is made
	if node == "" {
		t.Fatal("b has no node after Start")
	}

	testkit.WedgeAndReplace(t, cb, st, fz, "/e")
	closeLatch(t, a)
	h.waitLeader(t, "b")
	if b.Node() != node {
		t.Fatalf("b leads with node %s, had %s", b.Node(), node)
	}
	h.check(t)
}
