package lock_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/lock"
	"github.com/zkrecipes/zkrecipes/tests/curatortest"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// Go Mutexes and Java InterProcessMutexes (Curator 5.4) on one path form one queue: the
// nodes look alike (name and data), both sides see the same order, the holder excludes
// the others, and the lock hands over Go -> Java -> Go -> Java -> Go.
func TestMutexInteropWithCurator(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	peer := curatortest.Start(t, srv.ConnectString(), curatortest.WithNamespace(ns))
	ctx := testkit.Ctx(t)
	const path = "/shared"
	ca, cb := testkit.Connect(t, srv.Servers(), ns), testkit.Connect(t, srv.Servers(), ns)
	ga, gb := newMutex(t, ca, path), newMutex(t, cb, path)
	if err := peer.MutexNew(ctx, "j1", path, false, false); err != nil {
		t.Fatal(err)
	}
	if err := peer.MutexNew(ctx, "j2", path, false, false); err != nil {
		t.Fatal(err)
	}

	// Queue: Go a (holds), Java j1, Go b, Java j2.
	a := acquire(t, ga)
	j1, err := peer.MutexAcquire(ctx, "j1", -1)
	if err != nil || !lockNode.MatchString(j1) {
		t.Fatalf("Java's node %q (%v) does not look like ours", j1, err)
	}
	bres := acquireAsync(ctx, gb)
	waitChildren(t, ca, path, 3)
	j2, err := peer.MutexAcquire(ctx, "j2", -1)
	if err != nil {
		t.Fatal(err)
	}
	goNodes, err := ga.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	javaNodes, err := peer.MutexNodes(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	_, aName := zkrecipes.SplitPath(a.Node())
	if !slices.Equal(goNodes, javaNodes) || len(goNodes) != 4 || goNodes[0] != aName || goNodes[1] != j1 || goNodes[3] != j2 {
		t.Fatalf("order: Go %v, Java %v", goNodes, javaNodes)
	}
	// Same data as Curator writes by default (the host's address), as seen by either side.
	goData, _, err := ca.Get(ctx, a.Node())
	if err != nil {
		t.Fatal(err)
	}
	javaNode, err := peer.Get(ctx, path+"/"+j1)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(goData, javaNode.Data) {
		t.Fatalf("Go writes %q, Curator %q", goData, javaNode.Data)
	}
	if held, err := peer.MutexHeld(ctx, "j1"); err != nil || held {
		t.Fatalf("Java holds while Go does: %v %v", held, err)
	}

	// Go -> Java.
	release(t, a)
	if err := peer.WaitMutex(ctx, "j1", "acquired"); err != nil {
		t.Fatal(err)
	}
	mustNotArrive(t, bres, "b's Acquire while Java holds")
	// Java -> Go.
	if err := peer.MutexRelease(ctx, "j1"); err != nil {
		t.Fatal(err)
	}
	b := await(t, bres, "b's Acquire")
	if b.err != nil {
		t.Fatal(b.err)
	}
	if held, err := peer.MutexHeld(ctx, "j2"); err != nil || held {
		t.Fatalf("Java j2 holds while Go b does: %v %v", held, err)
	}
	// Go -> Java again, then Java -> Go with a fresh Go contender.
	release(t, b.l)
	if err := peer.WaitMutex(ctx, "j2", "acquired"); err != nil {
		t.Fatal(err)
	}
	ares := acquireAsync(ctx, ga)
	waitChildren(t, ca, path, 2)
	mustNotArrive(t, ares, "a's Acquire while Java holds")
	if err := peer.MutexRelease(ctx, "j2"); err != nil {
		t.Fatal(err)
	}
	a2 := await(t, ares, "a's second Acquire")
	if a2.err != nil {
		t.Fatal(a2.err)
	}
	if a2.l.Token() <= b.l.Token() || b.l.Token() <= a.Token() {
		t.Fatalf("tokens %#x, %#x, %#x do not increase", a.Token(), b.l.Token(), a2.l.Token())
	}
	release(t, a2.l)
	waitChildren(t, ca, path, 0)
}

// Revocation across languages: a Go Revoke reaches a revocable Java holder, whose listener
// releases; a Java Revoker reaches a revocable Go holder, whose Context ends with
// ErrRevoked. Both write empty data into revocable nodes.
func TestRevokeInteropWithCurator(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	peer := curatortest.Start(t, srv.ConnectString(), curatortest.WithNamespace(ns))
	ctx := testkit.Ctx(t)
	const path = "/revocable"
	c := testkit.Connect(t, srv.Servers(), ns)
	g := newMutex(t, c, path, lock.WithRevocable())

	// Go revokes Java.
	if err := peer.MutexNew(ctx, "j", path, true, true); err != nil {
		t.Fatal(err)
	}
	jNode, err := peer.MutexAcquire(ctx, "j", -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.WaitMutex(ctx, "j", "acquired"); err != nil {
		t.Fatal(err)
	}
	gres := acquireAsync(ctx, g)
	waitChildren(t, c, path, 2)
	if err := lock.Revoke(ctx, c, path+"/"+jNode); err != nil {
		t.Fatal(err)
	}
	if err := peer.WaitMutex(ctx, "j", "revoke"); err != nil {
		t.Fatalf("Java's revocation listener did not run: %v", err)
	}
	if err := peer.WaitMutex(ctx, "j", "released"); err != nil {
		t.Fatal(err)
	}
	got := await(t, gres, "Go's Acquire after the revocation")
	if got.err != nil {
		t.Fatal(got.err)
	}
	gl := got.l
	if data, _, err := c.Get(ctx, gl.Node()); err != nil || data == nil || len(data) != 0 {
		t.Fatalf("revocable Go node data %q (%v), want empty as Curator writes", data, err)
	}

	// Java revokes Go.
	if _, err := peer.MutexAcquire(ctx, "j", -1); err != nil {
		t.Fatal(err)
	}
	waitChildren(t, c, path, 2)
	if err := peer.Revoke(ctx, gl.Node()); err != nil {
		t.Fatal(err)
	}
	if cause := waitDone(t, gl.Context(), "the Go holder's context"); !errors.Is(cause, lock.ErrRevoked) {
		t.Fatalf("cause = %v", cause)
	}
	release(t, gl)
	if err := peer.WaitMutex(ctx, "j", "acquired"); err != nil {
		t.Fatal(err)
	}
	if err := peer.MutexRelease(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	waitChildren(t, c, path, 0)
}
