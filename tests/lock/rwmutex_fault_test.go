package lock_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/lock"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// cutRuns is how many times the cut tests of the read/write lock and the semaphore
// depose a holder, on an ensemble, as often as the mutex's test does on one server.
const cutRuns = 20

// connectEnsemble opens a Client on every member of e, through its host provider.
func connectEnsemble(t *testing.T, e *zktest.Ensemble, ns string, session time.Duration) *zkrecipes.Client {
	return testkit.Connect(t, e.Servers(), ns, zkrecipes.WithHostProvider(e.HostProvider()), zkrecipes.WithSessionTimeout(session))
}

// newEnsembleMember is a member with its own fault dialer on every member of e.
func newEnsembleMember(t *testing.T, e *zktest.Ensemble, ns, name string) *member {
	return newFaultyClient(t, e.Servers(), ns, name, 2*time.Second, zkrecipes.WithHostProvider(e.HostProvider()))
}

// depose cuts (even runs) or black-holes (odd runs) the holder's connections until the
// server has expired its session, while next waits for the lock: next must acquire, and
// held's Context must have been cancelled (with ErrLockLost) before it did. The times are
// monotonic clock readings on one machine. It heals the holder once the holder has a new
// session, releases held (its node went with the session), and returns what next
// acquired and when held's Context was seen cancelled.
func depose(t *testing.T, run int, holder *member, held *lock.Lock, next <-chan acquired, who string) (acquired, time.Time) {
	t.Helper()
	cancelled := cancelledAt(held.Context())
	mark := holder.st.Mark()
	fault := "cut"
	if run%2 == 1 {
		fault = "black hole"
		holder.d.BlackHole()
	} else {
		holder.d.Cut()
	}
	nx := await(t, next, who+"'s Acquire")
	if nx.err != nil {
		t.Fatalf("run %d (%s): %s: %v", run, fault, who, nx.err)
	}
	at := await(t, cancelled, "the deposed holder's cancellation")
	if !at.Before(nx.at) {
		t.Fatalf("run %d (%s): %s's Context was cancelled at %v, %v after %s acquired",
			run, fault, holder.name, at, at.Sub(nx.at), who)
	}
	if cause := context.Cause(held.Context()); !errors.Is(cause, lock.ErrLockLost) {
		t.Fatalf("run %d: cause %v", run, cause)
	}
	t.Logf("run %d (%s): %s cancelled %v before %s acquired (%v)", run, fault, holder.name,
		nx.at.Sub(at), who, context.Cause(held.Context()))
	holder.st.WaitFor(t, mark, zkrecipes.StateLost, nil)
	holder.d.Heal()
	holder.st.WaitFor(t, mark, zkrecipes.StateReconnected, func(sc zkrecipes.StateChange) bool { return sc.NewSession })
	release(t, held)
	return nx, at
}

// A write-lock holder cut off (or black-holed) past its session timeout, on a 3-node
// ensemble, under the default policy: its Context is cancelled before the next writer
// acquires, in every run; in every other pair of runs a reader queued between the two
// writers acquires first, and it too only after the cancellation. No run leaves a node.
func TestRWMutexCutWriterNoOverlap(t *testing.T) {
	t.Parallel() // an ensemble of its own; the longest tests of the package
	e := zktest.StartEnsemble(t, 3)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	members := [2]*member{newEnsembleMember(t, e, ns, "a"), newEnsembleMember(t, e, ns, "b")}
	rws := map[*member]*lock.RWMutex{}
	for _, mb := range members {
		rws[mb] = newRW(t, mb.c, "/rw")
	}
	rc := connectEnsemble(t, e, ns, 4*time.Second)
	reader := newRW(t, rc, "/rw")
	holder, waiter := members[0], members[1]
	held, err := rws[holder].AcquireWrite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for run := 0; run < cutRuns; run++ {
		withReader := (run/2)%2 == 1
		var rres <-chan acquired
		if withReader {
			rres = acquireRWAsync(ctx, reader, false)
			waitChildren(t, rc, "/rw", 2)
		}
		wres := acquireRWAsync(ctx, rws[waiter], true)
		if withReader {
			waitChildren(t, rc, "/rw", 3)
			r, at := depose(t, run, holder, held, rres, "the reader")
			mustNotArrive(t, wres, "the writer while a reader holds")
			release(t, r.l)
			w := await(t, wres, "the writer's Acquire")
			if w.err != nil {
				t.Fatal(w.err)
			}
			if !at.Before(w.at) || w.l.Token() <= r.l.Token() || r.l.Token() <= held.Token() {
				t.Fatalf("run %d: the writer acquired at %v, the deposed holder was cancelled at %v; tokens %#x %#x %#x",
					run, w.at, at, held.Token(), r.l.Token(), w.l.Token())
			}
			held = w.l
		} else {
			waitChildren(t, rc, "/rw", 2)
			w, _ := depose(t, run, holder, held, wres, "the writer")
			if w.l.Token() <= held.Token() {
				t.Fatalf("run %d: token %#x after %#x", run, w.l.Token(), held.Token())
			}
			held = w.l
		}
		if kids := waitChildren(t, rc, "/rw", 1); "/rw/"+kids[0] != held.Node() {
			t.Fatalf("run %d: /rw holds %v, want only %s", run, kids, held.Node())
		}
		holder, waiter = waiter, holder
	}
	release(t, held)
	waitChildren(t, rc, "/rw", 0)
}

