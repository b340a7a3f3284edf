package discovery_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// LOST (by the client's timer) followed by RECONNECTED on the same session, made with a
// standalone server stopped for longer than the session timeout and started again with its
// data (it restores the sessions). Across it:
//   - a registered instance is still there exactly once, owned by the session, with the
//     payload of an Update that failed during the outage;
//   - an instance unregistered during the outage is gone, and one registered after it is
//     there;
//   - a Cache started before the outage (on another client, which goes through the same
//     LOST and RECONNECTED) ends up showing exactly that live set.
func TestRegistrationAndCacheLostThenSameSession(t *testing.T) {
	srv := zktest.StartDedicated(t, zktest.WithTickTime(200*time.Millisecond))
	node := srv.Node()
	if node == nil {
		t.Skip("this backend cannot restart a server")
	}
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	cr := connect(t, srv, ns, zkrecipes.WithHostProvider(srv.HostProvider()))
	co := connect(t, srv, ns, zkrecipes.WithHostProvider(srv.HostProvider()))
	sr, so := logStates(t, cr), logStates(t, co)
	reg := newDiscovery(t, cr)
	obs := newDiscovery(t, co)

	kept := mustInstance(t, "svc", false, discovery.WithID("kept"))
	dropped := mustInstance(t, "svc", false, discovery.WithID("dropped"))
	for _, in := range []discovery.Instance[instanceDetails]{kept, dropped} {
		if err := reg.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	cache := startCache(t, obs, "svc")
	events := record(cache)
	if got := instanceIDs(cache.Instances()); !slices.Equal(got, []string{"dropped", "kept"}) {
		t.Fatalf("cache before the outage: %v", got)
	}
	sidR, sidO := cr.SessionID(), co.SessionID()

	markR, markO := sr.Len(), so.Len()
	if err := node.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	sr.waitFor(t, markR, zkrecipes.StateLost)
	so.waitFor(t, markO, zkrecipes.StateLost)
	// While LOST: an update and an unregistration, both of which fail for now.
	updated := mustInstance(t, "svc", true, discovery.WithID("kept"), discovery.WithAddress("127.0.0.2"))
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	if err := reg.Update(short, updated); err == nil {
		t.Fatal("Update while the server is down succeeded")
	}
	_ = reg.Unregister(short, dropped) // goes on in the background
	cancel()
	if err := node.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		log  *stateLog
		mark int
		sid  int64
	}{{sr, markR, sidR}, {so, markO, sidO}} {
		_, sc := c.log.waitFor(t, c.mark, zkrecipes.StateReconnected)
		if sc.NewSession || sc.SessionID != c.sid {
			t.Fatalf("RECONNECTED %+v, want the old session %#x back", sc, c.sid)
		}
	}
	added := mustInstance(t, "svc", false, discovery.WithID("added"))
	if err := reg.Register(ctx, added); err != nil {
		t.Fatal(err)
	}

	// ZooKeeper holds the live set: each instance once, owned by the session, with its
	// latest data.
	conn := cr.Conn()
	svcPath := "/" + ns + "/services/svc"
	awaitChildren(t, conn, svcPath, "the live set in ZooKeeper", func(kids []string) bool {
		slices.Sort(kids)
		return slices.Equal(kids, []string{"added", "kept"})
	})
	deadline := time.Now().Add(testkit.Patience)
	for {
		data, st, ch, err := conn.GetW(svcPath + "/kept")
		if err != nil {
			t.Fatal(err)
		}
		if st.EphemeralOwner != cr.SessionID() {
			t.Fatalf("kept is owned by %#x, want the session %#x", st.EphemeralOwner, cr.SessionID())
		}
		got, err := reg.Serializer().Deserialize(data)
		if err != nil {
			t.Fatal(err)
		}
		if got.Payload == updated.Payload && got.Address == updated.Address {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kept still has %+v, want the update written during the outage", got)
		}
		select {
		case <-ch:
		case <-time.After(time.Until(deadline)):
		}
	}

	// The cache shows exactly the live set, with the latest data.
	events.waitFor(t, 0, "the cache to show the live set", func(ev discovery.CacheEvent[instanceDetails]) bool {
		return liveSet(ev.Instances, updated)
	})
	if in := cache.Instances(); !liveSet(in, updated) {
		t.Fatalf("cache after the outage: %+v", in)
	}
}

// liveSet reports whether in is exactly {added, kept}, kept with the updated data.
func liveSet(in []discovery.Instance[instanceDetails], updated discovery.Instance[instanceDetails]) bool {
	if !slices.Equal(instanceIDs(in), []string{"added", "kept"}) {
		return false
	}
	for _, i := range in {
		if i.ID == "kept" && (i.Payload != updated.Payload || i.Address != updated.Address) {
			return false
		}
	}
	return true
}

func instanceIDs(in []discovery.Instance[instanceDetails]) []string {
	var out []string
	for _, i := range in {
		out = append(out, i.ID)
	}
	slices.Sort(out)
	return out
}
