package leader_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/leader"
	"github.com/zkrecipes/zkrecipes/tests/curatortest"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// Issue 9, defect 1 (ghost leader): Starts whose ctx ends while the join's create is in
// flight must leave no node of the session behind once that create has resolved, or the
// orphan would lead for as long as the process lives while no latch owns it. Each Start
// joins a latch path that does not exist yet, so its create is a chain of round trips
// (parents first), and the deadline ends in the middle of it.
func TestStartAbandonedLeavesNoGhostLeader(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	// Every request takes a few ms to leave, so most deadlines end while the join is on
	// its way: the rest of it still runs, after Start gave up.
	fd := zktest.NewFaultDialer()
	ca := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(fd.Dial))
	observer := testkit.Connect(t, srv.Servers(), ns)
	fd.SetLatency(3 * time.Millisecond)
	failed := 0
	const n = 100
	for i := 0; i < n; i++ {
		l, err := leader.New(ca, fmt.Sprintf("/ghost/%d", i), leader.WithID("a"))
		if err != nil {
			t.Fatal(err)
		}
		d := 250*time.Microsecond + rand.N(1750*time.Microsecond)
		sctx, cancel := context.WithTimeout(ctx, d)
		err = l.Start(sctx)
		cancel()
		if err != nil {
			failed++
			continue
		}
		closeLatch(t, l)
	}
	fd.SetLatency(0)
	t.Logf("%d of %d Starts failed on their deadline", failed, n)
	if failed == 0 {
		t.Fatal("no Start was cut short: the test proved nothing")
	}
	// The in-flight creates resolve within a round trip or two; give them seconds.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		testkit.WaitNoNodeOf(t, wctx, observer, fmt.Sprintf("/ghost/%d", i), ca.SessionID())
	}
	cb := testkit.Connect(t, srv.Servers(), ns)
	for i := 0; i < n; i += 10 {
		h := newHistory()
		startLatch(t, cb, fmt.Sprintf("/ghost/%d", i), "b", h)
		h.waitLeader(t, "b")
	}
}

// countChildren returns the number of children of path.
func countChildren(t *testing.T, ctx context.Context, c *zkrecipes.Client, path string) int {
	t.Helper()
	kids, _, err := c.Children(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	return len(kids)
}

// Issue 9, defect 4 (fenced write applied twice): a Term.Multi whose reply is lost must
// not commit a second time when it is sent again, and must report nil only when it
// committed exactly once.
func TestTermMultiLostReplyAppliesOnce(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	fd := zktest.NewFaultDialer()
	ca := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(fd.Dial))
	observer := testkit.Connect(t, srv.Servers(), ns)
	if err := observer.EnsurePath(ctx, "/log"); err != nil {
		t.Fatal(err)
	}
	h := newHistory()
	a := startLatch(t, ca, "/e", "a", h)
	h.waitLeader(t, "a")
	term, ok := a.Term()
	if !ok {
		t.Fatal("a leads but has no term")
	}
	// A persistent sequential create: every commit leaves one more child.
	entry := func() any {
		return &zk.CreateRequest{Path: "/log/entry-", Data: []byte("a"), Flags: zk.FlagSequence}
	}
	for i := 1; i <= 3; i++ {
		lost := fd.LoseNextReply(func(op int32, _ string) bool { return op == zktest.OpMulti })
		resp, err := term.Multi(ctx, entry())
		if err != nil {
			t.Fatalf("guarded write %d with a lost reply: %v", i, err)
		}
		select {
		case <-lost:
		default:
			t.Fatalf("write %d: the reply was not lost", i)
		}
		if len(resp) != 1 {
			t.Fatalf("write %d: %d responses, want 1", i, len(resp))
		}
		if n := countChildren(t, ctx, observer, "/log"); n != i {
			t.Fatalf("after %d guarded writes with lost replies: %d entries", i, n)
		}
	}
	// Without a fault the next one commits once and has its real response.
	resp, err := term.Multi(ctx, entry())
	if err != nil || len(resp) != 1 || !strings.HasPrefix(resp[0].String, "/log/entry-") {
		t.Fatalf("guarded write: %+v %v", resp, err)
	}
	if n := countChildren(t, ctx, observer, "/log"); n != 4 {
		t.Fatalf("%d entries, want 4", n)
	}
	if !a.HasLeadership() {
		t.Fatal("the guarded writes cost a its leadership")
	}
}

// A Term.Multi abandoned while in flight reports an unknown outcome, and the term's next
// Multi still commits exactly once: it waits for the abandoned one and reads back what
// it did.
func TestTermMultiAbandonedIsUnknownThenConsistent(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	fd := zktest.NewFaultDialer()
	ca := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(fd.Dial), zkrecipes.WithSessionTimeout(4*time.Second))
	observer := testkit.Connect(t, srv.Servers(), ns)
	if err := observer.EnsurePath(ctx, "/log"); err != nil {
		t.Fatal(err)
	}
	h := newHistory()
	a := startLatch(t, ca, "/e", "a", h, leader.WithErrorPolicy(leader.SessionPolicy))
	h.waitLeader(t, "a")
	term, _ := a.Term()
	entry := &zk.CreateRequest{Path: "/log/entry-", Data: []byte("a"), Flags: zk.FlagSequence}
	if _, err := term.Multi(ctx, entry); err != nil { // learns the fence's version
		t.Fatal(err)
	}
	// The request waits in the black hole; the caller gives up; the heal delivers it.
	fd.BlackHole()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err := term.Multi(short, entry)
	cancel()
	if !errors.Is(err, zkrecipes.ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("abandoned guarded write: err = %v, want ErrOutcomeUnknown and DeadlineExceeded", err)
	}
	fd.Heal()
	if _, err := term.Multi(ctx, entry); err != nil {
		t.Fatalf("guarded write after the abandoned one: %v", err)
	}
	// 1 + (0 or 1) + 1 entries; and the fence's version counts the commits.
	n := countChildren(t, ctx, observer, "/log")
	_, st, err := observer.Get(ctx, "/e")
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 || n > 3 || int(st.Version) != n {
		t.Fatalf("%d entries and fence version %d: want 2 or 3, and equal", n, st.Version)
	}
}

// The fence rewrites the latch path's data: Java's LeaderLatch must not notice. A Java
// participant behind a Go leader that made guarded writes takes over when it leaves.
func TestTermMultiFenceInteropWithCurator(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	peer := curatortest.Start(t, srv.ConnectString(), curatortest.WithNamespace(ns))
	ctx := testkit.Ctx(t)
	h := newHistory()
	c := testkit.Connect(t, srv.Servers(), ns)
	g := startLatch(t, c, "/election", "g", h)
	h.waitLeader(t, "g")
	if _, err := peer.LatchStart(ctx, "j", "/election", "j"); err != nil {
		t.Fatal(err)
	}
	term, _ := g.Term()
	for i := 0; i < 5; i++ {
		if _, err := term.Multi(ctx, &zk.CreateRequest{Path: "/x-", Flags: zk.FlagSequence}); err != nil {
			t.Fatal(err)
		}
	}
	if has, err := peer.LatchHas(ctx, "j"); err != nil || has {
		t.Fatalf("java leads while g leads: %v %v", has, err)
	}
	closeLatch(t, g)
	if err := peer.WaitLeadership(ctx, "j", true); err != nil {
		t.Fatalf("java never took over after the Go leader's guarded writes: %v", err)
	}
	if l, err := peer.LatchLeader(ctx, "j"); err != nil || l.ID != "j" || !l.IsLeader {
		t.Fatalf("java's leader = %+v, %v", l, err)
	}
}