// Killing the ZooKeeper server that readers and writers of an RWMutex are connected to,
// while they hold and while they wait, and then the ensemble's leader: a holder's Context
// ends on SUSPENDED (the default policy), its node (still its session's after the move to
// another member) keeps the conflicting waiters out until it releases, and a waiter whose
// server died gets the lock after its reconnection, as soon as the holders before it
// release. Nothing is left behind.
func TestRWMutexEnsembleServerKilled(t *testing.T) {
	e := zktest.StartEnsemble(t, 3)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	ca, cb, admin := connectEnsemble(t, e, ns, 4*time.Second), connectEnsemble(t, e, ns, 4*time.Second), connectEnsemble(t, e, ns, 4*time.Second)
	rwa, rwb, rwadmin := newRW(t, ca, "/rw"), newRW(t, cb, "/rw"), newRW(t, admin, "/rw")
	sa := testkit.WatchStates(t, ca, nil)
	ownedBy := func(l *lock.Lock, c *zkrecipes.Client, what string) {
		t.Helper()
		if _, st, err := admin.Get(ctx, l.Node()); err != nil || st.EphemeralOwner != c.SessionID() {
			t.Fatalf("%s's node %s: %v (owner %#x, session %#x)", what, l.Node(), err, st.EphemeralOwner, c.SessionID())
		}
	}
	readLock := func(rw *lock.RWMutex) *lock.Lock {
		t.Helper()
		l, err := rw.AcquireRead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}

	// 1. A reader's server dies while a writer waits behind it and a second reader.
	la := readLock(rwa)
	lr := readLock(rwadmin)
	wres := acquireRWAsync(ctx, rwb, true)
	waitChildren(t, admin, "/rw", 3)
	victim := killServerUnderHolder(t, ctx, e, ca, sa, la, "reader")
	ownedBy(la, ca, "the reader")
	mustNotArrive(t, wres, "the writer while the readers' nodes stand")
	release(t, la)
	mustNotArrive(t, wres, "the writer while a reader holds")
	release(t, lr)
	lw := await(t, wres, "the writer's Acquire")
	if lw.err != nil {
		t.Fatal(lw.err)
	}
	restart(t, ctx, e, victim)

	// 2. A waiting reader's server dies; the writer releases meanwhile.
	rres := acquireRWAsync(ctx, rwa, false)
	waitChildren(t, admin, "/rw", 2)
	victim = killServerUnderWaiter(t, ctx, e, ca, sa, "waiting reader")
	release(t, lw.l)
	la2 := await(t, rres, "the reader's Acquire after its server died")
	if la2.err != nil {
		t.Fatal(la2.err)
	}
	ownedBy(la2.l, ca, "the reader")
	release(t, la2.l)
	restart(t, ctx, e, victim)

	// 3. A waiting writer's server dies while a reader holds; the reader releases meanwhile.
	lr = readLock(rwadmin)
	wres = acquireRWAsync(ctx, rwa, true)
	waitChildren(t, admin, "/rw", 2)
	victim = killServerUnderWaiter(t, ctx, e, ca, sa, "waiting writer")
	release(t, lr)
	lw2 := await(t, wres, "the writer's Acquire after its server died")
	if lw2.err != nil {
		t.Fatal(lw2.err)
	}
	ownedBy(lw2.l, ca, "the writer")
	restart(t, ctx, e, victim)

	// 4. The ensemble's leader dies while that writer holds and a reader waits.
	rres = acquireRWAsync(ctx, rwb, false)
	waitChildren(t, admin, "/rw", 2)
	killLeaderUnder(t, ctx, e, sa, lw2.l, "the writer's context")
	ownedBy(lw2.l, ca, "the writer")
	mustNotArrive(t, rres, "the reader while the writer's node stands")
	release(t, lw2.l)
	lb := await(t, rres, "the reader's Acquire after the election")
	if lb.err != nil {
		t.Fatal(lb.err)
	}
	if lb.l.Token() <= lw2.l.Token() || lw2.l.Token() <= lw.l.Token() {
		t.Fatalf("tokens do not increase: %#x %#x %#x", lw.l.Token(), lw2.l.Token(), lb.l.Token())
	}
	release(t, lb.l)
	waitChildren(t, admin, "/rw", 0)
}

