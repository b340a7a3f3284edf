package nodes_test

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/nodes"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

func startNode(t testing.TB, c *zkrecipes.Client, path string, mode zkrecipes.CreateMode, data string, opts ...nodes.Option) *nodes.PersistentNode {
	t.Helper()
	n, err := nodes.New(c, path, mode, []byte(data), opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(testkit.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	testkit.CloseAtEnd(t, n)
	return n
}

func waitCreated(t testing.TB, n *nodes.PersistentNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	if err := n.WaitForInitialCreate(ctx); err != nil {
		t.Fatalf("WaitForInitialCreate: %v", err)
	}
}

func closeNode(t testing.TB, n *nodes.PersistentNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// An ephemeral persistent node: created in the background with container parents, made
// again after a delete, its data kept by SetData, tampering not undone (as Curator), and
// deleted by Close.
func TestPersistentNodeEphemeral(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	a := testkit.Connect(t, srv.Servers(), ns)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	full := "/" + ns + "/pn/e"
	n := startNode(t, a, "/pn/e", zkrecipes.ModeEphemeral, "x")
	waitCreated(t, n)
	if got := n.ActualPath(); got != "/pn/e" {
		t.Errorf("ActualPath = %q", got)
	}
	data, st, err := raw.Get(full)
	if err != nil || string(data) != "x" || st.EphemeralOwner != a.SessionID() {
		t.Fatalf("node: %q owner %x, %v; want x owned by %x", data, st.EphemeralOwner, err, a.SessionID())
	}
	first := st.Czxid

	if err := raw.Delete(full, -1); err != nil {
		t.Fatal(err)
	}
	testkit.AwaitNode(t, raw, full, "re-created", func(d []byte, st *zk.Stat, ok bool) bool {
		return ok && st.Czxid != first && string(d) == "x" && st.EphemeralOwner == a.SessionID()
	})

	if err := n.SetData(ctx, []byte("y")); err != nil {
		t.Fatal(err)
	}
	if d, _, _ := raw.Get(full); string(d) != "y" {
		t.Errorf("after SetData: %q", d)
	}
	if _, err := raw.Set(full, []byte("tampered"), -1); err != nil {
		t.Fatal(err)
	}
	// Deleting it brings it back with our data.
	if err := raw.Delete(full, -1); err != nil {
		t.Fatal(err)
	}
	testkit.AwaitNode(t, raw, full, "re-created with the SetData data", func(d []byte, _ *zk.Stat, ok bool) bool {
		return ok && string(d) == "y"
	})
	closeNode(t, n)
	if ok, _, _ := raw.Exists(full); ok {
		t.Error("Close left the node")
	}
}

var protectedSeq = regexp.MustCompile(`^_c_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}-s-\d{10}$`)

// A protected sequential node gets Curator's name, and after a deletion comes back under
// that same name.
func TestPersistentNodeProtectedSequential(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	a := testkit.Connect(t, srv.Servers(), ns)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	if _, err := nodes.New(a, "/pn/s-", zkrecipes.ModeEphemeralSequential, nil); err == nil {
		t.Error("an unprotected sequential node was accepted")
	}
	n := startNode(t, a, "/pn/s-", zkrecipes.ModeEphemeralSequential, "d", nodes.WithProtection())
	waitCreated(t, n)
	p := n.ActualPath()
	parent, name := zkrecipes.SplitPath(p)
	if parent != "/pn" || !protectedSeq.MatchString(name) {
		t.Fatalf("ActualPath = %q; want /pn/_c_<uuid>-s-<10 digits>", p)
	}
	full := "/" + ns + p
	if err := raw.Delete(full, -1); err != nil {
		t.Fatal(err)
	}
	testkit.AwaitNode(t, raw, full, "re-created under the same name", func(d []byte, st *zk.Stat, ok bool) bool {
		return ok && st.EphemeralOwner == a.SessionID()
	})
	kids, _, _ := raw.Children("/" + ns + "/pn")
	if len(kids) != 1 {
		t.Errorf("children %v; want exactly one", kids)
	}
	closeNode(t, n)
	if ok, _, _ := raw.Exists(full); ok {
		t.Error("Close left the node")
	}
}

// Another live session's ephemeral node at the path is never taken over nor written: the
// persistent node waits for it to go and then creates its own.
func TestPersistentNodeNeverTakesAnotherSessionsNode(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	a := testkit.Connect(t, srv.Servers(), ns)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	other, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	full := "/" + ns + "/pn/e"
	if _, err := raw.Create("/"+ns, nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Create("/"+ns+"/pn", nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Create(full, []byte("theirs"), zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, a, "/pn/e", zkrecipes.ModeEphemeral, "ours")
	short, cancel := context.WithTimeout(context.Background(), time.Second)
	err := n.WaitForInitialCreate(short)
	cancel()
	if err == nil {
		t.Fatal("WaitForInitialCreate succeeded while another session held the node")
	}
	if d, st, _ := raw.Get(full); string(d) != "theirs" || st.EphemeralOwner != other.SessionID() {
		t.Fatalf("the other session's node was touched: %q owner %x", d, st.EphemeralOwner)
	}
	if n.ActualPath() != "" {
		t.Errorf("ActualPath = %q while another session holds it", n.ActualPath())
	}
	other.Close()
	waitCreated(t, n)
	testkit.AwaitNode(t, raw, full, "ours after theirs went", func(d []byte, st *zk.Stat, ok bool) bool {
		return ok && string(d) == "ours" && st.EphemeralOwner == a.SessionID()
	})
}

// A persistent leftover is taken over in a persistent mode (its data replaced, as
// Curator does), and Close deletes it.
func TestPersistentNodeTakesOverPersistentLeftover(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	a := testkit.Connect(t, srv.Servers(), ns)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	if _, err := a.Create(ctx, "/pn/p", []byte("old"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, a, "/pn/p", zkrecipes.ModePersistent, "new")
	waitCreated(t, n)
	full := "/" + ns + "/pn/p"
	if d, st, _ := raw.Get(full); string(d) != "new" || st.EphemeralOwner != 0 {
		t.Fatalf("leftover: %q owner %x; want new, persistent", d, st.EphemeralOwner)
	}
	// Tampering is not undone, and the node stays ours.
	if _, err := raw.Set(full, []byte("tampered"), -1); err != nil {
		t.Fatal(err)
	}
	if err := n.SetData(ctx, []byte("newer")); err != nil {
		t.Fatal(err)
	}
	if d, _, _ := raw.Get(full); string(d) != "newer" {
		t.Errorf("after SetData: %q", d)
	}
	closeNode(t, n)
	if ok, _, _ := raw.Exists(full); ok {
		t.Error("Close left the taken-over node")
	}
}

// After the server expires the session, the node comes back exactly once, owned by the
// new session, and no node of the old session is left.
func TestPersistentNodeAfterSessionExpiry(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	fd := zktest.NewFaultDialer()
	a := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(fd.Dial))
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	n := startNode(t, a, "/pn/s-", zkrecipes.ModeEphemeralSequential, "d", nodes.WithProtection())
	plain := startNode(t, a, "/pn/plain", zkrecipes.ModeEphemeral, "p")
	waitCreated(t, n)
	waitCreated(t, plain)
	p := n.ActualPath()
	old := a.SessionID()
	testkit.ExpireSession(t, a, fd, raw, nil)
	testkit.AwaitNode(t, raw, "/"+ns+p, "back under the new session", func(_ []byte, st *zk.Stat, ok bool) bool {
		return ok && st.EphemeralOwner == a.SessionID()
	})
	testkit.AwaitNode(t, raw, "/"+ns+"/pn/plain", "plain node back under the new session", func(_ []byte, st *zk.Stat, ok bool) bool {
		return ok && st.EphemeralOwner == a.SessionID()
	})
	kids, _, err := raw.Children("/" + ns + "/pn")
	if err != nil {
		t.Fatal(err)
	}
	if len(kids) != 2 {
		t.Errorf("children %v; want exactly the two nodes", kids)
	}
	for _, k := range kids {
		_, st, err := raw.Get("/" + ns + "/pn/" + k)
		if err == nil && st.EphemeralOwner == old {
			t.Errorf("%s still belongs to the expired session %x", k, old)
		}
	}
	// The node's goroutine records the path once the create's reply is back, which may come
	// after the raw connection saw the node: a SetData is handled by that goroutine after
	// the create it has in flight, so once it returns the path is known.
	if err := n.SetData(testkit.Ctx(t), []byte("d")); err != nil {
		t.Fatal(err)
	}
	if n.ActualPath() != p {
		t.Errorf("ActualPath %q after expiry, want the same name %q", n.ActualPath(), p)
	}
}

// A create whose reply was lost (the node exists on the server, the client does not
// know) is deleted by a Close that comes while the create's outcome is still unknown.
func TestPersistentNodeCloseDeletesUnknownCreate(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	fd := zktest.NewFaultDialer()
	a := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(fd.Dial))
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	ctx := testkit.Ctx(t)
	if err := a.EnsurePath(ctx, "/pn"); err != nil {
		t.Fatal(err)
	}
	full := "/" + ns + "/pn/late"
	lost := fd.LoseNextReplyAndCut(func(op int32, p string) bool {
		return (op == zktest.OpCreate || op == zktest.OpCreate2) && p == full
	})
	n, err := nodes.New(a, "/pn/late", zkrecipes.ModePersistent, []byte("d"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(testkit.Patience):
		t.Fatal("the create's reply was not lost")
	}
	if ok, _, _ := raw.Exists(full); !ok {
		t.Fatal("the create whose reply was lost did not land")
	}
	closed := make(chan error, 1)
	go func() {
		cctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
		defer cancel()
		closed <- n.Close(cctx)
	}()
	fd.Heal()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	testkit.AwaitNode(t, raw, full, "deleted by Close", func(_ []byte, _ *zk.Stat, ok bool) bool { return !ok })
}

// A node of the wrong kind (a persistent node where an ephemeral one is kept) is not
// taken over or written, unlike Curator, which writes into it and keeps it persistent;
// once it is deleted, the ephemeral node is made.
func TestPersistentNodeLeavesWrongKind(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	a := testkit.Connect(t, srv.Servers(), ns)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	if _, err := a.Create(ctx, "/pn/w", []byte("theirs"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	full := "/" + ns + "/pn/w"
	n := startNode(t, a, "/pn/w", zkrecipes.ModeEphemeral, "ours")
	// SetData is answered by the node's goroutine after it has looked at the node.
	if err := n.SetData(ctx, []byte("ours")); err != nil {
		t.Fatal(err)
	}
	if d, st, _ := raw.Get(full); string(d) != "theirs" || st.EphemeralOwner != 0 || st.Version != 0 {
		t.Fatalf("the persistent node was touched: %q owner %x version %d", d, st.EphemeralOwner, st.Version)
	}
	if err := raw.Delete(full, -1); err != nil {
		t.Fatal(err)
	}
	waitCreated(t, n)
	testkit.AwaitNode(t, raw, full, "our ephemeral node", func(d []byte, st *zk.Stat, ok bool) bool {
		return ok && string(d) == "ours" && st.EphemeralOwner == a.SessionID()
	})
}

// A SetData whose reply is lost returns an unknown outcome (never a success that did not
// happen), and the node ends up holding the data anyway: the write is repeated (an
// identical write, harmless) until it is known to have landed.
func TestPersistentNodeSetDataLostReply(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	fd := zktest.NewFaultDialer()
	a := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(fd.Dial))
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	full := "/" + ns + "/pn/d"
	n := startNode(t, a, "/pn/d", zkrecipes.ModeEphemeral, "v1")
	waitCreated(t, n)
	lost := fd.LoseNextReply(func(op int32, p string) bool { return op == zktest.OpSetData && p == full })
	err := n.SetData(ctx, []byte("v2"))
	select {
	case <-lost:
	default:
		t.Fatal("no reply was lost")
	}
	switch {
	case err == nil:
		// The node's goroutine saw the new data before the request reached it, wrote it
		// (the reply was lost) and wrote it again: nil must mean it is there.
		if d, _, _ := raw.Get(full); string(d) != "v2" {
			t.Fatalf("SetData returned nil but the node holds %q", d)
		}
	case !errors.Is(err, zkrecipes.ErrOutcomeUnknown):
		t.Fatalf("SetData with a lost reply = %v; want ErrOutcomeUnknown (or nil once applied)", err)
	}
	testkit.AwaitNode(t, raw, full, "holds v2", func(d []byte, st *zk.Stat, ok bool) bool {
		return ok && string(d) == "v2" && st.EphemeralOwner == a.SessionID()
	})
	if err := n.SetData(ctx, []byte("v3")); err != nil {
		t.Fatalf("SetData after the fault: %v", err)
	}
	if d, _, _ := raw.Get(full); string(d) != "v3" {
		t.Errorf("node holds %q, want v3", d)
	}
}

// A create still in flight when Close runs (its request is held in a black hole, Close
// abandons it) lands after Close began; Close waits for it to settle and deletes the node
// it made. Close may also win the race with the create's sending (then nothing is sent
// and nothing lands): the scenario is played again until the create was in flight.
func TestPersistentNodeCloseDeletesCreateLandingAfterClose(t *testing.T) {
	srv := zktest.Start(t)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	for round := 0; round < 10; round++ {
		if closeWithCreateInFlight(t, srv, raw, round) {
			return
		}
		t.Logf("round %d: Close came before the create was sent; again", round)
	}
	t.Fatal("Close never caught the create in flight")
}

// closeWithCreateInFlight plays the scenario once and reports whether the create was in
// flight when Close abandoned it.
func closeWithCreateInFlight(t *testing.T, srv *zktest.Server, raw *zk.Conn, round int) bool {
	ns := testkit.Namespace(t)
	fd := zktest.NewFaultDialer()
	full := "/" + ns + "/pn/late"
	var once, doneOnce sync.Once
	holed := make(chan struct{})
	createErr := make(chan error, 1)
	a := testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(fd.Dial),
		zkrecipes.WithSessionTimeout(4*time.Second),
		zkrecipes.WithHooks(zkrecipes.Hooks{Operation: func(_ context.Context, ev zkrecipes.OperationEvent) {
			switch {
			case ev.Op == "existsw" && ev.Path == "/pn/late" && ev.Err == nil:
				// The next request is the create: it goes into the black hole.
				once.Do(func() { fd.BlackHole(); close(holed) })
			case ev.Op == "create" && ev.Path == "/pn/late":
				doneOnce.Do(func() { createErr <- ev.Err })
			}
		}}))
	ctx := testkit.Ctx(t)
	if err := a.EnsurePath(ctx, "/pn"); err != nil {
		t.Fatal(err)
	}
	_, _, created, err := raw.ExistsW(full)
	if err != nil {
		t.Fatal(err)
	}
	n, err := nodes.New(a, "/pn/late", zkrecipes.ModePersistent, []byte("d"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-holed:
	case <-time.After(testkit.Patience):
		t.Fatal("the node's first look did not happen")
	}
	closed := make(chan error, 1)
	go func() {
		cctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
		defer cancel()
		closed <- n.Close(cctx)
	}()
	var inFlight bool
	select {
	case err := <-createErr:
		inFlight = errors.Is(err, zkrecipes.ErrOutcomeUnknown)
	case <-time.After(testkit.Patience):
		t.Fatal("Close did not end the create")
	}
	fd.Heal() // a held create reaches the server now, after Close began
	if inFlight {
		select {
		case ev := <-created:
			if ev.Type != zk.EventNodeCreated {
				t.Fatalf("watch: %v, want NodeCreated", ev)
			}
		case <-time.After(testkit.Patience):
			t.Fatal("the abandoned create never landed")
		}
	}
	if err := <-closed; err != nil {
		t.Fatalf("round %d: Close: %v", round, err)
	}
	testkit.AwaitNode(t, raw, full, "no node left after Close", func(_ []byte, _ *zk.Stat, ok bool) bool { return !ok })
	return inFlight
}

// go-zk's own loop wedges under a persistent node's client: after the watchdog's
// replacement (the session resumed) the node's watch is gone, and the node sets it again,
// so a delete after the replacement still brings the node back.
func TestPersistentNodeRecoversAfterWedgedLoop(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	fz := zktest.NewFreezer()
	a := testkit.ConnectFreezable(t, srv.Servers(), ns, fz)
	st := testkit.WatchStates(t, a, nil)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	full := "/" + ns + "/pn/w"
	n := startNode(t, a, "/pn/w", zkrecipes.ModeEphemeral, "x")
	waitCreated(t, n)
	_, st0, err := raw.Get(full)
	if err != nil {
		t.Fatal(err)
	}
	sid := a.SessionID()

	testkit.WedgeAndReplace(t, a, st, fz, "/pn")
	if err := raw.Delete(full, -1); err != nil {
		t.Fatal(err)
	}
	testkit.AwaitNode(t, raw, full, "re-created after the replacement", func(d []byte, st *zk.Stat, ok bool) bool {
		return ok && st.Czxid != st0.Czxid && string(d) == "x" && st.EphemeralOwner == sid
	})
}
