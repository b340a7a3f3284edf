package shared_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/retry"
	"github.com/zkrecipes/zkrecipes/shared"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

func startCount(t testing.TB, c *zkrecipes.Client, path string, seed int32) *shared.Count {
	t.Helper()
	n, err := shared.NewCount(c, path, seed)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(testkit.Ctx(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	testkit.CloseAtEnd(t, n)
	return n
}

// increment adds 1 to n's value times times by Get and TrySet, trying again after each
// TrySet that loses a race; it stops at the first error, which it reports with t.Error.
func increment(t testing.TB, ctx context.Context, n *shared.Count, times int) {
	t.Helper()
	for done := 0; done < times; {
		v, err := n.Get()
		if err != nil {
			t.Error(err)
			return
		}
		ok, err := n.TrySet(ctx, v, v.Value+1)
		if err != nil {
			t.Error(err)
			return
		}
		if ok {
			done++
		}
	}
}

// The count node is a PERSISTENT node holding 4 big-endian bytes under container
// parents, and a later starter's seed never overwrites it.
func TestCountLayoutAndSeed(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	a := testkit.Connect(t, srv.Servers(), ns)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	c1 := startCount(t, a, "/counters/x", 7)
	if v, err := c1.Get(); err != nil || v.Value != 7 || v.Version != 0 {
		t.Fatalf("Get = %+v, %v; want 7 at version 0", v, err)
	}
	data, st, err := raw.Get("/" + ns + "/counters/x")
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(data) != "00000007" || st.EphemeralOwner != 0 {
		t.Errorf("node holds %x owner %x, want 00000007 persistent", data, st.EphemeralOwner)
	}
	b := testkit.Connect(t, srv.Servers(), ns)
	c2 := startCount(t, b, "/counters/x", 99)
	if v, err := c2.Get(); err != nil || v.Value != 7 {
		t.Errorf("second starter: Get = %+v, %v; want the existing 7", v, err)
	}
}

// TrySet with a stale version returns false without writing; with the current version
// it writes and moves the version; the other process's copy follows by watch, and its
// listener hears the new value.
func TestCountTrySetAndListen(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	a := testkit.Connect(t, srv.Servers(), ns)
	b := testkit.Connect(t, srv.Servers(), ns)
	ca := startCount(t, a, "/c", 0)
	cb := startCount(t, b, "/c", 0)
	heard := make(chan shared.Versioned[int32], 16)
	stop := cb.Listen(func(n shared.Versioned[int32], err error) {
		if err != nil {
			t.Errorf("listener: %v", err)
		}
		heard <- n
	})
	defer stop()

	v, _ := ca.Get()
	if ok, err := ca.TrySet(ctx, v, 5); !ok || err != nil {
		t.Fatalf("TrySet(current) = %v, %v", ok, err)
	}
	if got, _ := ca.Get(); got.Value != 5 || got.Version != 1 {
		t.Fatalf("after TrySet: %+v, want 5 at version 1", got)
	}
	if ok, err := ca.TrySet(ctx, v, 6); ok || err != nil {
		t.Fatalf("TrySet(stale version 0) = %v, %v; want false, nil", ok, err)
	}
	select {
	case n := <-heard:
		if n.Value != 5 || n.Version != 1 {
			t.Errorf("listener heard %+v, want 5 at version 1", n)
		}
	case <-time.After(testkit.Patience):
		t.Fatal("the other process's listener heard nothing")
	}
	// b's copy may lag; a TrySet from a stale copy loses and refreshes it.
	stale := shared.Versioned[int32]{Value: 0, Version: 0}
	if ok, _ := cb.TrySet(ctx, stale, 9); ok {
		t.Fatal("TrySet from version 0 succeeded after version 1 was written")
	}
	if err := cb.Set(ctx, 11); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case n := <-heard:
			if n.Value == 11 {
				return
			}
		case <-time.After(testkit.Patience):
			t.Fatal("listener did not hear the Set")
		}
	}
}

// Contenders doing Get + TrySet loops lose no increment.
func TestCountContention(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	const workers, each = 4, 25
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		c := testkit.Connect(t, srv.Servers(), ns)
		n := startCount(t, c, "/hot", 0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			increment(t, ctx, n, each)
		}()
	}
	wg.Wait()
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	data, _, err := raw.Get("/" + ns + "/hot")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := shared.DecodeCount("/hot", data); got != workers*each {
		t.Errorf("count = %d, want %d", got, workers*each)
	}
}

