package lock_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/lock"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

func newSem(t testing.TB, c *zkrecipes.Client, path string, leases int, opts ...lock.Option) *lock.Semaphore {
	t.Helper()
	s, err := lock.NewSemaphore(c, path, leases, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func semAcquire(t testing.TB, s *lock.Semaphore) *lock.Lock {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	l, err := s.Acquire(ctx)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", s.Path(), err)
	}
	return l
}

// A lease holder cut off (or black-holed) past its session timeout, on a 3-node ensemble,
// under the default policy, while a third participant holds the other of two leases and a
// second one waits: the holder's Context is cancelled before the waiter gets the lease
// beyond the limit, in every run, and P/leases never holds more than the two leases once
// the waiter holds.
func TestSemaphoreCutHolderNoOverlap(t *testing.T) {
	t.Parallel() // an ensemble of its own; the longest tests of the package
	e := zktest.StartEnsemble(t, 3)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	members := [2]*member{newEnsembleMember(t, e, ns, "a"), newEnsembleMember(t, e, ns, "b")}
	sems := map[*member]*lock.Semaphore{}
	for _, mb := range members {
		sems[mb] = newSem(t, mb.c, "/sem", 2)
	}
	cc := connectEnsemble(t, e, ns, 4*time.Second)
	other := semAcquire(t, newSem(t, cc, "/sem", 2))
	holder, waiter := members[0], members[1]
	held := semAcquire(t, sems[holder])
	for run := 0; run < cutRuns; run++ {
		res := semAsync(ctx, sems[waiter])
		waitChildren(t, cc, "/sem/leases", 3)
		next, _ := depose(t, run, holder, held, res, "the waiter")
		kids := waitChildren(t, cc, "/sem/leases", 2)
		for _, l := range []*lock.Lock{other, next.l} {
			if !strings.Contains(strings.Join(kids, " "), name(l.Node())) {
				t.Fatalf("run %d: leases %v lack %s", run, kids, l.Node())
			}
		}
		waitChildren(t, cc, "/sem/locks", 0)
		held = next.l
		holder, waiter = waiter, holder
	}
	if other.Context().Err() != nil {
		t.Fatalf("the third participant's lease ended: %v", context.Cause(other.Context()))
	}
	release(t, held)
	release(t, other)
	waitChildren(t, cc, "/sem/leases", 0)
}

// Killing the ZooKeeper server a lease holder is connected to, then the one a waiter
// (which holds P/locks while it waits) is connected to, then the ensemble's leader, with
// two leases: the holder's Context ends on SUSPENDED, its lease node (still its session's)
// keeps the waiter out until it is returned, and a waiter whose server died gets its lease
// after its reconnection as soon as one is returned. Nothing is left behind.
func TestSemaphoreEnsembleServerKilled(t *testing.T) {
	e := zktest.StartEnsemble(t, 3)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	ca, cb, admin := connectEnsemble(t, e, ns, 4*time.Second), connectEnsemble(t, e, ns, 4*time.Second), connectEnsemble(t, e, ns, 4*time.Second)
	sa, sb := newSem(t, ca, "/sem", 2), newSem(t, cb, "/sem", 2)
	states := testkit.WatchStates(t, ca, nil)
	lc := semAcquire(t, newSem(t, admin, "/sem", 2))
	ownedBy := func(l *lock.Lock, c *zkrecipes.Client, what string) {
		t.Helper()
		if _, st, err := admin.Get(ctx, l.Node()); err != nil || st.EphemeralOwner != c.SessionID() {
			t.Fatalf("%s's lease %s: %v (owner %#x, session %#x)", what, l.Node(), err, st.EphemeralOwner, c.SessionID())
		}
	}

	// 1. The holder's server dies while another participant waits.
	la := semAcquire(t, sa)
	res := semAsync(ctx, sb)
	waitChildren(t, admin, "/sem/leases", 3)
	victim := killServerUnderHolder(t, ctx, e, ca, states, la, "holder")
	ownedBy(la, ca, "the holder")
	mustNotArrive(t, res, "the waiter's lease while two leases stand")
	release(t, la)
	lb := await(t, res, "the waiter's Acquire")
	if lb.err != nil {
		t.Fatal(lb.err)
	}
	waitChildren(t, admin, "/sem/locks", 0)
	restart(t, ctx, e, victim)

	// 2. The waiter's server dies while it waits; a lease is returned meanwhile.
	res = semAsync(ctx, sa)
	waitChildren(t, admin, "/sem/leases", 3)
	waitChildren(t, admin, "/sem/locks", 1)
	victim = killServerUnderWaiter(t, ctx, e, ca, states, "waiter")
	release(t, lb.l)
	la2 := await(t, res, "the waiter's Acquire after its server died")
	if la2.err != nil {
		t.Fatal(la2.err)
	}
	ownedBy(la2.l, ca, "the waiter")
	waitChildren(t, admin, "/sem/locks", 0)
	restart(t, ctx, e, victim)

	// 3. The ensemble's leader dies while that lease is held and another waits.
	res = semAsync(ctx, sb)
	waitChildren(t, admin, "/sem/leases", 3)
	killLeaderUnder(t, ctx, e, states, la2.l, "the holder's context")
	ownedBy(la2.l, ca, "the holder")
	mustNotArrive(t, res, "the waiter's lease while two leases stand")
	release(t, la2.l)
	lb2 := await(t, res, "the waiter's Acquire after the election")
	if lb2.err != nil {
		t.Fatal(lb2.err)
	}
	release(t, lb2.l)
	release(t, lc)
	waitChildren(t, admin, "/sem/leases", 0)
	waitChildren(t, admin, "/sem/locks", 0)
}

// Acquire and TryAcquire of a semaphore whose deadline ends at any point of the way
// (taking P/locks, the lease's protected create in flight, the count, the wait) leave no
// node of their session behind, in P/leases or P/locks, once what they sent has
// resolved, on a semaphore whose one lease is held and on free ones.
func TestSemaphoreTinyDeadlinesLeaveNoNode(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	fd := zktest.NewFaultDialer()
	ca := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(fd.Dial))
	cb := testkit.Connect(t, srv.Servers(), ns)
	held := semAcquire(t, newSem(t, cb, "/held", 1))
	fd.SetLatency(3 * time.Millisecond)
	const n = 100
	cut, refused, got := 0, 0, 0
	paths := make([]string, n)
	for i := range paths {
		paths[i] = "/held"
		if i%2 == 1 {
			paths[i] = fmt.Sprintf("/free/%d", i)
		}
		s := newSem(t, ca, paths[i], 1)
		acq, try := s.Acquire, i%4 >= 2
		if try {
			acq = s.TryAcquire
		}
		d := 250*time.Microsecond + rand.N(150*time.Millisecond)
		actx, cancel := context.WithTimeout(ctx, d)
		l, err := acq(actx)
		cancel()
		switch {
		case err == nil:
			got++
			release(t, l)
		case errors.Is(err, context.DeadlineExceeded):
			cut++
		case try && paths[i] == "/held" && errors.Is(err, lock.ErrLocked):
			refused++
		default:
			t.Fatalf("acquisition %d (try %v) of %s with a %v deadline: %v", i, try, paths[i], d, err)
		}
	}
	fd.SetLatency(0)
	t.Logf("%d of %d acquisitions ran out of time, %d tries found no lease, %d acquired", cut, n, refused, got)
	if cut < n/3 {
		t.Fatalf("only %d acquisitions were cut short: the test proved little", cut)
	}
	wctx, cancel := context.WithTimeout(ctx, testkit.Patience)
	defer cancel()
	for _, p := range paths {
		testkit.WaitNoNodeOf(t, wctx, cb, p+"/leases", ca.SessionID())
		testkit.WaitNoNodeOf(t, wctx, cb, p+"/locks", ca.SessionID())
	}
	if kids := waitChildren(t, cb, "/held/leases", 1); "/held/leases/"+kids[0] != held.Node() {
		t.Fatalf("/held/leases has %v", kids)
	}
	release(t, held)
	for i := 1; i < n; i += 10 {
		l, err := newSem(t, cb, paths[i], 1).TryAcquire(ctx)
		if err != nil {
			t.Fatalf("TryAcquire of %s after the run: %v", paths[i], err)
		}
		release(t, l)
	}
}
