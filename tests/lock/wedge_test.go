package lock_test

import (
	"context"
	"path"
	"slices"
	"testing"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/probe"
	"github.com/zkrecipes/zkrecipes/lock"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// go-zk's own loop wedges under a waiter (its reads never return): the watchdog replaces
// the go-zk connection and resumes the session, so the waiter keeps its node and its place;
// its watch on the holder's node went with the old connection, and it sets it again: when
// the holder releases, the waiter gets the lock, with the node it had.
func TestMutexWaiterRecoversAfterWedgedLoop(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	holder := acquire(t, newMutex(t, testkit.Connect(t, srv.Servers(), ns), "/l"))
	fz := zktest.NewFreezer()
	cw := testkit.ConnectFreezable(t, srv.Servers(), ns, fz)
	st := testkit.WatchStates(t, cw, nil)
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	wm := newMutex(t, cw, "/l")
	waiting := make(chan struct{}, 1)
	probe.SetMutexWaiting(wm, func() {
		select {
		case waiting <- struct{}{}:
		default:
		}
	})
	got := acquireAsync(actx, wm)
	await(t, waiting, "the waiter waiting on the holder's node (its watch set)")
	kids := waitChildren(t, cw, "/l", 2)

	testkit.WedgeAndReplace(t, cw, st, fz, "/l")
	mustNotArrive(t, got, "the waiter's lock while the holder holds")
	release(t, holder)
	a := await(t, got, "the waiter's lock after the holder released")
	if a.err != nil {
		t.Fatal(a.err)
	}
	defer release(t, a.l)
	if name := path.Base(a.l.Node()); name == path.Base(holder.Node()) || !slices.Contains(kids, name) {
		t.Fatalf("the waiter holds %s; the queue before the wedge was %v (holder %s)", a.l.Node(), kids, holder.Node())
	}
}

// go-zk's own loop wedges under a semaphore waiter: after the watchdog's replacement the
// waiter's watches on the leases are gone, and it sets them again, so a freed lease still
// reaches it.
func TestSemaphoreWaiterRecoversAfterWedgedLoop(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	sem := func(c *zkrecipes.Client) *lock.Semaphore {
		s, err := lock.NewSemaphore(c, "/sem", 1)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	held, err := sem(testkit.Connect(t, srv.Servers(), ns)).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fz := zktest.NewFreezer()
	cw := testkit.ConnectFreezable(t, srv.Servers(), ns, fz)
	st := testkit.WatchStates(t, cw, nil)
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := semAsync(actx, sem(cw))
	waitChildren(t, cw, "/sem/leases", 2)
	waitChildren(t, cw, "/sem/locks", 1) // the waiter holds P/locks while it waits

	testkit.WedgeAndReplace(t, cw, st, fz, "/sem")
	mustNotArrive(t, got, "the waiter's lease while the only one is held")
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	a := await(t, got, "the waiter's lease after the holder released")
	if a.err != nil {
		t.Fatal(a.err)
	}
	release(t, a.l)
}
