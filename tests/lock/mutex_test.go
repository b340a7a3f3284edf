package lock_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/lock"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

var lockNode = regexp.MustCompile(`^_c_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}-lock-[0-9]{10}$`)

// The node a Mutex makes is InterProcessMutex's: a protected ephemeral sequential
// "lock-" node of the current session under the lock path, with Curator's data; the
// token is its czxid; Release deletes it and nothing else.
func TestMutexWireFormat(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	c := testkit.Connect(t, srv.Servers(), ns)
	ctx := testkit.Ctx(t)
	for _, tc := range []struct {
		name string
		opts []lock.Option
		data func([]byte) bool
	}{
		{"default data", nil, func(d []byte) bool { return len(d) > 0 }},
		{"with data", []lock.Option{lock.WithData([]byte("worker-7"))}, func(d []byte) bool { return string(d) == "worker-7" }},
		{"revocable", []lock.Option{lock.WithRevocable()}, func(d []byte) bool { return d != nil && len(d) == 0 }},
	} {
		path := "/locks/" + tc.name
		m := newMutex(t, c, path, tc.opts...)
		l := acquire(t, m)
		_, name := zkrecipes.SplitPath(l.Node())
		if !lockNode.MatchString(name) || l.Path() != path {
			t.Fatalf("%s: node %s under %s", tc.name, l.Node(), l.Path())
		}
		data, st, err := c.Get(ctx, l.Node())
		if err != nil {
			t.Fatal(err)
		}
		if st.EphemeralOwner != c.SessionID() || st.Czxid != l.Token() || !tc.data(data) {
			t.Fatalf("%s: data %q owner %#x czxid %#x token %#x", tc.name, data, st.EphemeralOwner, st.Czxid, l.Token())
		}
		if nodes, err := m.Nodes(ctx); err != nil || len(nodes) != 1 || nodes[0] != name {
			t.Fatalf("%s: Nodes = %v, %v", tc.name, nodes, err)
		}
		release(t, l)
		if ok, _, err := c.Exists(ctx, l.Node()); ok || err != nil {
			t.Fatalf("%s: node still there after Release (%v)", tc.name, err)
		}
		if ok, _, err := c.Exists(ctx, path); !ok || err != nil {
			t.Fatalf("%s: Release deleted the lock path too (%v)", tc.name, err)
		}
	}
}

