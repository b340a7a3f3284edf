package leader_test

import (
	"fmt"
	"testing"

	"github.com/zkrecipes/zkrecipes"
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
	counters := make([]*testkit.NotificationCounter, n)
	clients := make([]*zkrecipes.Client, n)
	latches := make([]*leader.Latch, n)
	for i := range latches {
		counters[i] = &testkit.NotificationCounter{}
		clients[i] = testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(counters[i].Dial))
		latches[i] = startLatch(t, clients[i], "/e", fmt.Sprintf("p%02d", i), h)
	}
	h.waitLeader(t, "p00")
	ctx := testkit.Ctx(t)

	// The server's view: each session watches its own node and, unless it
	// leads, the node just before its own; nothing else.
	full := func(i int) string { return "/" + ns + latches[i].Node() }
	watches := testkit.WatchesBySession(t, srv.Addr())
	for i := range latches {
		got := watches[clients[i].SessionID()]
		want := []string{full(i)}
		if i > 0 {
			want = append(want, full(i-1))
		}
		if !sameSet(got, want) {
			t.Fatalf("p%02d watches %v, want %v", i, got, want)
		}
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

	before := make([]int64, n)
	for i, c := range counters {
		before[i] = c.Count()
	}
	closeLatch(t, latches[0])
	h.waitLeader(t, "p01")
	// A round trip on every connection: the server sends a notification
	// before the replies to requests it handles after the change, so once
	// each reply is in, every notification caused by the handover has been
	// received (and counted).
	for i := 1; i < n; i++ {
		if err := clients[i].Sync(ctx, "/e"); err != nil {
			t.Fatal(err)
		}
	}
	woken := 0
	for i := 1; i < n; i++ {
		d := counters[i].Count() - before[i]
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

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
	}
	for _, v := range seen {
		if v != 0 {
			return false
		}
	}
	return true
}
