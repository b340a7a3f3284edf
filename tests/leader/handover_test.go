package leader_test

import (
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/probe"
	"github.com/zkrecipes/zkrecipes/leader"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// Graceful hand-overs along a queue: a successor that was second in its last
// listing claims straight from the head's deletion (the fast path), never
// while the previous leader leads, with increasing tokens and a term whose
// fenced writes work. A participant that moved up to second without reading
// the children again (the herd property: it is not woken when a node ahead
// of its predecessor leaves) does not know its predecessor leads, so it
// takes the full round.
func TestLatchHandoverFastPath(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	h := newHistory()
	c0 := testkit.Connect(t, srv.Servers(), ns)
	if _, err := c0.Create(ctx, "/data", []byte("0"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	a := startLatch(t, c0, "/e", "a", h)
	h.waitLeader(t, "a")
	b := startLatch(t, testkit.Connect(t, srv.Servers(), ns), "/e", "b", h)
	c := startLatch(t, testkit.Connect(t, srv.Servers(), ns), "/e", "c", h)
	ta, _ := a.Term()

	closeLatch(t, a)
	h.waitLeader(t, "b")
	if n := fastHandovers(b); n != 1 {
		t.Fatalf("b: %d fast hand-overs, want 1", n)
	}
	tb, ok := b.Term()
	if !ok || tb.Node != b.Node() || tb.Token <= ta.Token {
		t.Fatalf("b's term %v after a's %v (node %s)", tb, ta, b.Node())
	}
	if _, err := tb.Multi(ctx, &zk.SetDataRequest{Path: "/data", Data: []byte("b"), Version: -1}); err != nil {
		t.Fatalf("b's fenced write: %v", err)
	}
	if n := predWakeups(c); n != 0 {
		t.Fatalf("c was woken %d times by a change ahead of its predecessor", n)
	}

	closeLatch(t, b)
	h.waitLeader(t, "c")
	if n := fastHandovers(c); n != 0 {
		t.Fatalf("c: %d fast hand-overs, want 0 (it was third in its last listing)", n)
	}
	tc, _ := c.Term()
	if tc.Token <= tb.Token {
		t.Fatalf("c's term %v after b's %v", tc, tb)
	}
	if _, err := tb.Multi(ctx, &zk.SetDataRequest{Path: "/data", Data: []byte("late"), Version: -1}); err == nil {
		t.Fatal("b's term still writes after c took over")
	}

	d := startLatch(t, testkit.Connect(t, srv.Servers(), ns), "/e", "d", h)
	closeLatch(t, c)
	h.waitLeader(t, "d")
	if n := fastHandovers(d); n != 1 {
		t.Fatalf("d: %d fast hand-overs, want 1", n)
	}
	td, _ := d.Term()
	if td.Token <= tc.Token {
		t.Fatalf("d's term %v after c's %v", td, tc)
	}
	if _, err := td.Multi(ctx, &zk.SetDataRequest{Path: "/data", Data: []byte("d"), Version: -1}); err != nil {
		t.Fatalf("d's fenced write: %v", err)
	}
	h.check(t)
}

// A node in the last listing that is not a well-formed latch node (a
// LeaderSelector lock- node, a hand-made name, a number the server cannot
// have given yet) makes the successor read the children again before it
// claims.
func TestLatchHandoverFullPathWithForeignNodes(t *testing.T) {
	for _, tc := range []struct{ name, node string }{
		{"lock", "_c_e0000000-0000-4000-8000-000000000000-lock-0000000001"},
		{"malformed", "x-latch-9999999999"},
		{"future-sequence", "_c_f0000000-0000-4000-8000-000000000000-latch-9999999999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := zktest.Start(t)
			ns := testkit.Namespace(t)
			ctx := testkit.Ctx(t)
			h := newHistory()
			c0 := testkit.Connect(t, srv.Servers(), ns)
			if _, err := c0.Create(ctx, "/e/"+tc.node, nil, zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
				t.Fatal(err)
			}
			a := startLatch(t, c0, "/e", "a", h)
			h.waitLeader(t, "a")
			b := startLatch(t, testkit.Connect(t, srv.Servers(), ns), "/e", "b", h)
			ps, err := b.Participants(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 3 || ps[1].ID != "b" {
				t.Fatalf("the foreign node does not sort last: %+v", ps)
			}

			closeLatch(t, a)
			h.waitLeader(t, "b")
			if n := fastHandovers(b); n != 0 {
				t.Fatalf("b took the fast path %d times with %s in the path", n, tc.node)
			}
			if n := predWakeups(b); n != 1 {
				t.Fatalf("b: %d predecessor wake-ups, want 1", n)
			}
			h.check(t)
		})
	}
}

// A connection state change between the listing and the head's deletion
// forces the full round: here the successor's connection is cut, the head
// leaves meanwhile, and the deletion arrives with the reconnect.
func TestLatchHandoverFullPathAfterReconnect(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	h := newHistory()
	a := startLatch(t, testkit.Connect(t, srv.Servers(), ns), "/e", "a", h)
	h.waitLeader(t, "a")
	d := zktest.NewFaultDialer()
	cb := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(d.Dial), zkrecipes.WithSessionTimeout(4*time.Second))
	st := testkit.WatchStates(t, cb, nil)
	heard := make(chan zkrecipes.State, 16)
	b := startLatchWith(t, cb, "/e", "b", h, func(l *leader.Latch) {
		probe.SetLatchStateHeard(l, func(sc zkrecipes.StateChange) {
			select {
			case heard <- sc.State:
			default:
			}
		})
	})

	m := st.Mark()
	d.Cut()
	st.WaitFor(t, m, zkrecipes.StateSuspended, nil)
	// The latch hears of SUSPENDED on its own listener goroutine.
	deadline := time.NewTimer(testkit.Patience)
	defer deadline.Stop()
	for suspended := false; !suspended; {
		select {
		case s := <-heard:
			suspended = s == zkrecipes.StateSuspended
		case <-deadline.C:
			t.Fatal("the latch never heard of SUSPENDED")
		}
	}
	closeLatch(t, a)
	d.Heal()
	if rc := st.WaitFor(t, m, zkrecipes.StateReconnected, nil); rc.NewSession {
		t.Skip("the session expired during a short cut (machine too slow?)")
	}
	h.waitLeader(t, "b")
	if n := fastHandovers(b); n != 0 {
		t.Fatalf("b took the fast path %d times across a reconnect", n)
	}
	h.check(t)
}
