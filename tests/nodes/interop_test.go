package nodes_test

import (
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/nodes"
	"github.com/zkrecipes/zkrecipes/tests/curatortest"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// A Go persistent node first, then a Java PersistentNode on the same path: Curator takes
// over any node it finds and writes its data into it, so the node stays the Go session's
// but holds Java's data (the Go side does not undo a data change, as Curator does not);
// Java's close deletes the node, and the Go side makes it again with its own data.
func TestInteropGoFirstThenJava(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	a := testkit.Connect(t, srv.Servers(), ns)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	java := curatortest.Start(t, srv.ConnectString(), curatortest.WithNamespace(ns))
	full := "/" + ns + "/pn/shared"
	n := startNode(t, a, "/pn/shared", zkrecipes.ModeEphemeral, "go")
	waitCreated(t, n)
	if err := java.PersistentNodeStart(ctx, "j", "EPHEMERAL", "/pn/shared", "java", false); err != nil {
		t.Fatal(err)
	}
	if ok, err := java.PersistentNodeWait(ctx, "j", testkit.Patience); err != nil || !ok {
		t.Fatalf("Java waitForInitialCreate = %v, %v", ok, err)
	}
	var czxid int64
	testkit.AwaitNode(t, raw, full, "Java's data in the Go session's node", func(d []byte, st *zk.Stat, ok bool) bool {
		if ok {
			czxid = st.Czxid
		}
		return ok && string(d) == "java" && st.EphemeralOwner == a.SessionID()
	})
	if err := java.PersistentNodeClose(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	testkit.AwaitNode(t, raw, full, "made again by Go after Java's close deleted it", func(d []byte, st *zk.Stat, ok bool) bool {
		return ok && st.Czxid != czxid && string(d) == "go" && st.EphemeralOwner == a.SessionID()
	})
	closeNode(t, n)
	if ok, _, _ := raw.Exists(full); ok {
		t.Error("Go's Close left the node")
	}
}

// A Java PersistentNode first, then a Go one on the same path: the Go side never takes
// over or writes the Java session's ephemeral node; once Java closes (deleting it), Go
// creates its own.
func TestInteropJavaFirstThenGo(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	a := testkit.Connect(t, srv.Servers(), ns)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	java := curatortest.Start(t, srv.ConnectString(), curatortest.WithNamespace(ns))
	full := "/" + ns + "/pn/shared"
	if err := java.PersistentNodeStart(ctx, "j", "EPHEMERAL", "/pn/shared", "java", false); err != nil {
		t.Fatal(err)
	}
	if ok, err := java.PersistentNodeWait(ctx, "j", testkit.Patience); err != nil || !ok {
		t.Fatalf("Java waitForInitialCreate = %v, %v", ok, err)
	}
	jsid, err := java.SessionID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, a, "/pn/shared", zkrecipes.ModeEphemeral, "go")
	// Go's first look at the node is done once a SetData (answered by the node's
	// goroutine after it looked) returns.
	if err := n.SetData(ctx, []byte("go")); err != nil {
		t.Fatal(err)
	}
	if d, st, _ := raw.Get(full); string(d) != "java" || st.EphemeralOwner != jsid {
		t.Fatalf("Go touched Java's node: %q owner %x (Java %x)", d, st.EphemeralOwner, jsid)
	}
	if n.ActualPath() != "" {
		t.Errorf("ActualPath = %q while Java holds the node", n.ActualPath())
	}
	if err := java.PersistentNodeClose(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	waitCreated(t, n)
	testkit.AwaitNode(t, raw, full, "Go's own node after Java closed", func(d []byte, st *zk.Stat, ok bool) bool {
		return ok && string(d) == "go" && st.EphemeralOwner == a.SessionID()
	})
}

// Curator 5.4's PersistentTtlNode and the Go TTLNode lay their nodes out alike (the
// caller's data in the node, a "touch" child holding the host address), and both are
// reaped by the server after their owners close.
func TestInteropTTLNodeLayouts(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := ttlServer(t)
	ns := testkit.Namespace(t)
	a := testkit.Connect(t, srv.Servers(), ns)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	java := curatortest.Start(t, srv.ConnectString(), curatortest.WithNamespace(ns))
	const ttl = time.Second
	if err := java.TTLNodeStart(ctx, "j", "/java-ttl", ttl, "data-j"); err != nil {
		t.Fatal(err)
	}
	n, err := nodes.NewTTL(a, "/go-ttl", ttl, []byte("data-g"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.CloseAtEnd(t, n)
	if err := n.WaitForInitialCreate(ctx); err != nil {
		t.Fatal(err)
	}
	var javaTouch, goTouch []byte
	testkit.AwaitNode(t, raw, "/"+ns+"/java-ttl/touch", "Java's touch child", func(d []byte, _ *zk.Stat, ok bool) bool {
		javaTouch = d
		return ok
	})
	goTouch, _, err = raw.Get("/" + ns + "/go-ttl/touch")
	if err != nil {
		t.Fatal(err)
	}
	if string(javaTouch) != string(goTouch) {
		t.Errorf("touch data: Java %q, Go %q; want the same host address", javaTouch, goTouch)
	}
	for path, want := range map[string]string{"/java-ttl": "data-j", "/go-ttl": "data-g"} {
		d, _, err := raw.Get("/" + ns + path)
		if err != nil || string(d) != want {
			t.Errorf("%s holds %q, %v; want %q", path, d, err, want)
		}
		kids, _, _ := raw.Children("/" + ns + path)
		if len(kids) != 1 || kids[0] != nodes.TouchName {
			t.Errorf("%s children %v; want [touch]", path, kids)
		}
	}
	if err := java.TTLNodeClose(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/java-ttl", "/go-ttl"} {
		testkit.AwaitNode(t, raw, "/"+ns+path, path+" reaped after close", func(_ []byte, _ *zk.Stat, ok bool) bool { return !ok })
	}
}
