package lock_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/probe"
	"github.com/zkrecipes/zkrecipes/lock"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// member is a contender with its own client and fault dialer (m is its Mutex, for the
// mutex tests; the other recipes' tests make theirs on c).
type member struct {
	name string
	c    *zkrecipes.Client
	d    *zktest.FaultDialer
	st   *testkit.States
	m    *lock.Mutex
}

func newMember(t *testing.T, servers []string, ns, name, path string, session time.Duration, opts ...lock.Option) *member {
	mb := newFaultyClient(t, servers, ns, name, session)
	mb.m = newMutex(t, mb.c, path, opts...)
	return mb
}

// newFaultyClient is a member without a recipe: a client with a fault dialer of its own
// and a session of the given timeout (copts come last: an ensemble's host provider).
func newFaultyClient(t *testing.T, servers []string, ns, name string, session time.Duration, copts ...zkrecipes.Option) *member {
	d := zktest.NewFaultDialer()
	c := testkit.Connect(t, servers, ns, append([]zkrecipes.Option{zkrecipes.WithDialer(d.Dial), zkrecipes.WithSessionTimeout(session)}, copts...)...)
	return &member{name: name, c: c, d: d, st: testkit.WatchStates(t, c, nil)}
}

// memberOf returns the ensemble member c is connected to.
func memberOf(t testing.TB, e *zktest.Ensemble, c *zkrecipes.Client) *zktest.Node {
	t.Helper()
	server := c.Conn().Server()
	for _, n := range e.Nodes {
		if n.Addr() == server {
			return n
		}
	}
	t.Fatalf("client connected to %s, no member of %v", server, e.Servers())
	return nil
}

// killServerUnderHolder kills the ensemble member c is connected to while held (an
// acquisition of c, described by who) is held: held's Context must end with ErrLockLost,
// and c must reconnect to another member on the same session. It returns the member.
func killServerUnderHolder(t *testing.T, ctx context.Context, e *zktest.Ensemble, c *zkrecipes.Client, st *testkit.States, held *lock.Lock, who string) *zktest.Node {
	t.Helper()
	mark := st.Mark()
	victim := memberOf(t, e, c)
	t.Logf("%s on member %d; killing it", who, victim.ID)
	if err := victim.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if cause := waitDone(t, held.Context(), "the "+who+"'s context"); !errors.Is(cause, lock.ErrLockLost) {
		t.Fatalf("cause %v", cause)
	}
	if rc := st.WaitFor(t, mark, zkrecipes.StateReconnected, nil); rc.NewSession {
		t.Fatal("the " + who + "'s session expired (machine too slow?)")
	}
	return victim
}

// killServerUnderWaiter kills the ensemble member c is connected to while an acquisition
// of c (described by who) waits, and returns the member once c is SUSPENDED.
func killServerUnderWaiter(t *testing.T, ctx context.Context, e *zktest.Ensemble, c *zkrecipes.Client, st *testkit.States, who string) *zktest.Node {
	t.Helper()
	victim := memberOf(t, e, c)
	t.Logf("%s on member %d; killing it", who, victim.ID)
	mark := st.Mark()
	if err := victim.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	st.WaitFor(t, mark, zkrecipes.StateSuspended, nil)
	return victim
}

// killLeaderUnder kills the ensemble's leader while held is held: held's Context must end
// with ErrLockLost (what says whose), and the holder's client (states st) reconnects.
func killLeaderUnder(t *testing.T, ctx context.Context, e *zktest.Ensemble, st *testkit.States, held *lock.Lock, what string) {
	t.Helper()
	zkLeader, err := e.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killing the ensemble's leader, member %d", zkLeader.ID)
	mark := st.Mark()
	if err := zkLeader.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if cause := waitDone(t, held.Context(), what); !errors.Is(cause, lock.ErrLockLost) {
		t.Fatalf("cause %v", cause)
	}
	st.WaitFor(t, mark, zkrecipes.StateReconnected, nil)
}

