package discovery_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/internal/probe"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

func allLeaders(ev discovery.CacheEvent[instanceDetails], n int) bool {
	if len(ev.Instances) != n {
		return false
	}
	for _, in := range ev.Instances {
		if !in.Payload.Leader {
			return false
		}
	}
	return true
}

// The registering client's session expires (its network is cut past the session
// timeout): its instances vanish from other clients' caches, and come back after the
// heal, with the payload last given to Update, and never twice.
func TestSessionExpiryReregisters(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	fd := zktest.NewFaultDialer()
	a := connect(t, srv, ns, zkrecipes.WithDialer(fd.Dial), zkrecipes.WithSessionTimeout(1600*time.Millisecond))
	states := logStates(t, a)
	da := newDiscovery(t, a)
	dyn := mustInstance(t, "svc", false)
	seq := mustInstance(t, "svc", false, discovery.WithServiceType(discovery.DynamicSequential))
	for _, in := range []discovery.Instance[instanceDetails]{dyn, seq} {
		if err := da.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	cache := startCache(t, newDiscovery(t, connect(t, srv, ns)), "svc")
	rec := record(cache)
	if n := len(cache.Instances()); n != 2 {
		t.Fatalf("cache has %d instances", n)
	}
	oldSession := a.SessionID()

	fd.Cut()
	rec.waitFor(t, 0, "instances gone after the expiry", func(ev discovery.CacheEvent[instanceDetails]) bool {
		return ev.Kind == discovery.CacheChanged && len(ev.Instances) == 0
	})
	states.waitFor(t, 0, zkrecipes.StateLost)
	// Updates while the session is gone fail, but the local copy keeps the payload.
	for _, in := range []discovery.Instance[instanceDetails]{dyn, seq} {
		in.Payload.Leader = true
		uctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := da.Update(uctx, in)
		cancel()
		if err == nil {
			t.Errorf("Update of %s succeeded while cut off", in.ID)
		}
	}

	fd.Heal()
	_, sc := states.waitFor(t, 0, zkrecipes.StateReconnected)
	if !sc.NewSession || a.SessionID() == oldSession {
		t.Fatalf("reconnected without a new session: %+v", sc)
	}
	rec.waitFor(t, 0, "both back with the latest payload", func(ev discovery.CacheEvent[instanceDetails]) bool {
		return ev.Kind == discovery.CacheChanged && allLeaders(ev, 2)
	})
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	kids := children(t, raw, "/"+ns+"/services/svc")
	if len(kids) != 2 {
		t.Errorf("znodes after re-registration: %v, want 2", kids)
	}
	for _, k := range kids {
		_, st, err := raw.Get("/" + ns + "/services/svc/" + k)
		if err != nil || st.EphemeralOwner != a.SessionID() {
			t.Errorf("%s: owner %x, want the new session %x (%v)", k, st.EphemeralOwner, a.SessionID(), err)
		}
		if k != dyn.ID && !probe.IsSequentialOf(k, seq.ID) {
			t.Errorf("unexpected znode %s", k)
		}
	}
	// A later sentinel shows there was no extra churn (no duplicate appearing late).
	last := len(rec.All())
	dyn.Payload.Leader = false
	if err := da.Update(ctx, dyn); err != nil {
		t.Fatal(err)
	}
	i := rec.waitFor(t, last, "sentinel update", func(ev discovery.CacheEvent[instanceDetails]) bool { return len(ev.Updated) == 1 })
	for _, ev := range rec.All()[last:i] {
		if ev.Kind == discovery.CacheChanged {
			t.Errorf("unexpected change after re-registration: %s", describe([]discovery.CacheEvent[instanceDetails]{ev}))
		}
	}
}

// A cut shorter than the session timeout, on the registering side or on the caching
// side, causes no remove/add churn in caches.
func TestShortCutNoChurn(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	fdA, fdB := zktest.NewFaultDialer(), zktest.NewFaultDialer()
	a := connect(t, srv, ns, zkrecipes.WithDialer(fdA.Dial), zkrecipes.WithSessionTimeout(4*time.Second))
	b := connect(t, srv, ns, zkrecipes.WithDialer(fdB.Dial), zkrecipes.WithSessionTimeout(4*time.Second))
	statesA, statesB := logStates(t, a), logStates(t, b)
	da := newDiscovery(t, a)
	in := mustInstance(t, "svc", false)
	seq := mustInstance(t, "svc", false, discovery.WithServiceType(discovery.DynamicSequential))
	for _, x := range []discovery.Instance[instanceDetails]{in, seq} {
		if err := da.Register(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	cache := startCache(t, newDiscovery(t, b), "svc")
	rec := record(cache)

	for round, side := range []struct {
		name   string
		fd     *zktest.FaultDialer
		states *stateLog
	}{{"registering side", fdA, statesA}, {"caching side", fdB, statesB}} {
		from := side.states.Len()
		evFrom := len(rec.All())
		side.fd.Cut()
		i, _ := side.states.waitFor(t, from, zkrecipes.StateSuspended)
		side.fd.Heal()
		_, sc := side.states.waitFor(t, i, zkrecipes.StateReconnected)
		if sc.NewSession {
			t.Fatalf("%s: the session did not survive a short cut", side.name)
		}
		in.Payload.Leader = round%2 == 0
		if err := da.Update(ctx, in); err != nil {
			t.Fatal(err)
		}
		want := in.Payload.Leader
		j := rec.waitFor(t, evFrom, side.name+" sentinel", func(ev discovery.CacheEvent[instanceDetails]) bool {
			return len(ev.Updated) == 1 && ev.Updated[0].Payload.Leader == want
		})
		for _, ev := range rec.All()[evFrom:j] {
			if ev.Kind == discovery.CacheChanged {
				t.Errorf("%s: churn during a short cut: %s", side.name, describe([]discovery.CacheEvent[instanceDetails]{ev}))
			}
		}
		if len(cache.Instances()) != 2 {
			t.Errorf("%s: cache has %d instances", side.name, len(cache.Instances()))
		}
	}
	// The caching side's states were forwarded to the cache's listeners.
	var seen []string
	for _, ev := range rec.All() {
		if ev.Kind == discovery.ConnectionStateChanged {
			seen = append(seen, ev.State.State.String())
		}
	}
	if got := strings.Join(seen, ","); got != "SUSPENDED,RECONNECTED" {
		t.Errorf("cache forwarded states %s, want SUSPENDED,RECONNECTED", got)
	}
}

// An instance unregistered while its session is gone is not brought back by the
// re-registration after the heal (the phantom instance of Curator's bug).
func TestUnregisterDuringExpiryStaysUnregistered(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	fd := zktest.NewFaultDialer()
	a := connect(t, srv, ns, zkrecipes.WithDialer(fd.Dial), zkrecipes.WithSessionTimeout(1600*time.Millisecond))
	states := logStates(t, a)
	da := newDiscovery(t, a)
	gone := mustInstance(t, "svc", false)
	kept := mustInstance(t, "svc", false)
	for _, in := range []discovery.Instance[instanceDetails]{gone, kept} {
		if err := da.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	cache := startCache(t, newDiscovery(t, connect(t, srv, ns)), "svc")
	rec := record(cache)
	fd.Cut()
	states.waitFor(t, 0, zkrecipes.StateLost)
	uctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_ = da.Unregister(uctx, gone) // fails for now; the local copy is dropped at once
	cancel()
	fd.Heal()
	states.waitFor(t, 0, zkrecipes.StateReconnected)
	i := rec.waitFor(t, 0, "kept re-registered", func(ev discovery.CacheEvent[instanceDetails]) bool {
		return len(ev.Instances) == 1 && ev.Instances[0].ID == kept.ID && len(ev.Added) == 1
	})
	// Sentinel: nothing else appears before a later update.
	kept.Payload.Leader = true
	if err := da.Update(ctx, kept); err != nil {
		t.Fatal(err)
	}
	j := rec.waitFor(t, i+1, "sentinel", func(ev discovery.CacheEvent[instanceDetails]) bool { return len(ev.Updated) == 1 })
	for _, ev := range rec.All()[i+1 : j] {
		if ev.Kind == discovery.CacheChanged {
			t.Errorf("unexpected change: %s", describe([]discovery.CacheEvent[instanceDetails]{ev}))
		}
	}
	if got := ids(cache.Instances()); len(got) != 1 || got[0] != kept.ID {
		t.Errorf("cache has %v", got)
	}
}

// The caching client's own session expires while instances change: after the heal the
// cache reloads and ends up right, with one event for what changed meanwhile.
func TestCacheResyncsAfterOwnExpiry(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	dw := newDiscovery(t, connect(t, srv, ns))
	fd := zktest.NewFaultDialer()
	b := connect(t, srv, ns, zkrecipes.WithDialer(fd.Dial), zkrecipes.WithSessionTimeout(1600*time.Millisecond))
	states := logStates(t, b)
	stay, change, leave := mustInstance(t, "svc", false), mustInstance(t, "svc", false), mustInstance(t, "svc", false)
	for _, in := range []discovery.Instance[instanceDetails]{stay, change, leave} {
		if err := dw.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	cache := startCache(t, newDiscovery(t, b), "svc")
	rec := record(cache)
	// The client's LOST timer can run out before the server expires the session; an
	// ephemeral of b tells when the server has.
	if _, err := b.Create(ctx, "/expiry-marker", nil, zkrecipes.ModeEphemeral); err != nil {
		t.Fatal(err)
	}
	_, _, expired, err := connect(t, srv, ns).ExistsW(ctx, "/expiry-marker")
	if err != nil {
		t.Fatal(err)
	}
	fd.Cut()
	states.waitFor(t, 0, zkrecipes.StateLost)
	select {
	case <-expired:
	case <-ctx.Done():
		t.Fatal("the server never expired the session")
	}
	if len(cache.Instances()) != 3 {
		t.Errorf("cache cleared on LOST: %v", ids(cache.Instances()))
	}
	change.Payload.Leader = true
	if err := dw.Update(ctx, change); err != nil {
		t.Fatal(err)
	}
	if err := dw.Unregister(ctx, leave); err != nil {
		t.Fatal(err)
	}
	added := mustInstance(t, "svc", false)
	if err := dw.Register(ctx, added); err != nil {
		t.Fatal(err)
	}
	fd.Heal()
	_, sc := states.waitFor(t, 0, zkrecipes.StateReconnected)
	if !sc.NewSession {
		t.Fatal("the cut did not expire the session")
	}
	i := rec.waitFor(t, 0, "resync", func(ev discovery.CacheEvent[instanceDetails]) bool { return ev.Kind == discovery.CacheChanged })
	ev := rec.All()[i]
	if len(ev.Added) != 1 || ev.Added[0].ID != added.ID || len(ev.Removed) != 1 || ev.Removed[0].ID != leave.ID ||
		len(ev.Updated) != 1 || ev.Updated[0].ID != change.ID || !ev.Updated[0].Payload.Leader {
		t.Errorf("resync event: %s", describe([]discovery.CacheEvent[instanceDetails]{ev}))
	}
	// The watches are back: a later change is seen.
	stay.Payload.Leader = true
	if err := dw.Update(ctx, stay); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, i+1, "change after the resync", func(ev discovery.CacheEvent[instanceDetails]) bool {
		return len(ev.Updated) == 1 && ev.Updated[0].ID == stay.ID
	})
}
