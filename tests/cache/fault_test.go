package cache_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/cache"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// opCounter counts the Client's operations by name (through Hooks.Operation).
type opCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *opCounter) hook(_ context.Context, ev zkrecipes.OperationEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[ev.Op]++
}

func (o *opCounter) take() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := o.n
	o.n = nil
	return n
}

// faultTree creates /f with 5 parents of 4 children each.
func faultTree(w writer) {
	var paths []string
	paths = append(paths, "/f")
	for i := 0; i < 5; i++ {
		paths = append(paths, fmt.Sprintf("/f/p%d", i))
		for j := 0; j < 4; j++ {
			paths = append(paths, fmt.Sprintf("/f/p%d/c%d", i, j))
		}
	}
	w.createMany(paths, func(p string) string { return "v0" })
}

// changeWhileAway changes the tree the same way in both fault tests: one data change, one
// subtree deleted, one znode created under an existing parent and one new subtree.
func changeWhileAway(w writer) {
	w.set("/f/p0/c0", "v1")
	w.deleteAll("/f/p1")
	w.create("/f/p2/c9", "new")
	w.create("/f/q/x", "x")
}

var wantAfterChanges = []string{
	"NodeChanged /f/p0/c0 v0>v1",
	"NodeDeleted /f/p1/c0=v0", "NodeDeleted /f/p1/c1=v0", "NodeDeleted /f/p1/c2=v0", "NodeDeleted /f/p1/c3=v0", "NodeDeleted /f/p1=v0",
	"NodeCreated /f/p2/c9=new",
	"NodeCreated /f/q=", "NodeCreated /f/q/x=x",
}