// restart starts a killed member again and waits until the ensemble serves.
func restart(t testing.TB, ctx context.Context, e *zktest.Ensemble, n *zktest.Node) {
	t.Helper()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

// cancelledAt returns a channel that receives the time at which ctx was seen cancelled
// (a moment after it was: the comparisons below are stricter for it).
func cancelledAt(ctx context.Context) <-chan time.Time {
	ch := make(chan time.Time, 1)
	context.AfterFunc(ctx, func() { ch <- time.Now() })
	return ch
}

// A holder cut off (or black-holed) past its session timeout, on a 3-node ensemble, under
// the default policy:
// its Context is cancelled before the next holder's Acquire returns, in every run; the
// times are monotonic clock readings on one machine. The deposed holder's Release then
// succeeds (its node went with its session).
func TestMutexCutHolderNoOverlap(t *testing.T) {
	t.Parallel() // an ensemble of its own; the longest tests of the package
	e := zktest.StartEnsemble(t, 3)
	ns := testkit.Namespace(t)
	var members [2]*member
	for i, name := range []string{"a", "b"} {
		members[i] = newEnsembleMember(t, e, ns, name)
		members[i].m = newMutex(t, members[i].c, "/l")
	}
	ctx := testkit.Ctx(t)
	holder, waiter := members[0], members[1]
	held := acquire(t, holder.m)
	const runs = 20
	for run := 0; run < runs; run++ {
		res := acquireAsync(ctx, waiter.m)
		waitChildren(t, waiter.c, "/l", 2)
		cancelled := cancelledAt(held.Context())
		mark := holder.st.Mark()
		fault := "cut"
		if run%2 == 1 {
			fault = "black hole"
			holder.d.BlackHole()
		} else {
			holder.d.Cut()
		}
		next := await(t, res, "the next holder's Acquire")
		if next.err != nil {
			t.Fatalf("run %d: %v", run, next.err)
		}
		at := await(t, cancelled, "the deposed holder's cancellation")
		if !at.Before(next.at) {
			t.Fatalf("run %d (%s): %s's Context was cancelled at %v, %v after %s acquired",
				run, fault, holder.name, at, at.Sub(next.at), waiter.name)
		}
		if cause := context.Cause(held.Context()); !errors.Is(cause, lock.ErrLockLost) {
			t.Fatalf("run %d: cause %v", run, cause)
		}
		t.Logf("run %d (%s): %s cancelled %v before %s acquired (%v)", run, fault, holder.name,
			next.at.Sub(at), waiter.name, context.Cause(held.Context()))
		holder.st.WaitFor(t, mark, zkrecipes.StateLost, nil)
		holder.d.Heal()
		holder.st.WaitFor(t, mark, zkrecipes.StateReconnected, func(sc zkrecipes.StateChange) bool { return sc.NewSession })
		release(t, held)
		holder, waiter, held = waiter, holder, next.l
	}
	release(t, held)
}

// A deposed holder's guarded write fails, even under SessionPolicy and after its client
// reconnected: ZooKeeper refuses it because the node is gone; the new holder's succeeds.
func TestMutexDeposedHolderGuardedWriteFails(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	a := newMember(t, srv.Servers(), ns, "a", "/l", 2*time.Second, lock.WithErrorPolicy(lock.SessionPolicy))
	b := newMember(t, srv.Servers(), ns, "b", "/l", 2*time.Second)
	ctx := testkit.Ctx(t)
	if _, err := b.c.Create(ctx, "/data", []byte("0"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	la := acquire(t, a.m)
	if _, err := la.Multi(ctx, &zk.SetDataRequest{Path: "/data", Data: []byte("a"), Version: -1}); err != nil {
		t.Fatal(err)
	}
	res := acquireAsync(ctx, b.m)
	waitChildren(t, b.c, "/l", 2)
	mark := a.st.Mark()
	a.d.Cut()
	a.st.WaitFor(t, mark, zkrecipes.StateSuspended, nil)
	if la.Context().Err() != nil {
		t.Fatalf("SessionPolicy ended the hold on SUSPENDED: %v", context.Cause(la.Context()))
	}
	lb := await(t, res, "b's Acquire")
	if lb.err != nil {
		t.Fatal(lb.err)
	}
	if cause := waitDone(t, la.Context(), "a's context"); !errors.Is(cause, zkrecipes.ErrSessionLost) {
		t.Fatalf("a's cause %v", cause)
	}
	if _, err := lb.l.Multi(ctx, &zk.SetDataRequest{Path: "/data", Data: []byte("b"), Version: -1}); err != nil {
		t.Fatalf("new holder's guarded write: %v", err)
	}
	a.d.Heal()
	a.st.WaitFor(t, mark, zkrecipes.StateReconnected, nil)
	if _, err := la.Multi(ctx, &zk.SetDataRequest{Path: "/data", Data: []byte("late a"), Version: -1}); !errors.Is(err, lock.ErrNotHeld) {
		t.Fatalf("deposed holder's guarded write = %v, want ErrNotHeld", err)
	}
	if data, _, err := b.c.Get(ctx, "/data"); err != nil || string(data) != "b" {
		t.Fatalf("/data = %q, %v", data, err)
	}
	if lb.l.Token() <= la.Token() {
		t.Fatalf("token %#x after %#x", lb.l.Token(), la.Token())
	}
	release(t, la)
	release(t, lb.l)
}

// Killing the ZooKeeper server a holder is connected to, then the one a waiter is
// connected to, then the ensemble's leader: the holder's Context ends on SUSPENDED, its
// node (still its session's) keeps the others out until it releases, and the waiter gets
// the lock after its own reconnection.
func TestMutexEnsembleServerKilled(t *testing.T) {
	e := zktest.StartEnsemble(t, 3)
	ns := testkit.Namespace(t)
	connectE := func() *zkrecipes.Client {
		return testkit.Connect(t, e.Servers(), ns, zkrecipes.WithHostProvider(e.HostProvider()),
			zkrecipes.WithSessionTimeout(4*time.Second))
	}
	ca, cb, admin := connectE(), connectE(), connectE()
	ma, mb := newMutex(t, ca, "/l"), newMutex(t, cb, "/l")
	ctx := testkit.Ctx(t)

	// 1. The holder's server dies.
	la := acquire(t, ma)
	res := acquireAsync(ctx, mb)
	waitChildren(t, admin, "/l", 2)
	sa := testkit.WatchStates(t, ca, nil)
	victim := killServerUnderHolder(t, ctx, e, ca, sa, la, "holder")
	_, st, err := admin.Get(ctx, la.Node())
	if err != nil || st.EphemeralOwner != ca.SessionID() {
		t.Fatalf("holder's node after the move: %v (owner %#x)", err, st.EphemeralOwner)
	}
	mustNotArrive(t, res, "the waiter's Acquire while the holder's node stands")
	release(t, la)
	lb := await(t, res, "the waiter's Acquire")
	if lb.err != nil {
		t.Fatal(lb.err)
	}
	restart(t, ctx, e, victim)

	// 2. The waiter's server dies while it waits; the holder releases meanwhile.
	res = acquireAsync(ctx, ma)
	waitChildren(t, admin, "/l", 2)
	victim = killServerUnderWaiter(t, ctx, e, ca, sa, "waiter")
	release(t, lb.l)
	la2 := await(t, res, "the waiter's Acquire after its server died")
	if la2.err != nil {
		t.Fatal(la2.err)
	}
	if _, st, err := admin.Get(ctx, la2.l.Node()); err != nil || st.EphemeralOwner != ca.SessionID() {
		t.Fatalf("the new holder's node: %v", err)
	}
	restart(t, ctx, e, victim)

	// 3. The ensemble's leader dies: every member drops its clients while a new leader is
	// elected.
	res = acquireAsync(ctx, mb)
	waitChildren(t, admin, "/l", 2)
	killLeaderUnder(t, ctx, e, sa, la2.l, "the holder's context")
	mustNotArrive(t, res, "the waiter's Acquire while the holder's node stands")
	release(t, la2.l)
	lb2 := await(t, res, "the waiter's Acquire after the election")
	if lb2.err != nil {
		t.Fatal(lb2.err)
	}
	if lb2.l.Token() <= la2.l.Token() || la2.l.Token() <= lb.l.Token() {
		t.Fatalf("tokens do not increase: %#x %#x %#x", lb.l.Token(), la2.l.Token(), lb2.l.Token())
	}
	release(t, lb2.l)
}

// Acquires whose deadline ends at any point of the way (creating the lock path, the
// protected create in flight, the reads, the wait) leave no node of their session behind
// once what they sent has resolved, on a free path and on a held one.
func TestMutexTinyDeadlinesLeaveNoNode(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	fd := zktest.NewFaultDialer()
	ca := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(fd.Dial))
	cb := testkit.Connect(t, srv.Servers(), ns)
	held := acquire(t, newMutex(t, cb, "/held"))
	// Every request takes a few ms to leave, so most deadlines end while a step is on its
	// way: the rest of it still runs, after Acquire gave up.
	fd.SetLatency(3 * time.Millisecond)
	const n = 100
	failed, got := 0, 0
	paths := make([]string, n)
	for i := range paths {
		paths[i] = "/held"
		if i%2 == 1 {
			paths[i] = fmt.Sprintf("/free/%d", i)
		}
		m := newMutex(t, ca, paths[i])
		d := 250*time.Microsecond + rand.N(100*time.Millisecond)
		actx, cancel := context.WithTimeout(ctx, d)
		l, err := m.Acquire(actx)
		cancel()
		switch {
		case err == nil:
			got++
			release(t, l)
		case errors.Is(err, context.DeadlineExceeded):
			failed++
		default:
			t.Fatalf("Acquire with a %v deadline: %v", d, err)
		}
	}
	fd.SetLatency(0)
	t.Logf("%d of %d Acquires ran out of time, %d acquired", failed, n, got)
	if failed < n/2 {
		t.Fatalf("only %d Acquires were cut short: the test proved little", failed)
	}
	wctx, cancel := context.WithTimeout(ctx, testkit.Patience)
	defer cancel()
	for _, p := range paths {
		testkit.WaitNoNodeOf(t, wctx, cb, p, ca.SessionID())
	}
	if kids := waitChildren(t, cb, "/held", 1); "/held/"+kids[0] != held.Node() {
		t.Fatalf("/held has %v", kids)
	}
	for i := 1; i < n; i += 10 {
		release(t, acquire(t, newMutex(t, cb, paths[i])))
	}
}

// CURATOR-604: an acquisition that finds its own node owned by an older session (the
// server has not removed it yet) must not hold with it. Curator took such a node as held;
// here it is deleted and replaced, so the contender behind it gets the lock first and
// nobody holds twice. Setting this up naturally needs a race inside the server's expiry;
// the test builds the same state by hand: the node of "the older session" is an
// ephemeral lock node of another session, handed to the acquisition as its own.
func TestMutexOldSessionNodeNeverHeld(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	ca, cb := testkit.Connect(t, srv.Servers(), ns), testkit.Connect(t, srv.Servers(), ns)
	ma, mb := newMutex(t, ca, "/l"), newMutex(t, cb, "/l")
	old, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	if err := ca.EnsurePath(ctx, "/l"); err != nil {
		t.Fatal(err)
	}
	full, err := old.Create("/"+ns+"/l/_c_"+zkrecipes.NewUUID()+"-lock-", []byte{}, zk.FlagEphemeralSequential, zk.WorldACL(zk.PermAll))
	if err != nil {
		t.Fatal(err)
	}
	stale := full[len("/"+ns):]
	resB := acquireAsync(ctx, mb)
	waitChildren(t, ca, "/l", 2)
	type result struct {
		l   *lock.Lock
		err error
	}
	resA := make(chan result, 1)
	go func() {
		l, err := probe.MutexAcquireAdopting(ma, ctx, stale)
		r := result{err: err}
		if err == nil {
			r.l = l.(*lock.Lock)
		}
		resA <- r
	}()
	b := await(t, resB, "b's Acquire")
	if b.err != nil {
		t.Fatal(b.err)
	}
	if ok, _, err := ca.Exists(ctx, stale); ok || err != nil {
		t.Fatalf("the older session's node is still there (%v)", err)
	}
	mustNotArrive(t, resA, "a's Acquire while b holds")
	release(t, b.l)
	a := await(t, resA, "a's Acquire")
	if a.err != nil {
		t.Fatal(a.err)
	}
	if a.l.Node() == stale {
		t.Fatal("a holds with the older session's node")
	}
	if _, st, err := ca.Get(ctx, a.l.Node()); err != nil || st.EphemeralOwner != ca.SessionID() {
		t.Fatalf("a's node: %v", err)
	}
	release(t, a.l)

	// The natural case: a waiter's session expires while it waits. It joins again with a
	// node of its new session, and holds only with that one.
	w := newMember(t, srv.Servers(), ns, "w", "/l", 2*time.Second)
	hb := acquire(t, mb)
	resW := acquireAsync(ctx, w.m)
	first := waitChildren(t, ca, "/l", 2)
	oldSession := w.c.SessionID()
	mark := w.st.Mark()
	w.d.Cut()
	w.st.WaitFor(t, mark, zkrecipes.StateLost, nil)
	testkit.WaitNoNodeOf(t, ctx, ca, "/l", oldSession)
	w.d.Heal()
	w.st.WaitFor(t, mark, zkrecipes.StateReconnected, func(sc zkrecipes.StateChange) bool { return sc.NewSession })
	waitChildren(t, ca, "/l", 2)
	release(t, hb)
	lw := await(t, resW, "the expired waiter's Acquire")
	if lw.err != nil {
		t.Fatal(lw.err)
	}
	_, st, err := ca.Get(ctx, lw.l.Node())
	if err != nil || st.EphemeralOwner != w.c.SessionID() || st.EphemeralOwner == oldSession {
		t.Fatalf("the waiter holds with %s (owner %#x, session %#x, old %#x): %v", lw.l.Node(), st.EphemeralOwner, w.c.SessionID(), oldSession, err)
	}
	t.Logf("waiter's nodes: before the expiry %v, after %s", first, lw.l.Node())
	release(t, lw.l)
}

// CURATOR-678: a Release whose delete cannot go out (the connection is cut) fails, keeps
// the node in the Lock's view, and the Client deletes it once the connection is back, so
// the contender behind it is not wedged; the process can acquire again. A Release whose
// delete reached the server but lost its reply succeeds.
func TestMutexFailedReleaseDoesNotWedge(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	a := newMember(t, srv.Servers(), ns, "a", "/l", 4*time.Second)
	cb := testkit.Connect(t, srv.Servers(), ns)
	mb := newMutex(t, cb, "/l")
	la := acquire(t, a.m)
	res := acquireAsync(ctx, mb)
	waitChildren(t, cb, "/l", 2)
	mark := a.st.Mark()
	a.d.Cut()
	a.st.WaitFor(t, mark, zkrecipes.StateSuspended, nil)
	rctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err := la.Release(rctx)
	cancel()
	if err == nil {
		t.Fatal("Release with the connection cut succeeded")
	}
	t.Logf("Release while cut: %v", err)
	if ok, _, err := cb.Exists(ctx, la.Node()); !ok || err != nil {
		t.Fatalf("the node %s is gone while its session lives (%v)", la.Node(), err)
	}
	mustNotArrive(t, res, "b's Acquire while a's node stands")
	a.d.Heal()
	if rc := a.st.WaitFor(t, mark, zkrecipes.StateReconnected, nil); rc.NewSession {
		t.Fatal("a's session expired during the short cut (machine too slow?)")
	}
	lb := await(t, res, "b's Acquire after the background delete")
	if lb.err != nil {
		t.Fatal(lb.err)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	ares := acquireAsync(ctx, a.m)
	waitChildren(t, cb, "/l", 2)
	release(t, lb.l)
	la2 := await(t, ares, "a's next Acquire")
	if la2.err != nil {
		t.Fatal(la2.err)
	}

	// The delete lands but its reply is lost: the retry finds the node gone.
	lost := a.d.LoseNextReply(func(op int32, _ string) bool { return op == zktest.OpDelete })
	res = acquireAsync(ctx, mb)
	waitChildren(t, cb, "/l", 2)
	if err := la2.l.Release(ctx); err != nil {
		t.Fatalf("Release with a lost reply: %v", err)
	}
	await(t, lost, "the lost reply")
	lb = await(t, res, "b's Acquire")
	if lb.err != nil {
		t.Fatal(lb.err)
	}
	release(t, lb.l)
}
