package lock_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/lock"
	"github.com/zkrecipes/zkrecipes/tests/curatortest"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

var leaseNode = regexp.MustCompile(`^_c_[0-9a-f-]{36}-lease-[0-9]{10}$`)

func semAsync(ctx context.Context, s *lock.Semaphore) <-chan acquired {
	ch := make(chan acquired, 1)
	go func() {
		l, err := s.Acquire(ctx)
		ch <- acquired{l, err, time.Now()}
	}()
	return ch
}

// The semaphore's layout is InterProcessSemaphoreV2's: P/leases holds one lease node per
// participant (also while it waits), and the one waiting holds P/locks while it waits; a
// release lets it in; an Acquire whose ctx ends leaves neither node behind.
func TestSemaphoreLayout(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	admin := testkit.Connect(t, srv.Servers(), ns)
	sem := func(c *zkrecipes.Client) *lock.Semaphore {
		s, err := lock.NewSemaphore(c, "/sem", 2, lock.WithData([]byte("worker")))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ca, cb, cc := testkit.Connect(t, srv.Servers(), ns), testkit.Connect(t, srv.Servers(), ns), testkit.Connect(t, srv.Servers(), ns)
	a, err := sem(ca).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sem(cb).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !leaseNode.MatchString(name(a.Node())) || !strings.HasPrefix(a.Node(), "/sem/leases/") || a.Path() != "/sem" {
		t.Fatalf("lease node %s", a.Node())
	}
	if data, _, err := admin.Get(ctx, a.Node()); err != nil || string(data) != "worker" {
		t.Fatalf("lease data %q, %v", data, err)
	}
	if _, err := a.Multi(ctx); !errors.Is(err, lock.ErrInvalidOption) {
		t.Fatalf("Multi on a shared lease = %v", err)
	}
	if kids := waitChildren(t, admin, "/sem/locks", 0); len(kids) != 0 {
		t.Fatalf("P/locks holds %v while nobody waits", kids)
	}
	cres := semAsync(ctx, sem(cc))
	waitChildren(t, admin, "/sem/leases", 3)
	locks := waitChildren(t, admin, "/sem/locks", 1)
	if _, st, err := admin.Get(ctx, "/sem/locks/"+locks[0]); err != nil || st.EphemeralOwner != cc.SessionID() || !lockNode.MatchString(locks[0]) {
		t.Fatalf("P/locks node %s: %v", locks[0], err)
	}
	mustNotArrive(t, cres, "a third lease of two")
	release(t, a)
	c := await(t, cres, "the third lease")
	if c.err != nil {
		t.Fatal(c.err)
	}
	waitChildren(t, admin, "/sem/locks", 0)

	// A waiter whose ctx ends leaves no lease and no P/locks node.
	cd := testkit.Connect(t, srv.Servers(), ns)
	dctx, cancel := context.WithCancel(ctx)
	dres := semAsync(dctx, sem(cd))
	waitChildren(t, admin, "/sem/leases", 3)
	cancel()
	if d := await(t, dres, "the cancelled Acquire"); !errors.Is(d.err, context.Canceled) {
		t.Fatalf("cancelled Acquire = %v", d.err)
	}
	testkit.WaitNoNodeOf(t, ctx, admin, "/sem/leases", cd.SessionID())
	testkit.WaitNoNodeOf(t, ctx, admin, "/sem/locks", cd.SessionID())
	release(t, b)
	release(t, c.l)
	waitChildren(t, admin, "/sem/leases", 0)
}

// A semaphore of 3 leases shared by Java (InterProcessSemaphoreV2) and Go participants,
// three of each, every one taking a lease 8 times: the log they write while holding a
// lease never shows more than 3 holders at once.
func TestSemaphoreInteropNeverExceeds(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	peer := curatortest.Start(t, srv.ConnectString(), curatortest.WithNamespace(ns))
	ctx := testkit.Ctx(t)
	const leases, each, rounds, holdMs = 3, 3, 8, 30
	admin := testkit.Connect(t, srv.Servers(), ns)
	if err := admin.EnsurePath(ctx, "/log"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Create(ctx, "/log/keep", nil, zkrecipes.ModePersistent); err != nil { // keeps the container
		t.Fatal(err)
	}
	for i := 0; i < each; i++ {
		name := fmt.Sprintf("j%d", i)
		if err := peer.SemNew(ctx, name, "/sem", leases, ""); err != nil {
			t.Fatal(err)
		}
	}
	logEntry := func(c *zkrecipes.Client, what string) error {
		_, err := c.Create(ctx, "/log/e-", []byte(what), zkrecipes.ModePersistentSequential)
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, each)
	for i := 0; i < each; i++ {
		name := fmt.Sprintf("g%d", i)
		c := testkit.Connect(t, srv.Servers(), ns)
		s, err := lock.NewSemaphore(c, "/sem", leases)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for r := 0; r < rounds; r++ {
				l, err := s.Acquire(ctx)
				if err != nil {
					errs <- err
					return
				}
				err = logEntry(c, "start "+name)
				if err == nil {
					select {
					case <-time.After(holdMs * time.Millisecond): // holding, as the Java side does
					case <-l.Context().Done():
						err = context.Cause(l.Context())
					}
				}
				if err == nil {
					err = logEntry(c, "end "+name)
				}
				if rerr := l.Release(ctx); err == nil {
					err = rerr
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := 0; i < each; i++ {
		if err := peer.SemWork(ctx, fmt.Sprintf("j%d", i), rounds, holdMs, "/log"); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := 0; i < each; i++ {
		if err := peer.WaitSem(ctx, fmt.Sprintf("j%d", i), "done"); err != nil {
			t.Fatal(err)
		}
	}
	kids, _, err := admin.Children(ctx, "/log")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(kids) // e-<10 digits>: sequence order
	holders, most := map[string]bool{}, 0
	var entries []string
	for _, k := range kids {
		if k == "keep" {
			continue
		}
		data, _, err := admin.Get(ctx, "/log/"+k)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, string(data))
		what, who, _ := strings.Cut(string(data), " ")
		holders[who] = what == "start"
		n := 0
		for _, h := range holders {
			if h {
				n++
			}
		}
		if n > leases {
			t.Fatalf("%d holders at once after entry %s:\n%s", n, k, strings.Join(entries, "\n"))
		}
		most = max(most, n)
	}
	if len(entries) != 2*2*each*rounds {
		t.Fatalf("%d log entries, want %d", len(entries), 2*2*each*rounds)
	}
	t.Logf("at most %d holders at once (of %d leases), %d entries", most, leases, len(entries))
	if most < 2 {
		t.Fatalf("the participants never overlapped: the test proved little")
	}
}

// A shared count: the lease count comes from a SharedCount node (4 bytes, big-endian);
// Java's setCount wakes a Go waiter.
func TestSharedSemaphoreCount(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	peer := curatortest.Start(t, srv.ConnectString(), curatortest.WithNamespace(ns))
	ctx := testkit.Ctx(t)
	ca, cb := testkit.Connect(t, srv.Servers(), ns), testkit.Connect(t, srv.Servers(), ns)
	newShared := func(c *zkrecipes.Client) *lock.Semaphore {
		s, err := lock.NewSharedSemaphore(c, "/ssem", "/count")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if _, err := newShared(ca).Acquire(ctx); err == nil || !errors.Is(err, zk.ErrNoNode) {
		t.Fatalf("Acquire without the count node = %v, want ErrNoNode", err)
	}
	testkit.WaitNoNodeOf(t, ctx, ca, "/ssem/leases", ca.SessionID())
	if err := peer.CountSet(ctx, "/count", 1); err != nil {
		t.Fatal(err)
	}
	if data, _, err := ca.Get(ctx, "/count"); err != nil || string(data) != string(lock.EncodeSharedCount(1)) {
		t.Fatalf("count node %x, %v", data, err)
	}
	a, err := newShared(ca).Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bres := semAsync(ctx, newShared(cb))
	waitChildren(t, ca, "/ssem/leases", 2)
	mustNotArrive(t, bres, "a second lease with a count of 1")
	if err := peer.CountSet(ctx, "/count", 2); err != nil {
		t.Fatal(err)
	}
	b := await(t, bres, "the lease after setCount(2)")
	if b.err != nil {
		t.Fatal(b.err)
	}
	if data, _, _ := ca.Get(ctx, "/count"); fmt.Sprintf("%x", data) != "00000002" {
		t.Fatalf("count node %x", data)
	}
	release(t, a)
	release(t, b.l)
}

// SemaphoreMutex: Go (NewSemaphoreMutex) and Java (a semaphore of one lease) exclude each
// other and hand over both ways; the Go holder fences.
func TestSemaphoreMutexInteropWithCurator(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	peer := curatortest.Start(t, srv.ConnectString(), curatortest.WithNamespace(ns))
	ctx := testkit.Ctx(t)
	c := testkit.Connect(t, srv.Servers(), ns)
	smx, err := lock.NewSemaphoreMutex(c, "/smx")
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.SemNew(ctx, "j", "/smx", 1, ""); err != nil {
		t.Fatal(err)
	}
	g, err := smx.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Multi(ctx, &zk.CreateRequest{Path: "/fenced", Data: []byte("g")}); err != nil {
		t.Fatalf("guarded write under the semaphore mutex: %v", err)
	}
	if err := peer.SemAcquire(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	waitChildren(t, c, "/smx/leases", 2)
	release(t, g)
	if err := peer.WaitSem(ctx, "j", "acquired"); err != nil {
		t.Fatal(err)
	}
	gres := semAsync(ctx, smx)
	waitChildren(t, c, "/smx/leases", 2)
	mustNotArrive(t, gres, "the Go lease while Java holds")
	if err := peer.SemRelease(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	g2 := await(t, gres, "the Go lease")
	if g2.err != nil {
		t.Fatal(g2.err)
	}
	if g2.l.Token() <= g.Token() {
		t.Fatalf("token %#x after %#x", g2.l.Token(), g.Token())
	}
	release(t, g2.l)
	if _, err := lock.NewSemaphore(c, "/x", 0); !errors.Is(err, lock.ErrInvalidOption) {
		t.Fatalf("NewSemaphore with 0 leases = %v", err)
	}
	if _, err := lock.NewSemaphoreMutex(c, "/x", lock.WithRevocable()); !errors.Is(err, lock.ErrInvalidOption) {
		t.Fatalf("a revocable semaphore = %v", err)
	}
}

// TryAcquire takes a free lease at once, and otherwise returns ErrLocked at once, with
// its lease node and its P/locks node deleted before it returns: when every lease is
// held, when another participant waits for one (holding P/locks), and with a shared count
// that is used up.
func TestSemaphoreTryAcquire(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	ca, cb, cc := testkit.Connect(t, srv.Servers(), ns), testkit.Connect(t, srv.Servers(), ns), testkit.Connect(t, srv.Servers(), ns)
	sa, sb, sc := newSem(t, ca, "/sem", 2), newSem(t, cb, "/sem", 2), newSem(t, cc, "/sem", 2)
	noneOf := func(c *zkrecipes.Client, dirs ...string) {
		t.Helper()
		for _, dir := range dirs {
			kids, _, err := ca.Children(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range kids {
				if _, st, err := ca.Get(ctx, dir+"/"+k); err == nil && st.EphemeralOwner == c.SessionID() {
					t.Fatalf("a failed TryAcquire left %s/%s", dir, k)
				}
			}
		}
	}
	a, err := sa.TryAcquire(ctx)
	if err != nil {
		t.Fatalf("TryAcquire of a free semaphore: %v", err)
	}
	b, err := sb.TryAcquire(ctx)
	if err != nil {
		t.Fatalf("TryAcquire of the second lease: %v", err)
	}
	if !leaseNode.MatchString(name(b.Node())) || b.Context().Err() != nil {
		t.Fatalf("lease %s (%v)", b.Node(), context.Cause(b.Context()))
	}
	if l, err := sc.TryAcquire(ctx); !errors.Is(err, lock.ErrLocked) || l != nil {
		t.Fatalf("TryAcquire of a third lease of two = %v, %v", l, err)
	}
	noneOf(cc, "/sem/leases", "/sem/locks")
	if kids, _, err := ca.Children(ctx, "/sem/leases"); err != nil || len(kids) != 2 {
		t.Fatalf("leases %v, %v", kids, err)
	}

	// A waiter holds P/locks: a try is refused without waiting for it.
	res := semAsync(ctx, sc)
	waitChildren(t, ca, "/sem/locks", 1)
	waitChildren(t, ca, "/sem/leases", 3)
	cd := testkit.Connect(t, srv.Servers(), ns)
	if l, err := newSem(t, cd, "/sem", 2).TryAcquire(ctx); !errors.Is(err, lock.ErrLocked) || l != nil {
		t.Fatalf("TryAcquire while a participant waits = %v, %v", l, err)
	}
	noneOf(cd, "/sem/leases", "/sem/locks")
	release(t, a)
	c := await(t, res, "the waiter's lease")
	if c.err != nil {
		t.Fatal(c.err)
	}
	release(t, b)
	waitChildren(t, ca, "/sem/locks", 0)
	d, err := newSem(t, cd, "/sem", 2).TryAcquire(ctx)
	if err != nil {
		t.Fatalf("TryAcquire of a returned lease: %v", err)
	}
	release(t, c.l)
	release(t, d)
	waitChildren(t, ca, "/sem/leases", 0)

	// A shared count.
	if _, err := ca.Create(ctx, "/count", lock.EncodeSharedCount(1), zkrecipes.ModePersistent); err != nil {
		t.Fatal(err)
	}
	shared := func(c *zkrecipes.Client) *lock.Semaphore {
		s, err := lock.NewSharedSemaphore(c, "/ssem", "/count")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s1, err := shared(ca).TryAcquire(ctx)
	if err != nil {
		t.Fatalf("TryAcquire with a count of 1: %v", err)
	}
	if l, err := shared(cb).TryAcquire(ctx); !errors.Is(err, lock.ErrLocked) || l != nil {
		t.Fatalf("second TryAcquire with a count of 1 = %v, %v", l, err)
	}
	noneOf(cb, "/ssem/leases", "/ssem/locks")
	if _, err := ca.Set(ctx, "/count", lock.EncodeSharedCount(2), -1); err != nil {
		t.Fatal(err)
	}
	s2, err := shared(cb).TryAcquire(ctx)
	if err != nil {
		t.Fatalf("TryAcquire with a count of 2: %v", err)
	}
	release(t, s1)
	release(t, s2)
}

// A TryAcquire whose lease create reaches the server but loses its reply: the protected
// create finds its node again by its uuid, so the try counts exactly one lease of its
// own. With the lease taken, it is refused and that node is gone when it returns; with
// the lease free, it holds with that node and no second one.
func TestSemaphoreTryAcquireLostReply(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	fd := zktest.NewFaultDialer()
	ca := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(fd.Dial))
	cb := testkit.Connect(t, srv.Servers(), ns)
	isLease := func(op int32, p string) bool {
		return (op == zktest.OpCreate || op == zktest.OpCreate2) && strings.Contains(p, "/sem/leases/")
	}
	held := semAcquire(t, newSem(t, cb, "/sem", 1))
	sa := newSem(t, ca, "/sem", 1)
	lost := fd.LoseNextReply(isLease)
	if l, err := sa.TryAcquire(ctx); !errors.Is(err, lock.ErrLocked) || l != nil {
		t.Fatalf("TryAcquire of a taken lease, reply lost = %v, %v", l, err)
	}
	await(t, lost, "the lost reply")
	if kids, _, err := cb.Children(ctx, "/sem/leases"); err != nil || len(kids) != 1 || "/sem/leases/"+kids[0] != held.Node() {
		t.Fatalf("leases after the refused try: %v, %v", kids, err)
	}
	release(t, held)
	lost = fd.LoseNextReply(isLease)
	l, err := sa.TryAcquire(ctx)
	if err != nil {
		t.Fatalf("TryAcquire of a free lease, reply lost: %v", err)
	}
	await(t, lost, "the lost reply")
	if kids, _, err := cb.Children(ctx, "/sem/leases"); err != nil || len(kids) != 1 || "/sem/leases/"+kids[0] != l.Node() {
		t.Fatalf("leases after the try: %v, %v (holding %s)", kids, err, l.Node())
	}
	release(t, l)
	waitChildren(t, cb, "/sem/leases", 0)
}

// Go's TryAcquire sees the leases Java's InterProcessSemaphoreV2 (Curator 5.4) holds, and
// Java's waiter on P/locks, and its own lease counts for Java: with two leases held by
// Java it is refused (leaving no node), likewise while a Java participant waits; once a
// Java lease is returned it holds, and a Java acquire then waits for it.
func TestSemaphoreTryAcquireInteropWithCurator(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	peer := curatortest.Start(t, srv.ConnectString(), curatortest.WithNamespace(ns))
	ctx := testkit.Ctx(t)
	c := testkit.Connect(t, srv.Servers(), ns)
	sem := newSem(t, c, "/sem", 2)
	for _, j := range []string{"j1", "j2", "j3"} {
		if err := peer.SemNew(ctx, j, "/sem", 2, ""); err != nil {
			t.Fatal(err)
		}
	}
	javaAcquire := func(j string) {
		t.Helper()
		if err := peer.SemAcquire(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(what string) {
		t.Helper()
		if l, err := sem.TryAcquire(ctx); !errors.Is(err, lock.ErrLocked) || l != nil {
			t.Fatalf("TryAcquire %s = %v, %v", what, l, err)
		}
		for _, dir := range []string{"/sem/leases", "/sem/locks"} {
			kids, _, err := c.Children(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range kids {
				if _, st, err := c.Get(ctx, dir+"/"+k); err == nil && st.EphemeralOwner == c.SessionID() {
					t.Fatalf("TryAcquire %s left %s/%s", what, dir, k)
				}
			}
		}
	}
	for _, j := range []string{"j1", "j2"} {
		javaAcquire(j)
		if err := peer.WaitSem(ctx, j, "acquired"); err != nil {
			t.Fatal(err)
		}
	}
	refused("with both leases held by Java")
	if nodes, err := peer.SemLeases(ctx, "j1"); err != nil || len(nodes) != 2 {
		t.Fatalf("Java sees leases %v, %v", nodes, err)
	}
	javaAcquire("j3")
	waitChildren(t, c, "/sem/locks", 1)
	waitChildren(t, c, "/sem/leases", 3)
	refused("while a Java participant waits")
	if err := peer.SemRelease(ctx, "j1"); err != nil {
		t.Fatal(err)
	}
	if err := peer.WaitSem(ctx, "j3", "acquired"); err != nil {
		t.Fatal(err)
	}
	waitChildren(t, c, "/sem/locks", 0)
	refused("with j2 and j3 holding")
	if err := peer.SemRelease(ctx, "j2"); err != nil {
		t.Fatal(err)
	}
	g, err := sem.TryAcquire(ctx)
	if err != nil {
		t.Fatalf("TryAcquire of the lease j2 returned: %v", err)
	}
	nodes, err := peer.SemLeases(ctx, "j1")
	if err != nil || len(nodes) != 2 || !slices.Contains(nodes, name(g.Node())) {
		t.Fatalf("Java sees leases %v (%v), want the Go lease %s among 2", nodes, err, g.Node())
	}
	javaAcquire("j1")
	waitChildren(t, c, "/sem/leases", 3)
	waitChildren(t, c, "/sem/locks", 1)
	release(t, g)
	if err := peer.WaitSem(ctx, "j1", "acquired"); err != nil {
		t.Fatal(err)
	}
	for _, j := range []string{"j1", "j3"} {
		if err := peer.SemRelease(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	waitChildren(t, c, "/sem/leases", 0)
}
