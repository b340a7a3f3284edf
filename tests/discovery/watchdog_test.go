package discovery_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// A registering client's connection wedges (pings answered, replies and watch events
// swallowed) while a call is pending: the watchdog replaces the connection within the
// session, the registration stays (same session, same node) and the client's own cache
// catches up with an instance registered by another client during the wedge.
func TestDiscoveryRecoversAfterWatchdog(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	fd := zktest.NewFaultDialer()
	var fired atomic.Int64
	a := connect(t, srv, ns, zkrecipes.WithDialer(fd.Dial), zkrecipes.WithSessionTimeout(2*time.Second),
		zkrecipes.WithHooks(zkrecipes.Hooks{Watchdog: func(context.Context, zkrecipes.WatchdogEvent) { fired.Add(1) }}))
	states := logStates(t, a)
	da := newDiscovery(t, a)
	mine := mustInstance(t, "svc", false)
	if err := da.Register(ctx, mine); err != nil {
		t.Fatal(err)
	}
	cache := startCache(t, da, "svc")
	rec := record(cache)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	before := children(t, raw, "/"+ns+"/services/svc")
	sid := a.SessionID()

	if n := fd.Wedge(); n != 1 {
		t.Fatalf("wedged %d connections, want 1", n)
	}
	db := newDiscovery(t, connect(t, srv, ns))
	if err := db.Register(ctx, mustInstance(t, "svc", false)); err != nil {
		t.Fatal(err)
	}
	// A call that waits on the wedged connection; the watchdog replaces it.
	if _, _, err := a.Children(ctx, "/services/svc"); err != nil {
		t.Fatal(err)
	}
	if fired.Load() == 0 {
		t.Fatal("the call returned without the watchdog firing")
	}
	if _, sc := states.waitFor(t, 0, zkrecipes.StateReconnected); sc.NewSession || sc.SessionID != sid {
		t.Fatalf("reconnected %+v, want session %#x resumed", sc, sid)
	}
	rec.waitFor(t, 0, "both instances in the wedged client's cache", func(ev discovery.CacheEvent[instanceDetails]) bool {
		return ev.Kind == discovery.CacheChanged && len(ev.Instances) == 2
	})
	after := children(t, raw, "/"+ns+"/services/svc")
	if len(after) != 2 || !contains(after, before[0]) {
		t.Fatalf("znodes %v after the replacement, had %v", after, before)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// go-zk's own loop wedges under a registering client (its reads never return): the
// watchdog replaces the go-zk connection and resumes the session, so the registration
// keeps its node; the watches went with the old connection (WatchesLost), and both are set
// again: the client's cache catches up with an instance registered during the wedge, and
// the keeper restores the client's own znode when someone deletes it afterwards.
func TestDiscoveryRecoversAfterWedgedLoop(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	fz := zktest.NewFreezer()
	a := connect(t, srv, ns, zkrecipes.WithDialer(fz.Dial), zkrecipes.WithSessionTimeout(2*time.Second))
	t.Cleanup(fz.Unfreeze) // before a's Close
	states := logStates(t, a)
	da := newDiscovery(t, a)
	mine := mustInstance(t, "svc", false)
	if err := da.Register(ctx, mine); err != nil {
		t.Fatal(err)
	}
	cache := startCache(t, da, "svc")
	rec := record(cache)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	dir := "/" + ns + "/services/svc"
	sid := a.SessionID()

	fz.Wedge(t, false)
	db := newDiscovery(t, connect(t, srv, ns))
	if err := db.Register(ctx, mustInstance(t, "svc", false)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Children(ctx, "/services/svc"); err != nil {
		t.Fatal(err)
	}
	_, sc := states.waitFor(t, 0, zkrecipes.StateReconnected)
	if sc.NewSession || sc.SessionID != sid || !sc.WatchesLost {
		t.Fatalf("reconnected %+v, want session %#x resumed with WatchesLost", sc, sid)
	}
	rec.waitFor(t, 0, "both instances in the wedged client's cache", func(ev discovery.CacheEvent[instanceDetails]) bool {
		return ev.Kind == discovery.CacheChanged && len(ev.Instances) == 2
	})
	// The keeper's watch on the client's own znode was set again.
	if err := raw.Delete(dir+"/"+mine.ID, -1); err != nil {
		t.Fatal(err)
	}
	awaitChildren(t, raw, dir, "the deleted registration restored", func(k []string) bool { return contains(k, mine.ID) })
	_, st, err := raw.Get(dir + "/" + mine.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.EphemeralOwner != sid {
		t.Fatalf("restored %s with owner %#x, want the session %#x", mine.ID, st.EphemeralOwner, sid)
	}
}