// A count node holding 3 bytes, or text written by someone else, gives an error naming
// the path and what was found, in Get and in listeners; TrySet does not build on it.
func TestCountMalformed(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	a := testkit.Connect(t, srv.Servers(), ns)
	if _, err := a.Create(ctx, "/bad", []byte{1, 2, 3}, zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	c := startCount(t, a, "/bad", 0)
	_, err := c.Get()
	if !errors.Is(err, shared.ErrMalformed) || !strings.Contains(err.Error(), "/bad") || !strings.Contains(err.Error(), "0x010203") {
		t.Fatalf("Get on 3 bytes: %v; want ErrMalformed naming /bad and 0x010203", err)
	}
	heard := make(chan error, 4)
	defer c.Listen(func(_ shared.Versioned[int32], err error) { heard <- err })()
	if _, err := a.Set(ctx, "/bad", []byte("forty-two"), -1); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-heard:
		if !errors.Is(err, shared.ErrMalformed) || !strings.Contains(err.Error(), `"forty-two"`) {
			t.Errorf("listener: %v; want ErrMalformed showing the text", err)
		}
	case <-time.After(testkit.Patience):
		t.Fatal("listener heard nothing")
	}
	al, _ := shared.NewAtomicLong(a, "/bad")
	if _, err := al.Increment(ctx); !errors.Is(err, shared.ErrMalformed) {
		t.Errorf("Increment on text: %v; want ErrMalformed", err)
	}
	data, _, _ := a.Get(ctx, "/bad")
	if string(data) != "forty-two" {
		t.Errorf("the malformed node was overwritten: %q", data)
	}
}

