package discovery_test

import (
	"slices"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/internal/probe"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// A Discovery keeps its registrations' znodes with one exists watch each, set by one
// goroutine, not one goroutine per instance: exactly one watch per instance on the server,
// also after a new session, and a znode deleted by someone else comes back in both
// sessions.
func TestKeeperOneWatchPerInstance(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	fd := zktest.NewFaultDialer()
	c := connect(t, srv, ns, zkrecipes.WithDialer(fd.Dial), zkrecipes.WithSessionTimeout(2*time.Second))
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	d := newDiscovery(t, c)
	const n = 5
	var insts []discovery.Instance[instanceDetails]
	for i := 0; i < n; i++ {
		in := mustInstance(t, "svc", false)
		if i == n-1 {
			in = mustInstance(t, "svc", false, discovery.WithServiceType(discovery.DynamicSequential))
		}
		if err := d.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
		insts = append(insts, in)
	}
	dir := "/" + ns + "/services/svc"
	check := func(when string) {
		t.Helper()
		armed, err := probe.DiscoveryKeeperIdle(d, ctx)
		if err != nil {
			t.Fatal(err)
		}
		if armed != n {
			t.Errorf("%s: %d registrations watched, want %d", when, armed, n)
		}
		if w := watchesOf(t, srv, c.SessionID()); w != n {
			t.Errorf("%s: %d watches of the session on the server, want %d", when, w, n)
		}
	}
	deleteAll := func(when string) {
		t.Helper()
		before := children(t, raw, dir)
		for _, k := range before {
			if err := raw.Delete(dir+"/"+k, -1); err != nil {
				t.Fatal(err)
			}
		}
		kids := awaitChildren(t, raw, dir, when+": every instance restored", func(k []string) bool { return len(k) == n })
		for _, k := range kids {
			_, st, err := raw.Get(dir + "/" + k)
			if err != nil || st.EphemeralOwner != c.SessionID() {
				t.Errorf("%s: %s restored with owner %x (err %v), want %x", when, k, st.EphemeralOwner, err, c.SessionID())
			}
		}
		// The fixed ids come back under their names; the sequential one under a new
		// sequence number.
		for _, in := range insts[:n-1] {
			if !slices.Contains(kids, in.ID) {
				t.Errorf("%s: %s not restored: %v", when, in.ID, kids)
			}
		}
	}
	check("after Register")
	deleteAll("first session")
	check("after the restores")
	// Restored znodes are watched again: the sequential one has a new name now.
	deleteAll("first session, again")
	check("after the second restores")

	pass := probe.DiscoveryPass(d)
	testkit.ExpireSession(t, c, fd, raw, nil)
	select {
	case <-pass:
	case <-ctx.Done():
		t.Fatal("no re-registration after the new session")
	}
	check("after the new session")
	deleteAll("second session")
	check("after the second restores")
}