// A connection cut shorter than the session timeout: the session, and with it every
// watch, survives; go-zk re-registers the watches on the new connection and the server
// reports what changed meanwhile. The cache ends up equal to the server, with exactly the
// events of the changes, no Resynced, no re-reading of unchanged znodes, and exactly its
// watches.
func TestShortCut(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	w := writer{t, connect(t, srv, ns)}
	faultTree(w)
	fd := zktest.NewFaultDialer()
	var ops opCounter
	cl := connect(t, srv, ns, zkrecipes.WithDialer(fd.Dial), zkrecipes.WithHooks(zkrecipes.Hooks{Operation: ops.hook}))
	c, rec := startCache(t, cl, "/f", cache.String)
	session := cl.SessionID()
	ops.take()

	from := rec.Len()
	fd.Cut()
	rec.waitFor(t, from, "SUSPENDED", isState[string](zkrecipes.StateSuspended))
	changeWhileAway(w)
	fd.Heal()
	i := rec.waitFor(t, from, "RECONNECTED", isState[string](zkrecipes.StateReconnected))
	if ev := rec.All()[i]; ev.State.NewSession || cl.SessionID() != session {
		t.Fatalf("the session did not survive a short cut: %s", line(ev))
	}
	tree := serverTree(t, w.c, "/f", -1)
	checkContent(t, c, "after the cut", tree)
	evs := rec.All()[from:]
	for _, ev := range evs {
		if ev.Type == cache.Resynced || ev.Type == cache.Error {
			t.Errorf("unexpected %s", line(ev))
		}
	}
	if got := nodeEvents(evs); !sameSet(got, wantAfterChanges) {
		t.Errorf("events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantAfterChanges, "\n"))
	}
	// Reads: the changed znode, the new ones (data and children), the parents whose
	// children changed; nothing else.
	n := ops.take()
	if n["getw"] != 4 || n["existsw"] != 0 {
		t.Errorf("reads after the cut: %v; want 4 getw (c0, c9, q, q/x) and no existsw", n)
	}
	checkWatches(t, srv, "after the cut", map[int64]watchSet{session: expectedWatches(ns, "/f", tree, -1)})
}

// A cut longer than the session timeout: the server expires the session, go-zk opens a
// new one, and the cache, told RECONNECTED with NewSession, re-arms every watch and
// re-reads only what may have changed: an exists call (no data) per znode still there,
// whose stat says whether to read it; a listing per parent. Then Resynced. The events
// between are exactly the changes made while it was away; the new session holds exactly
// the cache's watches and the old one none.
func TestSessionExpiryResync(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	w := writer{t, connect(t, srv, ns)}
	faultTree(w)
	fd := zktest.NewFaultDialer()
	var ops opCounter
	cl := connect(t, srv, ns, zkrecipes.WithDialer(fd.Dial), zkrecipes.WithSessionTimeout(1600*time.Millisecond),
		zkrecipes.WithHooks(zkrecipes.Hooks{Operation: ops.hook}))
	c, rec := startCache(t, cl, "/f", cache.String)
	oldSession := cl.SessionID()
	// The client's LOST timer can run out before the server expires the session; an
	// ephemeral of the cache's session tells when the server has.
	ctx := testkit.Ctx(t)
	if _, err := cl.Create(ctx, "/expiry-marker", nil, zkrecipes.ModeEphemeral); err != nil {
		t.Fatal(err)
	}
	_, _, expired, err := w.c.ExistsW(ctx, "/expiry-marker")
	if err != nil {
		t.Fatal(err)
	}
	ops.take()

	from := rec.Len()
	fd.Cut()
	rec.waitFor(t, from, "LOST", isState[string](zkrecipes.StateLost))
	select {
	case <-expired:
	case <-ctx.Done():
		t.Fatal("the server never expired the session")
	}
	changeWhileAway(w)
	if got := cacheTree(c); len(got) != 26 {
		t.Errorf("cache cleared on LOST: %d znodes", len(got))
	}
	fd.Heal()
	i := rec.waitFor(t, from, "RECONNECTED", isState[string](zkrecipes.StateReconnected))
	if ev := rec.All()[i]; !ev.State.NewSession || cl.SessionID() == oldSession {
		t.Fatalf("no new session: %s", line(ev))
	}
	rec.waitFor(t, i, "Resynced", isType[string](cache.Resynced))
	tree := serverTree(t, w.c, "/f", -1)
	checkContent(t, c, "after the resync", tree)
	evs := rec.All()[from:]
	if got := nodeEvents(evs); !sameSet(got, wantAfterChanges) {
		t.Errorf("events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantAfterChanges, "\n"))
	}
	// The resync: 21 znodes left of the 26 cached (p1 and its 4 children went), each
	// re-armed by an exists call and listed; 1 of them changed (read); 3 new znodes read
	// and listed (p2/c9, q, q/x). The znodes deleted meanwhile were asked nothing: their
	// parents' listings dropped them first.
	n := ops.take()
	if n["existsw"] != 21 || n["getw"] != 4 || n["childrenw"] != 21+3 {
		t.Errorf("reads of the resync: %v; want 21 existsw, 4 getw, 24 childrenw", n)
	}
	checkWatches(t, srv, "after the resync", map[int64]watchSet{
		cl.SessionID(): expectedWatches(ns, "/f", tree, -1),
		oldSession:     {},
	})
}

// go-zk's own loop wedges under the cache's client (its reads never return): the watchdog
// replaces the go-zk connection, resuming the session on a new one. The watches of the old
// connection are gone, so the RECONNECTED says WatchesLost and the cache resyncs as after
// a new session: the events are exactly the changes made while it was cut off, the cache
// equals the server, and the session holds exactly the cache's watches (the server dropped
// the old connection's). A change made after it reaches the cache.
func TestWedgedLoopResync(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	w := writer{t, connect(t, srv, ns)}
	faultTree(w)
	fz := zktest.NewFreezer()
	cl := connect(t, srv, ns, zkrecipes.WithDialer(fz.Dial), zkrecipes.WithSessionTimeout(2*time.Second))
	t.Cleanup(fz.Unfreeze) // before the Client's Close
	c, rec := startCache(t, cl, "/f", cache.String)
	session := cl.SessionID()
	ctx := testkit.Ctx(t)

	from := rec.Len()
	fz.Wedge(t, false)
	changeWhileAway(w) // the cache's client hears none of it
	// A call that waits on the wedged loop; the watchdog replaces the go-zk connection.
	if _, _, err := cl.Children(ctx, "/f"); err != nil {
		t.Fatal(err)
	}
	i := rec.waitFor(t, from, "RECONNECTED", isState[string](zkrecipes.StateReconnected))
	if ev := rec.All()[i]; ev.State.NewSession || !ev.State.WatchesLost || cl.SessionID() != session {
		t.Fatalf("want the session resumed with its watches lost: %s (session %#x, had %#x)", line(ev), cl.SessionID(), session)
	}
	rec.waitFor(t, i, "Resynced", isType[string](cache.Resynced))
	tree := serverTree(t, w.c, "/f", -1)
	checkContent(t, c, "after the resync", tree)
	if got := nodeEvents(rec.All()[from:]); !sameSet(got, wantAfterChanges) {
		t.Errorf("events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantAfterChanges, "\n"))
	}
	checkWatches(t, srv, "after the resync", map[int64]watchSet{session: expectedWatches(ns, "/f", tree, -1)})

	from = rec.Len()
	w.set("/f/p0/c1", "after")
	rec.waitFor(t, from, "the change after the replacement", func(ev cache.Event[string]) bool {
		return ev.Type == cache.NodeChanged && ev.Path == "/f/p0/c1"
	})
}