// DistributedAtomicLong's operations in Curator's layout.
func TestAtomicLong(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	a := testkit.Connect(t, srv.Servers(), ns)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	al, err := shared.NewAtomicLong(a, "/dal/x")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := al.Get(ctx); err != nil || v != (shared.AtomicValue{Succeeded: true}) {
		t.Fatalf("Get on missing = %+v, %v", v, err)
	}
	if v, err := al.Increment(ctx); err != nil || v != (shared.AtomicValue{Succeeded: true, PreValue: 0, PostValue: 1}) {
		t.Fatalf("Increment on missing = %+v, %v", v, err)
	}
	if data, st, err := raw.Get("/" + ns + "/dal/x"); err != nil || hex.EncodeToString(data) != "0000000000000001" || st.EphemeralOwner != 0 {
		t.Fatalf("node = %x, %v", data, err)
	}
	if v, err := al.Add(ctx, -43); err != nil || v.PostValue != -42 || v.PreValue != 1 {
		t.Fatalf("Add(-43) = %+v, %v", v, err)
	}
	if data, _, _ := raw.Get("/" + ns + "/dal/x"); hex.EncodeToString(data) != "ffffffffffffffd6" {
		t.Errorf("after Add(-43) node = %x, want ffffffffffffffd6", data)
	}
	if v, err := al.CompareAndSet(ctx, 5, 6); err != nil || v.Succeeded || v.PreValue != -42 {
		t.Errorf("CompareAndSet(wrong) = %+v, %v", v, err)
	}
	if v, err := al.CompareAndSet(ctx, -42, 100); err != nil || !v.Succeeded || v.PostValue != 100 {
		t.Errorf("CompareAndSet(right) = %+v, %v", v, err)
	}
	if v, err := al.TrySet(ctx, 7); err != nil || !v.Succeeded || v.PreValue != 100 || v.PostValue != 7 {
		t.Errorf("TrySet = %+v, %v", v, err)
	}
	if v, err := al.Decrement(ctx); err != nil || v.PostValue != 6 {
		t.Errorf("Decrement = %+v, %v", v, err)
	}
	if err := al.ForceSet(ctx, 1<<40); err != nil {
		t.Fatal(err)
	}
	if v, _ := al.Get(ctx); v.PostValue != 1<<40 {
		t.Errorf("after ForceSet: %+v", v)
	}
	if ok, err := al.Initialize(ctx, 3); ok || err != nil {
		t.Errorf("Initialize on existing = %v, %v; want false", ok, err)
	}
	other, _ := shared.NewAtomicLong(a, "/dal/fresh/y")
	if ok, err := other.Initialize(ctx, 3); !ok || err != nil {
		t.Errorf("Initialize on missing = %v, %v; want true", ok, err)
	}
	if v, err := other.CompareAndSet(ctx, 0, 1); err != nil || v.Succeeded {
		t.Errorf("CompareAndSet(0) on 3 = %+v, %v", v, err)
	}
	missing, _ := shared.NewAtomicLong(a, "/dal/none")
	if v, err := missing.CompareAndSet(ctx, 0, 1); err != nil || v.Succeeded {
		t.Errorf("CompareAndSet on a missing node = %+v, %v; want no success (not created)", v, err)
	}
	if ok, _, _ := raw.Exists("/" + ns + "/dal/none"); ok {
		t.Error("CompareAndSet created the node")
	}
	// Empty data reads as 0, as in Curator.
	if _, err := a.Create(ctx, "/dal/empty", nil, zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	empty, _ := shared.NewAtomicLong(a, "/dal/empty")
	if v, err := empty.Increment(ctx); err != nil || v.PreValue != 0 || v.PostValue != 1 {
		t.Errorf("Increment on empty = %+v, %v", v, err)
	}
}

// Contending increments end at the exact sum.
func TestAtomicLongContention(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	const workers, each = 4, 25
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		c := testkit.Connect(t, srv.Servers(), ns)
		al, _ := shared.NewAtomicLong(c, "/sum", shared.WithRetryPolicy(retry.Forever(time.Millisecond)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				v, err := al.Increment(ctx)
				if err != nil || !v.Succeeded {
					t.Errorf("Increment = %+v, %v", v, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	c := testkit.Connect(t, srv.Servers(), ns)
	al, _ := shared.NewAtomicLong(c, "/sum")
	if v, _ := al.Get(ctx); v.PostValue != workers*each {
		t.Errorf("sum = %d, want %d", v.PostValue, workers*each)
	}
}

// A TrySet whose reply is lost (the server applied it) is reported as unknown, never as
// success, and applied exactly once.
func TestTrySetLostReply(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	fd := zktest.NewFaultDialer()
	a := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(fd.Dial))
	c := startCount(t, a, "/c", 10)
	v, _ := c.Get()
	lost := fd.LoseNextReply(func(op int32, p string) bool { return op == zktest.OpSetData && strings.HasSuffix(p, "/c") })
	ok, err := c.TrySet(ctx, v, 11)
	select {
	case <-lost:
	default:
		t.Fatal("no reply was lost")
	}
	if ok || !errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
		t.Fatalf("TrySet with a lost reply = %v, %v; want false and ErrOutcomeUnknown", ok, err)
	}
	<-zkrecipes.Settled(err)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	data, st, err := raw.Get("/" + ns + "/c")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := shared.DecodeCount("/c", data); n != 11 || st.Version != 1 {
		t.Errorf("node = %d at version %d; want 11 at version 1 (applied once)", n, st.Version)
	}
}

// An increment whose reply is lost is reported as unknown and applied once, never twice
// (Curator 5.4 would retry it).
func TestIncrementLostReply(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	fd := zktest.NewFaultDialer()
	a := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(fd.Dial))
	al, _ := shared.NewAtomicLong(a, "/n")
	if err := al.ForceSet(ctx, 41); err != nil {
		t.Fatal(err)
	}
	for _, op := range []int32{zktest.OpSetData, zktest.OpMulti} {
		if op == zktest.OpMulti {
			// The create of a missing node goes through a transaction.
			if err := a.Delete(ctx, "/n", -1); err != nil {
				t.Fatal(err)
			}
		}
		before, _ := al.Get(ctx)
		lost := fd.LoseNextReply(func(o int32, p string) bool { return o == op })
		v, err := al.Increment(ctx)
		select {
		case <-lost:
		default:
			t.Fatalf("op %d: no reply was lost", op)
		}
		if v.Succeeded || !errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
			t.Fatalf("op %d: Increment with a lost reply = %+v, %v; want no success and ErrOutcomeUnknown", op, v, err)
		}
		<-zkrecipes.Settled(err)
		after, err := al.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after.PostValue != before.PostValue+1 {
			t.Errorf("op %d: value %d after %d; want applied exactly once", op, after.PostValue, before.PostValue)
		}
	}
}

// Value's local copy follows a node deleted and created again by someone else, and
// reads again after a new session.
func TestValueFollowsRecreateAndNewSession(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	fd := zktest.NewFaultDialer()
	a := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(fd.Dial))
	b := testkit.Connect(t, srv.Servers(), ns)
	v, err := shared.NewValue(a, "/v", []byte("seed"))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Start(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.CloseAtEnd(t, v)
	heard := make(chan []byte, 16)
	defer v.Listen(func(x shared.Versioned[[]byte]) { heard <- x.Value })()
	await := func(want string) {
		t.Helper()
		for {
			select {
			case got := <-heard:
				if string(got) == want {
					return
				}
			case <-time.After(testkit.Patience):
				t.Fatalf("local copy never became %q (now %q)", want, v.Get().Value)
			}
		}
	}
	if err := b.Delete(ctx, "/v", -1); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(ctx, "/v", []byte("again"), zkrecipes.ModePersistent); err != nil {
		t.Fatal(err)
	}
	await("again")
	if got := v.Get(); got.Version != 0 {
		t.Errorf("version after re-create = %d, want 0", got.Version)
	}

	// Cut a's connection until the server expires its session, change the node
	// meanwhile (from the probe's watch, before the heal), and heal: the new session
	// reads the node again.
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	testkit.ExpireSession(t, a, fd, raw, func() {
		if _, err := raw.Set("/"+ns+"/v", []byte("while away"), -1); err != nil {
			t.Fatal(err)
		}
	})
	await("while away")
	if !bytes.Equal(v.Get().Value, []byte("while away")) {
		t.Error("Get disagrees with the listener")
	}
}
