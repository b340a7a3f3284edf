package nodes_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/nodes"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// ttlServer is a shared server with TTL nodes enabled and a reaper that runs every 100 ms
// (default 60 s), so that expired TTL nodes go quickly.
func ttlServer(t testing.TB) *zktest.Server {
	return zktest.Start(t, zktest.WithConfig("extendedTypesEnabled", "true"),
		zktest.WithSystemProperty("znode.container.checkIntervalMs", "100"))
}

func startTTL(t testing.TB, c *zkrecipes.Client, path string, ttl time.Duration, data string) *nodes.TTLNode {
	t.Helper()
	n, err := nodes.NewTTL(c, path, ttl, []byte(data), nodes.WithTouchData([]byte("127.0.0.1")))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(testkit.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	testkit.CloseAtEnd(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	if err := n.WaitForInitialCreate(ctx); err != nil {
		t.Fatalf("WaitForInitialCreate: %v", err)
	}
	return n
}

// The layout: a TTL parent holding the data, a TTL "touch" child holding the host
// address, touched again and again while the owner runs (several ttls pass on a server
// that reaps every 100 ms, and both nodes stay).
func TestTTLNodeLayoutAndTouches(t *testing.T) {
	srv := ttlServer(t)
	ns := testkit.Namespace(t)
	a := testkit.Connect(t, srv.Servers(), ns)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	const ttl = 600 * time.Millisecond
	startTTL(t, a, "/ttl", ttl, "ttl-data")
	d, st, err := raw.Get("/" + ns + "/ttl")
	// (A client cannot see a node's TTL: the server reports ephemeralOwner 0. That the
	// nodes are TTL nodes shows when the reaper removes them, below.)
	if err != nil || string(d) != "ttl-data" || st.EphemeralOwner != 0 {
		t.Fatalf("parent: %q owner %x, %v; want ttl-data", d, st.EphemeralOwner, err)
	}
	d, _, err = raw.Get("/" + ns + "/ttl/touch")
	if err != nil || string(d) != "127.0.0.1" {
		t.Fatalf("touch: %q, %v", d, err)
	}
	// Several ttls pass and the node stays, touched.
	testkit.AwaitNode(t, raw, "/"+ns+"/ttl/touch", "touched repeatedly", func(_ []byte, st *zk.Stat, ok bool) bool {
		if !ok {
			t.Fatal("touch was reaped while its owner runs")
		}
		return st.Version >= 8
	})
	if ok, _, _ := raw.Exists("/" + ns + "/ttl"); !ok {
		t.Fatal("the parent was reaped while its owner runs")
	}
}

// An owner cut off from ZooKeeper stops touching: the TTL node and its child disappear
// after the ttl. A closed owner's node goes the same way.
func TestTTLNodeDisappearsAfterOwnerCutOff(t *testing.T) {
	srv := ttlServer(t)
	ns := testkit.Namespace(t)
	fd := zktest.NewFaultDialer()
	a := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(fd.Dial))
	b := testkit.Connect(t, srv.Servers(), ns)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	const ttl = 500 * time.Millisecond
	cut := startTTL(t, a, "/cut", ttl, "x")
	closed := startTTL(t, b, "/closed", ttl, "y")
	fd.Cut()
	testkit.AwaitNode(t, raw, "/"+ns+"/cut", "cut-off owner's node reaped", func(_ []byte, _ *zk.Stat, ok bool) bool { return !ok })
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	if err := cut.Close(ctx); err != nil { // before the heal, so it cannot touch again
		t.Fatal(err)
	}
	if err := closed.Close(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.AwaitNode(t, raw, "/"+ns+"/closed", "closed owner's node reaped", func(_ []byte, _ *zk.Stat, ok bool) bool { return !ok })
	fd.Heal()
}

// A server without extendedTypesEnabled refuses TTL nodes: a clear error, at once, and
// nothing left behind at the path.
func TestTTLNodeUnsupported(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	a := testkit.Connect(t, srv.Servers(), ns)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	n, err := nodes.NewTTL(a, "/ttl", time.Second, []byte("d"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(testkit.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	testkit.CloseAtEnd(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	err = n.WaitForInitialCreate(ctx)
	if !errors.Is(err, nodes.ErrTTLUnsupported) || ctx.Err() != nil {
		t.Fatalf("WaitForInitialCreate = %v; want ErrTTLUnsupported at once", err)
	}
	t.Logf("error: %v", err)
	if ok, _, _ := raw.Exists("/" + ns + "/ttl"); ok {
		t.Error("a node was left at the path")
	}
	if err := n.SetData(ctx, []byte("e")); !errors.Is(err, nodes.ErrTTLUnsupported) {
		t.Errorf("SetData after giving up = %v", err)
	}
}