// Read and write acquisitions, blocking and TryAcquire, whose deadline ends at any point
// of the way leave no node of their session behind once what they sent has resolved, on
// a path a writer holds and on free ones.
func TestRWMutexTinyDeadlinesLeaveNoNode(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	fd := zktest.NewFaultDialer()
	ca := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(fd.Dial))
	cb := testkit.Connect(t, srv.Servers(), ns)
	held, err := newRW(t, cb, "/held").AcquireWrite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fd.SetLatency(3 * time.Millisecond)
	const n = 120
	cut, refused, got := 0, 0, 0
	paths := make([]string, n)
	for i := range paths {
		paths[i] = "/held"
		if i%2 == 1 {
			paths[i] = fmt.Sprintf("/free/%d", i)
		}
		rw := newRW(t, ca, paths[i])
		write, try := i%4 < 2, i%3 == 0
		acq := rw.AcquireRead
		switch {
		case write && try:
			acq = rw.TryAcquireWrite
		case write:
			acq = rw.AcquireWrite
		case try:
			acq = rw.TryAcquireRead
		}
		d := 250*time.Microsecond + rand.N(100*time.Millisecond)
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
			t.Fatalf("acquisition %d (write %v, try %v) of %s with a %v deadline: %v", i, write, try, paths[i], d, err)
		}
	}
	fd.SetLatency(0)
	t.Logf("%d of %d acquisitions ran out of time, %d tries found the lock taken, %d acquired", cut, n, refused, got)
	if cut < n/3 {
		t.Fatalf("only %d acquisitions were cut short: the test proved little", cut)
	}
	wctx, cancel := context.WithTimeout(ctx, testkit.Patience)
	defer cancel()
	for _, p := range paths {
		testkit.WaitNoNodeOf(t, wctx, cb, p, ca.SessionID())
	}
	if kids := waitChildren(t, cb, "/held", 1); "/held/"+kids[0] != held.Node() {
		t.Fatalf("/held has %v", kids)
	}
	release(t, held)
	for i := 1; i < n; i += 10 {
		l, err := newRW(t, cb, paths[i]).TryAcquireWrite(ctx)
		if err != nil {
			t.Fatalf("TryAcquireWrite of %s after the run: %v", paths[i], err)
		}
		release(t, l)
	}
}

// TryAcquireRead and TryAcquireWrite return at once with ErrLocked when they would have
// to wait, having deleted their node before returning; otherwise they hold.
func TestRWMutexTryAcquire(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	ca, cb := testkit.Connect(t, srv.Servers(), ns), testkit.Connect(t, srv.Servers(), ns)
	a, b := newRW(t, ca, "/rw"), newRW(t, cb, "/rw")
	only := func(want ...*lock.Lock) {
		t.Helper()
		kids, _, err := ca.Children(ctx, "/rw")
		if err != nil || len(kids) != len(want) {
			t.Fatalf("children %v (%v), want %d", kids, err, len(want))
		}
		for i, l := range want {
			found := false
			for _, k := range kids {
				found = found || "/rw/"+k == l.Node()
			}
			if !found {
				t.Fatalf("children %v lack %s (lock %d)", kids, l.Node(), i)
			}
		}
	}
	r1, err := a.TryAcquireRead(ctx)
	if err != nil {
		t.Fatalf("TryAcquireRead of a free lock: %v", err)
	}
	r2, err := b.TryAcquireRead(ctx)
	if err != nil {
		t.Fatalf("TryAcquireRead next to a reader: %v", err)
	}
	if l, err := b.TryAcquireWrite(ctx); !errors.Is(err, lock.ErrLocked) || l != nil {
		t.Fatalf("TryAcquireWrite while read-locked = %v, %v", l, err)
	}
	only(r1, r2)
	release(t, r1)
	release(t, r2)
	w, err := b.TryAcquireWrite(ctx)
	if err != nil {
		t.Fatalf("TryAcquireWrite of a free lock: %v", err)
	}
	for _, try := range []func(context.Context) (*lock.Lock, error){a.TryAcquireRead, a.TryAcquireWrite} {
		if l, err := try(ctx); !errors.Is(err, lock.ErrLocked) || l != nil {
			t.Fatalf("a try while write-locked = %v, %v", l, err)
		}
		only(w)
	}
	release(t, w)
	waitChildren(t, ca, "/rw", 0)
}
