package lock_test

import (
	"context"
	"sync"
	"testing"

	"github.com/zkrecipes/zkrecipes/internal/probe"
	"github.com/zkrecipes/zkrecipes/lock"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// With 100 contenders, each on its own session, every hand-off wakes exactly one
// waiting process: each waiter watches its own node and the node just before it, which
// the server's watch table shows, and when the holder releases only its successor
// receives a notification (counted on the wire).
func TestMutexHerd(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	const n, handoffs = 100, 5
	herd := testkit.NewHerd(t, srv.Servers(), ns, n)
	clients := herd.Clients
	mutexes := make([]*lock.Mutex, n)
	bySession := map[int64]int{}
	for i, c := range clients {
		mutexes[i] = newMutex(t, c, "/l")
		bySession[c.SessionID()] = i
	}
	ctx, cancel := context.WithCancel(testkit.Ctx(t))
	defer cancel()
	var waitMu sync.Mutex
	waited := map[int]bool{}
	allWaiting := make(chan struct{})
	for i, m := range mutexes {
		probe.SetMutexWaiting(m, func() {
			waitMu.Lock()
			defer waitMu.Unlock()
			if !waited[i] {
				if waited[i] = true; len(waited) == n-1 {
					close(allWaiting)
				}
			}
		})
	}
	held := acquire(t, mutexes[0])
	results := make([]<-chan acquired, n)
	for i := 1; i < n; i++ {
		results[i] = acquireAsync(ctx, mutexes[i])
	}
	waitChildren(t, clients[0], "/l", n)

	// Who owns which node, in the lock's order.
	sorted, err := mutexes[0].Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	owner := make([]int, n) // owner[k]: the contender whose node is k-th
	for k, name := range sorted {
		_, st, err := clients[0].Get(ctx, "/l/"+name)
		if err != nil {
			t.Fatal(err)
		}
		i, ok := bySession[st.EphemeralOwner]
		if !ok {
			t.Fatalf("node %s of an unknown session", name)
		}
		owner[k] = i
	}
	if owner[0] != 0 {
		t.Fatalf("the holder's node is not first")
	}
	// Every waiter waits with its watches armed. One that came in while the queue was
	// still growing may have waited, woken and waited again; by the time the last one
	// waits, the queue is complete and the earlier ones are back to waiting, as no node
	// leaves it.
	await(t, allWaiting, "the waiters to wait")
	// The server's view: each session watches its own node and, unless it holds, the node
	// just before its own; nothing else.
	full := func(k int) string { return "/" + ns + "/l/" + sorted[k] }
	sessions, nodes := make([]int64, n), make([]string, n)
	for k := range sorted {
		sessions[k], nodes[k] = clients[owner[k]].SessionID(), full(k)
	}
	if k, got, want := testkit.ChainWatches(testkit.WatchesBySession(t, srv.Addr()), sessions, nodes); k >= 0 {
		t.Fatalf("node %d (%s): its session watches %v, want %v", k, sorted[k], got, want)
	}

	for h := 0; h < handoffs; h++ {
		releaser, next := owner[h], owner[h+1]
		before := herd.Counts()
		release(t, held)
		r := await(t, results[next], "the successor's Acquire")
		if r.err != nil {
			t.Fatal(r.err)
		}
		held = r.l
		// Every notification caused by the hand-off, to every contender but the releaser.
		received := herd.Since(t, ctx, "/l", before, releaser)
		woken := 0
		for i, d := range received {
			if i == releaser {
				continue
			}
			if d != 0 && i != next {
				t.Errorf("hand-off %d: contender %d received %d notifications", h, i, d)
			}
			woken += int(d)
		}
		if woken != 1 {
			t.Fatalf("hand-off %d delivered %d notifications to the other contenders, want 1", h, woken)
		}
	}
	var wakeups, fast int64
	for _, m := range mutexes {
		w, f := mutexCounters(m)
		wakeups, fast = wakeups+w, fast+f
	}
	t.Logf("%d hand-offs: %d wake-ups, %d granted without re-reading the children", handoffs, wakeups, fast)
	cancel()
	for i := handoffs + 1; i < n; i++ {
		if r := await(t, results[owner[i]], "a cancelled Acquire"); r.err == nil {
			release(t, r.l)
		}
	}
	release(t, held)
	waitChildren(t, clients[0], "/l", 0)
}
