package leader_test

import (
	"fmt"
	"testing"

	"github.com/zkrecipes/zkrecipes/leader"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// With 50 participants, a change of leader wakes exactly one waiting
// participant: each waits on its predecessor alone, which the server's
// watch table shows, and when the leader leaves only its successor receives
// a notification.
func TestLatchHerd(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	const n = 50
	h := newHistory()
	herd := testkit.NewHerd(t, srv.Servers(), ns, n)
	clients := herd.Clients
	latches := make([]*leader.Latch, n)
	for i, c := range clients {
		latches[i] = startLatch(t, c, "/e", fmt.Sprintf("p%02d", i), h)
	}
	h.waitLeader(t, "p00")
	ctx := testkit.Ctx(t)

	// The server's view: each session watches its own node and, unless it
	// leads, the node just before its own; nothing else.
	full := func(i int) string { return "/" + ns + latches[i].Node() }
	watches := testkit.WatchesBySession(t, srv.Addr())
	sessions, nodes := make([]int64, n), make([]string, n)
	for i, c := range clients {
		sessions[i], nodes[i] = c.SessionID(), full(i)
	}
	if i, got, want := testkit.ChainWatches(watches, sessions, nodes); i >= 0 {
		t.Fatalf("p%02d watches %v, want %v", i, got, want)
	}
	watchers := 0
	for _, paths := range watches {
		for _, p := range paths {
			if p == full(0) {
				watchers++
			}
		}
	}
	if watchers != 2 {
		t.Fatalf("the leader's node has %d watchers, want 2 (itself and its successor)", watchers)
	}

	before := herd.Counts()
	closeLatch(t, latches[0])
	h.waitLeader(t, "p01")
	// Every notification caused by the handover, to every participant but
	// the one that left.
	received := herd.Since(t, ctx, "/e", before, 0)
	woken := 0
	for i := 1; i < n; i++ {
		d := received[i]
		if d != 0 && i != 1 {
			t.Errorf("p%02d received %d notifications", i, d)
		}
		woken += int(d)
	}
	if woken != 1 {
		t.Fatalf("one change of leader delivered %d notifications to waiting participants, want 1", woken)
	}
	var wakeups int64
	for _, l := range latches[1:] {
		wakeups += predWakeups(l)
	}
	t.Logf("notifications to waiting participants: %d; predecessor wake-ups seen by latches 1..%d: %d", woken, n-1, wakeups)
	h.check(t)
}
