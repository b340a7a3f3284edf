package lock_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/lock"
	"github.com/zkrecipes/zkrecipes/tests/curatortest"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

var (
	readNode  = regexp.MustCompile(`^_c_[0-9a-f-]{36}-__READ__[0-9]{10}$`)
	writeNode = regexp.MustCompile(`^_c_[0-9a-f-]{36}-__WRIT__[0-9]{10}$`)
)

func newRW(t testing.TB, c *zkrecipes.Client, path string, opts ...lock.Option) *lock.RWMutex {
	t.Helper()
	rw, err := lock.NewRWMutex(c, path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return rw
}

func acquireRWAsync(ctx context.Context, rw *lock.RWMutex, write bool) <-chan acquired {
	ch := make(chan acquired, 1)
	go func() {
		acq := rw.AcquireRead
		if write {
			acq = rw.AcquireWrite
		}
		l, err := acq(ctx)
		ch <- acquired{l, err, time.Now()}
	}()
	return ch
}

func name(node string) string {
	_, n := zkrecipes.SplitPath(node)
	return n
}

// Readers share the lock, a writer waits for every reader before it (watching its
// predecessor), and a reader behind a waiting writer waits for that writer (watching it,
// not its predecessor); a read Lock cannot fence.
func TestRWMutexReadersShareWritersExclude(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	c := func() *lock.RWMutex { return newRW(t, testkit.Connect(t, srv.Servers(), ns), "/rw") }
	admin := testkit.Connect(t, srv.Servers(), ns)
	r1, r2, w, r3 := c(), c(), c(), c()

	l1, err := r1.AcquireRead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := r2.AcquireRead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !readNode.MatchString(name(l1.Node())) || l1.Context().Err() != nil || l2.Context().Err() != nil {
		t.Fatalf("read node %s", l1.Node())
	}
	if _, err := l1.Multi(ctx); !errors.Is(err, lock.ErrInvalidOption) {
		t.Fatalf("Multi on a read lock = %v", err)
	}
	wres := acquireRWAsync(ctx, w, true)
	waitChildren(t, admin, "/rw", 3)
	r3res := acquireRWAsync(ctx, r3, false)
	waitChildren(t, admin, "/rw", 4)
	if _, err := r1.TryAcquireWrite(ctx); !errors.Is(err, lock.ErrLocked) {
		t.Fatalf("TryAcquireWrite while read-locked = %v", err)
	}
	if _, err := r1.TryAcquireRead(ctx); !errors.Is(err, lock.ErrLocked) {
		t.Fatalf("TryAcquireRead behind a waiting writer = %v", err)
	}
	nodes, err := w.Nodes(ctx)
	if err != nil || len(nodes) != 4 || !writeNode.MatchString(nodes[2]) {
		t.Fatalf("nodes %v, %v", nodes, err)
	}

	release(t, l1)
	mustNotArrive(t, wres, "the writer while a reader holds")
	release(t, l2)
	lw := await(t, wres, "the writer")
	if lw.err != nil {
		t.Fatal(lw.err)
	}
	mustNotArrive(t, r3res, "the reader behind the writer")
	if _, err := lw.l.Multi(ctx, &zk.CreateRequest{Path: "/written", Data: []byte("w")}); err != nil {
		t.Fatalf("guarded write under the write lock: %v", err)
	}
	release(t, lw.l)
	l3 := await(t, r3res, "the reader after the writer")
	if l3.err != nil {
		t.Fatal(l3.err)
	}
	if l3.l.Token() <= lw.l.Token() || lw.l.Token() <= l2.Token() {
		t.Fatalf("tokens %#x %#x %#x", l2.Token(), lw.l.Token(), l3.l.Token())
	}
	release(t, l3.l)
}

// Downgrade: the holder of the write lock gets a read node that sorts with its write
// node, so a writer queued behind it stays behind, while readers queued behind that writer
// still wait for it; the write node is gone afterwards.
func TestRWMutexDowngrade(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	admin := testkit.Connect(t, srv.Servers(), ns)
	a := newRW(t, testkit.Connect(t, srv.Servers(), ns), "/rw")
	b := newRW(t, testkit.Connect(t, srv.Servers(), ns), "/rw")
	r := newRW(t, testkit.Connect(t, srv.Servers(), ns), "/rw")
	lw, err := a.AcquireWrite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bres := acquireRWAsync(ctx, b, true)
	waitChildren(t, admin, "/rw", 2)
	rres := acquireRWAsync(ctx, r, false)
	waitChildren(t, admin, "/rw", 3)

	ld, err := lw.Downgrade(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wName, dName := name(lw.Node()), name(ld.Node())
	if !readNode.MatchString(dName) || dName[len(dName)-10:] != wName[len(wName)-10:] {
		t.Fatalf("downgrade node %s for write node %s", dName, wName)
	}
	if ok, _, err := admin.Exists(ctx, lw.Node()); ok || err != nil {
		t.Fatalf("the write node is still there (%v)", err)
	}
	if cause := context.Cause(lw.Context()); !errors.Is(cause, lock.ErrReleased) {
		t.Fatalf("write lock's cause %v", cause)
	}
	if _, err := lw.Downgrade(ctx); !errors.Is(err, lock.ErrNotHeld) {
		t.Fatalf("second Downgrade = %v", err)
	}
	if _, err := ld.Downgrade(ctx); !errors.Is(err, lock.ErrInvalidOption) {
		t.Fatalf("Downgrade of a read lock = %v", err)
	}
	nodes, err := a.Nodes(ctx)
	if err != nil || len(nodes) != 3 || nodes[0] != dName {
		t.Fatalf("nodes after the downgrade %v, %v", nodes, err)
	}
	mustNotArrive(t, bres, "the writer behind the downgraded lock")
	mustNotArrive(t, rres, "the reader behind the writer")
	release(t, ld)
	lb := await(t, bres, "the writer")
	if lb.err != nil {
		t.Fatal(lb.err)
	}
	mustNotArrive(t, rres, "the reader behind the writer")
	release(t, lb.l)
	lr := await(t, rres, "the reader")
	if lr.err != nil {
		t.Fatal(lr.err)
	}
	release(t, lr.l)
}

// Go and Java (Curator 5.4's InterProcessReadWriteLock) readers and writers on one path:
// readers of both languages share the lock, a writer of either waits for them and
// excludes everyone, and readers behind a writer wait for it.
func TestRWMutexInteropWithCurator(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	peer := curatortest.Start(t, srv.ConnectString(), curatortest.WithNamespace(ns))
	ctx := testkit.Ctx(t)
	const path = "/rw"
	admin := testkit.Connect(t, srv.Servers(), ns)
	goRW := func() *lock.RWMutex { return newRW(t, testkit.Connect(t, srv.Servers(), ns), path) }
	for _, h := range []struct{ name, kind string }{{"jr1", "read"}, {"jw", "write"}, {"jr2", "read"}} {
		if err := peer.RWNew(ctx, h.name, path, h.kind); err != nil {
			t.Fatal(err)
		}
	}
	// Queue: Java reader, Go reader (both hold), Java writer, Go writer, Go reader, Java
	// reader.
	if _, err := peer.MutexAcquire(ctx, "jr1", -1); err != nil {
		t.Fatal(err)
	}
	if err := peer.WaitMutex(ctx, "jr1", "acquired"); err != nil {
		t.Fatal(err)
	}
	gr1, err := goRW().AcquireRead(ctx)
	if err != nil {
		t.Fatalf("a Go reader next to a Java reader: %v", err)
	}
	jwNode, err := peer.MutexAcquire(ctx, "jw", -1)
	if err != nil || !writeNode.MatchString(jwNode) {
		t.Fatalf("Java's write node %q (%v)", jwNode, err)
	}
	gwres := acquireRWAsync(ctx, goRW(), true)
	waitChildren(t, admin, path, 4)
	gr2res := acquireRWAsync(ctx, goRW(), false)
	waitChildren(t, admin, path, 5)
	if _, err := peer.MutexAcquire(ctx, "jr2", -1); err != nil {
		t.Fatal(err)
	}
	waitChildren(t, admin, path, 6)
	goNodes, err := newRW(t, admin, path).Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	javaReaders, javaWriters, err := peer.RWNodes(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var goReaders, goWriters []string
	for _, n := range goNodes {
		if strings.Contains(n, "__WRIT__") {
			goWriters = append(goWriters, n)
		} else {
			goReaders = append(goReaders, n)
		}
	}
	if strings.Join(goReaders, " ") != strings.Join(javaReaders, " ") ||
		strings.Join(goWriters, " ") != strings.Join(javaWriters, " ") || goNodes[2] != jwNode {
		t.Fatalf("order: Go %v; Java readers %v, writers %v", goNodes, javaReaders, javaWriters)
	}

	release(t, gr1)
	if err := peer.MutexRelease(ctx, "jr1"); err != nil {
		t.Fatal(err)
	}
	if err := peer.WaitMutex(ctx, "jw", "acquired"); err != nil {
		t.Fatal(err)
	}
	mustNotArrive(t, gwres, "the Go writer while Java writes")
	mustNotArrive(t, gr2res, "the Go reader while Java writes")
	if err := peer.MutexRelease(ctx, "jw"); err != nil {
		t.Fatal(err)
	}
	gw := await(t, gwres, "the Go writer")
	if gw.err != nil {
		t.Fatal(gw.err)
	}
	if held, err := peer.MutexHeld(ctx, "jr2"); err != nil || held {
		t.Fatalf("the Java reader holds while Go writes: %v %v", held, err)
	}
	mustNotArrive(t, gr2res, "the Go reader while Go writes")
	release(t, gw.l)
	gr2 := await(t, gr2res, "the Go reader")
	if gr2.err != nil {
		t.Fatal(gr2.err)
	}
	if err := peer.WaitMutex(ctx, "jr2", "acquired"); err != nil {
		t.Fatalf("the Java reader next to the Go reader: %v", err)
	}
	release(t, gr2.l)
	if err := peer.MutexRelease(ctx, "jr2"); err != nil {
		t.Fatal(err)
	}
	waitChildren(t, admin, path, 0)
}