// Contenders on separate sessions: never two holders with a live Context at once, each
// holder's token is higher than the previous one's, and every contender gets its turns.
func TestMutexExcludes(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	const contenders, rounds = 5, 8
	var holders atomic.Int32
	var mu sync.Mutex
	var tokens []int64
	var wg sync.WaitGroup
	errs := make(chan error, contenders)
	for i := 0; i < contenders; i++ {
		m := newMutex(t, testkit.Connect(t, srv.Servers(), ns), "/l")
		wg.Go(func() {
			ctx := testkit.Ctx(t)
			for r := 0; r < rounds; r++ {
				l, err := m.Acquire(ctx)
				if err != nil {
					errs <- err
					return
				}
				if n := holders.Add(1); n != 1 {
					errs <- fmt.Errorf("%d holders at once", n)
				}
				mu.Lock()
				tokens = append(tokens, l.Token())
				mu.Unlock()
				if l.Context().Err() != nil {
					errs <- fmt.Errorf("context ended while holding: %v", context.Cause(l.Context()))
				}
				holders.Add(-1)
				if err := l.Release(ctx); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(tokens) != contenders*rounds {
		t.Fatalf("%d acquisitions, want %d", len(tokens), contenders*rounds)
	}
	for i := 1; i < len(tokens); i++ {
		if tokens[i] <= tokens[i-1] {
			t.Fatalf("token %d (%#x) not above the previous holder's (%#x)", i, tokens[i], tokens[i-1])
		}
	}
}

// TryAcquire: while another holds the lock it fails with ErrLocked and has deleted its
// node before returning; once the lock is free it acquires.
func TestMutexTryAcquire(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ca, cb := testkit.Connect(t, srv.Servers(), ns), testkit.Connect(t, srv.Servers(), ns)
	ctx := testkit.Ctx(t)
	a := acquire(t, newMutex(t, ca, "/l"))
	mb := newMutex(t, cb, "/l")
	for i := 0; i < 3; i++ {
		if l, err := mb.TryAcquire(ctx); !errors.Is(err, lock.ErrLocked) || l != nil {
			t.Fatalf("TryAcquire while held = %v, %v", l, err)
		}
		if kids, _, err := ca.Children(ctx, "/l"); err != nil || len(kids) != 1 {
			t.Fatalf("children after a failed TryAcquire: %v, %v", kids, err)
		}
	}
	release(t, a)
	b, err := mb.TryAcquire(ctx)
	if err != nil {
		t.Fatalf("TryAcquire of a free lock: %v", err)
	}
	if b.Token() <= a.Token() {
		t.Fatalf("token %#x after %#x", b.Token(), a.Token())
	}
	release(t, b)
}

// An Acquire whose ctx ends while it waits leaves no node behind, and the holder is not
// disturbed.
func TestMutexAcquireCancelledLeavesNoNode(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ca, cb := testkit.Connect(t, srv.Servers(), ns), testkit.Connect(t, srv.Servers(), ns)
	a := acquire(t, newMutex(t, ca, "/l"))
	ctx, cancel := context.WithCancel(testkit.Ctx(t))
	res := acquireAsync(ctx, newMutex(t, cb, "/l"))
	waitChildren(t, ca, "/l", 2)
	cancel()
	r := await(t, res, "the cancelled Acquire")
	if !errors.Is(r.err, context.Canceled) || r.l != nil {
		t.Fatalf("cancelled Acquire = %v, %v", r.l, r.err)
	}
	testkit.WaitNoNodeOf(t, testkit.Ctx(t), ca, "/l", cb.SessionID())
	if err := a.Context().Err(); err != nil {
		t.Fatalf("the holder's context ended: %v", context.Cause(a.Context()))
	}
	if kids := waitChildren(t, ca, "/l", 1); "/l/"+kids[0] != a.Node() {
		t.Fatalf("children %v, want only %s", kids, a.Node())
	}
}

// Release cancels the Context with ErrReleased, is idempotent, and ends fencing.
func TestMutexReleaseEndsHold(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	c := testkit.Connect(t, srv.Servers(), ns)
	ctx := testkit.Ctx(t)
	if _, err := c.Create(ctx, "/data", []byte("0"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	l := acquire(t, newMutex(t, c, "/l"))
	if _, err := l.Multi(ctx, &zk.SetDataRequest{Path: "/data", Data: []byte("1"), Version: -1}); err != nil {
		t.Fatalf("guarded write while holding: %v", err)
	}
	release(t, l)
	if cause := context.Cause(l.Context()); !errors.Is(cause, lock.ErrReleased) {
		t.Fatalf("cause after Release: %v", cause)
	}
	release(t, l)
	if _, err := l.Multi(ctx, &zk.SetDataRequest{Path: "/data", Data: []byte("2"), Version: -1}); !errors.Is(err, lock.ErrNotHeld) {
		t.Fatalf("guarded write after Release = %v, want ErrNotHeld", err)
	}
	if data, _, _ := c.Get(ctx, "/data"); string(data) != "1" {
		t.Fatalf("/data = %q", data)
	}
}

// Someone deletes the holder's node: its Context ends (node deleted), its guarded
// writes fail, the next contender acquires, and Release still succeeds.
func TestMutexOwnNodeDeleted(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ca, cb, admin := testkit.Connect(t, srv.Servers(), ns), testkit.Connect(t, srv.Servers(), ns), testkit.Connect(t, srv.Servers(), ns)
	ctx := testkit.Ctx(t)
	a := acquire(t, newMutex(t, ca, "/l"))
	res := acquireAsync(ctx, newMutex(t, cb, "/l"))
	waitChildren(t, admin, "/l", 2)
	if err := admin.Delete(ctx, a.Node(), -1); err != nil {
		t.Fatal(err)
	}
	if cause := waitDone(t, a.Context(), "the deposed holder's context"); !errors.Is(cause, lock.ErrLockLost) {
		t.Fatalf("cause = %v", cause)
	}
	if _, err := a.Multi(ctx, &zk.CreateRequest{Path: "/late", Data: []byte("a")}); !errors.Is(err, lock.ErrNotHeld) {
		t.Fatalf("deposed holder's guarded write = %v", err)
	}
	b := await(t, res, "b's Acquire")
	if b.err != nil {
		t.Fatal(b.err)
	}
	release(t, a)
	release(t, b.l)
}

// Revocation between Go holders: a revocable holder's Context ends with ErrRevoked when
// asked, and releasing hands over; a holder that did not ask ignores the request.
func TestMutexRevokeGo(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ca, cb := testkit.Connect(t, srv.Servers(), ns), testkit.Connect(t, srv.Servers(), ns)
	ctx := testkit.Ctx(t)
	a := acquire(t, newMutex(t, ca, "/l", lock.WithRevocable()))
	res := acquireAsync(ctx, newMutex(t, cb, "/l"))
	waitChildren(t, cb, "/l", 2)
	if err := lock.Revoke(ctx, cb, a.Node()); err != nil {
		t.Fatal(err)
	}
	if cause := waitDone(t, a.Context(), "the revoked holder's context"); !errors.Is(cause, lock.ErrRevoked) {
		t.Fatalf("cause = %v", cause)
	}
	if data, _, err := cb.Get(ctx, a.Node()); err != nil || string(data) != "__REVOKE__" {
		t.Fatalf("revoked node: %q %v", data, err)
	}
	release(t, a)
	b := await(t, res, "b's Acquire")
	if b.err != nil {
		t.Fatal(b.err)
	}
	// b did not ask for revocation: a request changes nothing; only the deletion of its
	// node ends its Context (the first cause would stay).
	if err := lock.Revoke(ctx, ca, b.l.Node()); err != nil {
		t.Fatal(err)
	}
	if err := ca.Delete(ctx, b.l.Node(), -1); err != nil {
		t.Fatal(err)
	}
	if cause := waitDone(t, b.l.Context(), "b's context"); errors.Is(cause, lock.ErrRevoked) || !errors.Is(cause, lock.ErrLockLost) {
		t.Fatalf("non-revocable holder's cause = %v", cause)
	}
	release(t, b.l)
	if err := lock.Revoke(ctx, ca, b.l.Node()); err != nil {
		t.Fatalf("revoking a gone node: %v", err)
	}
}

// Closing the client ends a held lock's Context with ErrLockLost and zkrecipes.ErrClosed,
// and a later Acquire on it fails at once.
func TestMutexClientClosed(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	c := testkit.Connect(t, srv.Servers(), ns)
	m := newMutex(t, c, "/l")
	l := acquire(t, m)
	if err := c.Close(testkit.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	cause := waitDone(t, l.Context(), "the context at Close")
	if !errors.Is(cause, lock.ErrLockLost) || !errors.Is(cause, zkrecipes.ErrClosed) {
		t.Fatalf("cause = %v", cause)
	}
	if _, err := m.Acquire(testkit.Ctx(t)); !errors.Is(err, zkrecipes.ErrClosed) {
		t.Fatalf("Acquire on a closed client = %v", err)
	}
	release(t, l)
	if _, err := lock.NewMutex(c, "/l"); !errors.Is(err, zkrecipes.ErrClosed) {
		t.Fatalf("NewMutex on a closed client = %v", err)
	}
}

// One goroutine per held lock (the Client's state listener is shared), none after
// Release.
func TestMutexGoroutines(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	c := testkit.Connect(t, srv.Servers(), ns)
	ctx := context.Background() // no Done channel: calls run on the caller's goroutine
	anchor := acquire(t, newMutex(t, c, "/anchor"))
	_ = anchor
	base := runtime.NumGoroutine()
	const n = 20
	locks := make([]*lock.Lock, n)
	for i := range locks {
		l, err := newMutex(t, c, fmt.Sprintf("/l%d", i)).Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		locks[i] = l
	}
	held := runtime.NumGoroutine()
	for _, l := range locks {
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	after := runtime.NumGoroutine()
	t.Logf("goroutines: %d before, %d with %d more locks held (%.2f per lock), %d after Release", base, held, n, float64(held-base)/n, after)
	if held-base > 2*n {
		t.Fatalf("%d goroutines for %d held locks", held-base, n)
	}
	if after > base {
		t.Fatalf("%d goroutines after Release, %d before", after, base)
	}
}

// Options and arguments are checked up front, all at once.
func TestNewMutexValidation(t *testing.T) {
	srv := zktest.Start(t)
	c := testkit.Connect(t, srv.Servers(), testkit.Namespace(t))
	_, err := lock.NewMutex(c, "/", lock.WithData([]byte("__REVOKE__")), lock.WithErrorPolicy(7))
	if !errors.Is(err, lock.ErrInvalidOption) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"root", "revoke", "policy"} {
		if !regexp.MustCompile(want).MatchString(err.Error()) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := lock.NewMutex(nil, "bad"); !errors.Is(err, lock.ErrInvalidOption) {
		t.Fatalf("err = %v", err)
	}
}
