package client_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/retry"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

const wait = 30 * time.Second // generous deadline for anything that should happen "soon"

func connect(t testing.TB, servers []string, opts ...zkrecipes.Option) *zkrecipes.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := zkrecipes.Connect(ctx, servers, opts...)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// recorder keeps every state change a listener saw and lets a test wait for one.
type recorder struct {
	mu      sync.Mutex
	changes []zkrecipes.StateChange
	signal  chan struct{}
}

func record(c *zkrecipes.Client) *recorder {
	r := &recorder{signal: make(chan struct{}, 1)}
	c.Listen(r.add)
	return r
}

// add is the recorder's listener function.
func (r *recorder) add(sc zkrecipes.StateChange) {
	r.mu.Lock()
	r.changes = append(r.changes, sc)
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

func (r *recorder) all() []zkrecipes.StateChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]zkrecipes.StateChange(nil), r.changes...)
}

// waitFor waits until a change with state s has been seen after index from, returning it
// and its index.
func (r *recorder) waitFor(t testing.TB, from int, s zkrecipes.State) (zkrecipes.StateChange, int) {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		for i := from; i < len(r.changes); i++ {
			if r.changes[i].State == s {
				sc := r.changes[i]
				r.mu.Unlock()
				return sc, i
			}
		}
		r.mu.Unlock()
		select {
		case <-r.signal:
		case <-deadline.C:
			t.Fatalf("no %v within %v; saw %v", s, wait, r.states())
		}
	}
}

// never fails the test if state s was seen; what says when it must not happen.
func (r *recorder) never(t testing.TB, s zkrecipes.State, what string) {
	t.Helper()
	for _, st := range r.states() {
		if st == s.String() {
			t.Fatalf("%v %s: %v", s, what, r.states())
		}
	}
}

func (r *recorder) states() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.changes {
		out = append(out, c.State.String())
	}
	return out
}

func TestCreateGetSetDelete(t *testing.T) {
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second))
	ctx := ctxT(t)

	p, err := c.Create(ctx, base+"/a/b", []byte("v1"), zkrecipes.ModePersistent, zkrecipes.WithParents())
	if err != nil || p != base+"/a/b" {
		t.Fatalf("create = %q, %v", p, err)
	}
	// Parents are containers with empty data.
	data, st, err := c.Get(ctx, base+"/a")
	if err != nil || len(data) != 0 || st == nil {
		t.Fatalf("parent: %q %v", data, err)
	}
	data, st, err = c.Get(ctx, base+"/a/b")
	if err != nil || string(data) != "v1" {
		t.Fatalf("get = %q, %v", data, err)
	}
	if _, err := c.Set(ctx, base+"/a/b", []byte("v2"), st.Version+1); !errors.Is(err, zk.ErrBadVersion) {
		t.Fatalf("set with a wrong version: %v", err)
	}
	if _, err := c.Set(ctx, base+"/a/b", []byte("v2"), st.Version); err != nil {
		t.Fatal(err)
	}
	kids, _, err := c.Children(ctx, base+"/a")
	if err != nil || len(kids) != 1 || kids[0] != "b" {
		t.Fatalf("children = %v, %v", kids, err)
	}
	_, err = c.Create(ctx, base+"/a/b", nil, zkrecipes.ModePersistent)
	var oe *zkrecipes.OpError
	if !errors.Is(err, zk.ErrNodeExists) || !errors.As(err, &oe) || oe.Path != base+"/a/b" || oe.Attempts != 1 {
		t.Fatalf("duplicate create: %v", err)
	}
	if _, _, err := c.Get(ctx, base+"/missing"); !errors.Is(err, zk.ErrNoNode) || !strings.Contains(err.Error(), base+"/missing") {
		t.Fatalf("get missing: %v", err)
	}
	_, _, ch, err := c.GetW(ctx, base+"/a/b")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, base+"/a/b", -1); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-ch:
		if ev.Type != zk.EventNodeDeleted {
			t.Fatalf("watch event %v", ev)
		}
	case <-ctx.Done():
		t.Fatal("no watch event")
	}
	if ok, _, err := c.Exists(ctx, base+"/a/b"); ok || err != nil {
		t.Fatalf("exists after delete = %v, %v", ok, err)
	}
	if err := c.DeleteGuaranteed(ctx, base+"/a/b", -1); err != nil {
		t.Fatalf("guaranteed delete of a missing node: %v", err)
	}
	if err := c.Sync(ctx, base); err != nil {
		t.Fatal(err)
	}
}

func TestMultiWithVersionCheck(t *testing.T) {
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second))
	ctx := ctxT(t)
	if err := c.EnsurePath(ctx, base); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, base+"/guard", nil, zkrecipes.ModePersistent); err != nil {
		t.Fatal(err)
	}
	res, err := c.Multi(ctx,
		&zk.CheckVersionRequest{Path: base + "/guard", Version: 0},
		&zk.CreateRequest{Path: base + "/x", Data: []byte("1")},
	)
	if err != nil || len(res) != 2 || res[1].String != base+"/x" {
		t.Fatalf("multi = %+v, %v", res, err)
	}
	_, err = c.Multi(ctx,
		&zk.CheckVersionRequest{Path: base + "/guard", Version: 5},
		&zk.CreateRequest{Path: base + "/y", Data: []byte("1")},
	)
	if !errors.Is(err, zk.ErrBadVersion) {
		t.Fatalf("multi with a failing check: %v", err)
	}
	if ok, _, _ := c.Exists(ctx, base+"/y"); ok {
		t.Fatal("a failed multi applied its create")
	}
}

func TestBadInput(t *testing.T) {
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second), zkrecipes.WithMaxDataSize(1024))
	ctx := ctxT(t)
	for _, p := range []string{"", "rel", base + "/", base + "//x", base + "/../x"} {
		if _, err := c.Create(ctx, p, nil, zkrecipes.ModePersistent); !errors.Is(err, zkrecipes.ErrInvalidPath) {
			t.Errorf("create %q: %v", p, err)
		}
	}
	_, err := c.Create(ctx, base+"/big", make([]byte, 1025), zkrecipes.ModePersistent, zkrecipes.WithParents())
	if !errors.Is(err, zkrecipes.ErrDataTooLarge) || !strings.Contains(err.Error(), "1025") {
		t.Errorf("oversized create: %v", err)
	}
	if _, err := zkrecipes.Connect(ctx, srv.Servers(), zkrecipes.WithSessionTimeout(-1)); !errors.Is(err, zkrecipes.ErrInvalidArgument) {
		t.Errorf("negative session timeout: %v", err)
	}
	if _, err := zkrecipes.Connect(ctx, srv.Servers(), zkrecipes.WithNamespace("a/../b")); !errors.Is(err, zkrecipes.ErrInvalidPath) {
		t.Errorf("bad namespace: %v", err)
	}
}

func TestNamespaceAndACL(t *testing.T) {
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	ctx := ctxT(t)
	owner := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second),
		zkrecipes.WithNamespace(base[1:]+"/ns"),
		zkrecipes.WithDigestAuth("alice", "secret"),
		zkrecipes.WithACL(zk.AuthACL(zk.PermAll)))
	if _, err := owner.Create(ctx, "/a/b", []byte("x"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	// A connect string chroot is a namespace too.
	other := connect(t, []string{srv.ConnectString() + base}, zkrecipes.WithSessionTimeout(4*time.Second))
	ok, _, err := other.Exists(ctx, "/ns/a/b")
	if err != nil || !ok {
		t.Fatalf("node not under the namespace: %v %v", ok, err)
	}
	if err := other.Delete(ctx, "/ns/a/b", -1); !errors.Is(err, zk.ErrNoAuth) {
		t.Fatalf("delete without credentials: %v, want NoAuth", err)
	}
	if _, _, err := other.Get(ctx, "/ns/a/b"); !errors.Is(err, zk.ErrNoAuth) {
		t.Fatalf("read without credentials: %v, want NoAuth", err)
	}
	if err := owner.Delete(ctx, "/a/b", -1); err != nil {
		t.Fatalf("owner delete: %v", err)
	}
}

// Cut shorter than the session timeout: SUSPENDED, then RECONNECTED on the same session,
// and an operation issued during the cut succeeds once the connection heals.
func TestShortCutKeepsSession(t *testing.T) {
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	fd := zktest.NewFaultDialer()
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second),
		zkrecipes.WithDialer(fd.Dial), zkrecipes.WithRetryPolicy(retry.NTimes(100, 100*time.Millisecond)))
	rec := record(c)
	ctx := ctxT(t)
	if _, err := c.Create(ctx, base+"/eph", []byte("x"), zkrecipes.ModeEphemeral, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	sid := c.SessionID()

	fd.Cut()
	_, i := rec.waitFor(t, 0, zkrecipes.StateSuspended)
	if st := c.State(); st != zkrecipes.StateSuspended {
		t.Fatalf("state %v during the cut", st)
	}
	got := make(chan error, 1)
	go func() {
		_, _, err := c.Get(ctx, base+"/eph")
		got <- err
	}()
	fd.Heal()
	sc, _ := rec.waitFor(t, i, zkrecipes.StateReconnected)
	if sc.NewSession || sc.SessionID != sid {
		t.Fatalf("reconnected %+v, want the same session %d", sc, sid)
	}
	if err := <-got; err != nil {
		t.Fatalf("get issued during the cut: %v", err)
	}
	rec.never(t, zkrecipes.StateLost, "during a short cut")
}

// Cut longer than the session timeout: SUSPENDED, LOST by the client's own timer no later
// than the negotiated timeout + 1 s after the cut, the server expires the session (its
// ephemerals vanish), and the heal brings RECONNECTED with a new session.
func TestLongCutLosesSession(t *testing.T) {
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	fd := zktest.NewFaultDialer()
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(time.Second), zkrecipes.WithDialer(fd.Dial))
	observer := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second))
	rec := record(c)
	ctx := ctxT(t)
	if _, err := c.Create(ctx, base+"/eph", []byte("x"), zkrecipes.ModeEphemeral, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	_, _, gone, err := observer.ExistsW(ctx, base+"/eph")
	if err != nil {
		t.Fatal(err)
	}
	oldSession := c.SessionID()
	negotiated := c.SessionTimeout()

	cutAt := time.Now()
	fd.Cut()
	rec.waitFor(t, 0, zkrecipes.StateSuspended)
	lost, i := rec.waitFor(t, 0, zkrecipes.StateLost)
	if d := lost.Time.Sub(cutAt); d > negotiated+time.Second {
		t.Errorf("LOST %v after the cut; negotiated session timeout %v", d, negotiated)
	}
	// The server expires the session on its own: the ephemeral goes away.
	select {
	case ev := <-gone:
		if ev.Type != zk.EventNodeDeleted {
			t.Fatalf("observer saw %v", ev)
		}
	case <-ctx.Done():
		t.Fatal("server never expired the session")
	}
	fd.Heal()
	sc, _ := rec.waitFor(t, i, zkrecipes.StateReconnected)
	if !sc.NewSession || sc.SessionID == oldSession {
		t.Fatalf("reconnected %+v, want a new session (old %d)", sc, oldSession)
	}
	if ok, _, _ := observer.Exists(ctx, base+"/eph"); ok {
		t.Fatal("ephemeral of the expired session still there")
	}
}

// Killing the server the client is connected to in a 3-node ensemble: SUSPENDED, then
// RECONNECTED on the same session through another server, and no LOST.
func TestEnsembleServerKill(t *testing.T) {
	t.Run("harness-provider", func(t *testing.T) {
		ensembleServerKill(t, func(ens *zktest.Ensemble) []zkrecipes.Option {
			return []zkrecipes.Option{zkrecipes.WithHostProvider(ens.HostProvider())}
		})
	})
	// The Client's own provider: the victim is only killed, so the addresses stay.
	t.Run("default-provider", func(t *testing.T) {
		ensembleServerKill(t, func(*zktest.Ensemble) []zkrecipes.Option { return nil })
	})
}

func ensembleServerKill(t *testing.T, opts func(*zktest.Ensemble) []zkrecipes.Option) {
	ens := zktest.StartEnsemble(t, 3)
	ctx := ctxT(t)
	c := connect(t, ens.Servers(), append(opts(ens), zkrecipes.WithSessionTimeout(4*time.Second))...)
	rec := record(c)
	sid := c.SessionID()
	var victim *zktest.Node
	for _, n := range ens.Nodes {
		if n.Addr() == c.Conn().Server() {
			victim = n
		}
	}
	if victim == nil {
		t.Fatalf("connected to %q, not one of the ensemble's nodes", c.Conn().Server())
	}
	if err := victim.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 0, zkrecipes.StateSuspended)
	sc, _ := rec.waitFor(t, 0, zkrecipes.StateReconnected)
	if sc.NewSession || sc.SessionID != sid {
		t.Fatalf("reconnected %+v, want the same session %d", sc, sid)
	}
	if c.Conn().Server() == victim.Addr() {
		t.Fatal("reconnected to the killed server")
	}
	rec.never(t, zkrecipes.StateLost, "after a single server kill")
	if err := c.Sync(ctx, "/"); err != nil {
		t.Fatal(err)
	}
}

// protectedCreate matches the request of a protected create, for FaultDialer.LoseNextReply.
func protectedCreate(op int32, path string) bool {
	return (op == zktest.OpCreate || op == zktest.OpCreate2) && strings.Contains(path, "/_c_")
}

func TestProtectedCreateRecoversLostReply(t *testing.T) {
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	fd := zktest.NewFaultDialer()
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second), zkrecipes.WithDialer(fd.Dial),
		zkrecipes.WithRetryPolicy(retry.NTimes(50, 100*time.Millisecond)))
	ctx := ctxT(t)
	if err := c.EnsurePath(ctx, base+"/latch"); err != nil {
		t.Fatal(err)
	}
	fired := fd.LoseNextReply(protectedCreate)
	p, err := c.CreateProtected(ctx, base+"/latch/latch-", []byte("id"), zkrecipes.ModeEphemeralSequential)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-fired:
	default:
		t.Fatal("the create was never cut")
	}
	kids, _, err := c.Children(ctx, base+"/latch")
	if err != nil {
		t.Fatal(err)
	}
	if len(kids) != 1 || base+"/latch/"+kids[0] != p {
		t.Fatalf("children %v, returned %q: want exactly the returned node", kids, p)
	}
	name := kids[0]
	if rest, ok := zkrecipes.ProtectedName(name); !ok || !strings.HasPrefix(rest, "latch-") || len(rest) != len("latch-")+10 {
		t.Fatalf("node name %q is not Curator's protected format", name)
	}
}

func TestProtectedCreateCleansUpAfterGivingUp(t *testing.T) {
	// go-zk fails requests queued while disconnected only once a second, so the retries
	// take seconds: the session must outlive them, or its expiry would remove the orphan
	// and the test would prove nothing. tickTime 1 s allows a 10 s session.
	srv := zktest.StartDedicated(t, zktest.WithTickTime(time.Second))
	base := zktest.BasePath(t)
	fd := zktest.NewFaultDialer()
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(10*time.Second), zkrecipes.WithDialer(fd.Dial),
		zkrecipes.WithRetryPolicy(retry.NTimes(2, 50*time.Millisecond)))
	observer := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second))
	ctx := ctxT(t)
	if err := c.EnsurePath(ctx, base+"/latch"); err != nil {
		t.Fatal(err)
	}
	fd.LoseNextReplyAndCut(protectedCreate)
	if _, err := c.CreateProtected(ctx, base+"/latch/latch-", nil, zkrecipes.ModeEphemeralSequential); err == nil {
		t.Fatal("create succeeded although the connection stayed down")
	}
	// The server applied the create: the orphan exists until the client cleans it up.
	kids, _, err := observer.Children(ctx, base+"/latch")
	if err != nil || len(kids) != 1 {
		t.Fatalf("orphan: %v %v", kids, err)
	}
	fd.Heal()
	for {
		kids, _, ch, err := observer.ChildrenW(ctx, base+"/latch")
		if err != nil {
			t.Fatal(err)
		}
		if len(kids) == 0 {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("orphan %v never cleaned up", kids)
		}
	}
}

// A call blocked on an unreachable server returns promptly when its ctx ends.
func TestContextCancelOnDeadServer(t *testing.T) {
	srv := zktest.Start(t)
	fd := zktest.NewFaultDialer()
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second), zkrecipes.WithDialer(fd.Dial),
		zkrecipes.WithRetryPolicy(retry.Forever(100*time.Millisecond)))
	fd.BlackHole()
	defer fd.Heal()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Get(ctx, "/")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
	case <-time.After(wait):
		t.Fatal("call did not return after its context ended")
	}
}

func TestListenerIsolation(t *testing.T) {
	srv := zktest.Start(t)
	fd := zktest.NewFaultDialer()
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second), zkrecipes.WithDialer(fd.Dial))
	block := make(chan struct{})
	c.Listen(func(zkrecipes.StateChange) { <-block }) // a stuck listener
	rec := record(c)
	fd.Cut()
	rec.waitFor(t, 0, zkrecipes.StateSuspended)
	fd.Heal()
	rec.waitFor(t, 0, zkrecipes.StateReconnected)
	close(block)
}

// Production-like settings: a server with ZooKeeper's default tickTime (2 s) and a client
// with Curator's defaults. The server clamps the 60 s session to 20 ticks, and the Client's
// LOST timer must use that negotiated value.
func TestProductionLikeSettings(t *testing.T) {
	srv := zktest.StartDedicated(t, zktest.WithTickTime(2*time.Second))
	base := zktest.BasePath(t)
	fd := zktest.NewFaultDialer()
	c := connect(t, srv.Servers(), zkrecipes.WithDialer(fd.Dial))
	if got := c.SessionTimeout(); got != 40*time.Second {
		t.Fatalf("negotiated session timeout %v, want 40s (20 x tickTime)", got)
	}
	rec := record(c)
	ctx := ctxT(t)
	if _, err := c.Create(ctx, base+"/eph", nil, zkrecipes.ModeEphemeral, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	sid := c.SessionID()
	fd.Cut()
	_, i := rec.waitFor(t, 0, zkrecipes.StateSuspended)
	fd.Heal()
	sc, _ := rec.waitFor(t, i, zkrecipes.StateReconnected)
	if sc.NewSession || sc.SessionID != sid {
		t.Fatalf("reconnected %+v, want session %d", sc, sid)
	}
	if ok, _, err := c.Exists(ctx, base+"/eph"); !ok || err != nil {
		t.Fatalf("ephemeral after a short cut: %v %v", ok, err)
	}
}

// orderedHosts is a zk.HostProvider that tries servers in the given order.
type orderedHosts struct {
	servers []string
	next    int
}

func (h *orderedHosts) Init([]string) error { return nil }
func (h *orderedHosts) Len() int            { return len(h.servers) }
func (h *orderedHosts) Connected()          {}
func (h *orderedHosts) Next() (string, bool) {
	s := h.servers[h.next%len(h.servers)]
	h.next++
	return s, h.next > len(h.servers) && h.next%len(h.servers) == 1
}

// A frozen server (SIGSTOP, a VM pause) still accepts TCP connections but never answers
// the handshake. go-zk alone would wait 10x its read timeout (about 27 s for a 4 s session)
// before trying the next server; the Client caps the handshake at the session timeout
// divided by the number of servers, so it connects through the healthy one in time.
func TestConnectSkipsFrozenServer(t *testing.T) {
	frozen := zktest.StartDedicated(t)
	if frozen.Node() == nil {
		t.Skip("the external backend cannot pause a server")
	}
	healthy := zktest.Start(t)
	ctx := ctxT(t)
	if err := frozen.Node().Pause(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = frozen.Node().Unpause(context.Background()) })
	hosts := &orderedHosts{servers: []string{frozen.Addr(), healthy.Addr()}}
	c := connect(t, []string{frozen.Addr(), healthy.Addr()},
		zkrecipes.WithSessionTimeout(4*time.Second),
		zkrecipes.WithConnectionTimeout(10*time.Second),
		zkrecipes.WithHostProvider(hosts))
	if got := c.Conn().Server(); got != healthy.Addr() {
		t.Fatalf("connected to %s, want the healthy server %s", got, healthy.Addr())
	}
}

// Partitioning the server the client is connected to (a follower) from the rest of a
// 3-node ensemble: that server loses quorum and drops its clients; the client moves to a
// server of the majority, which kept serving, with the same session. No LOST. (A
// partitioned leader makes the majority elect a new one first; how long that takes depends
// on the ensemble's timeouts, and only beyond the session timeout would LOST be right.)
func TestEnsembleServerPartitioned(t *testing.T) {
	ens := zktest.StartEnsemble(t, 3, zktest.WithTickTime(500*time.Millisecond))
	ctx := ctxT(t)
	lead, err := ens.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var victim *zktest.Node
	order := []string{}
	for _, n := range ens.Nodes {
		if n != lead && victim == nil {
			victim = n
			order = append([]string{n.Addr()}, order...)
		} else {
			order = append(order, n.Addr())
		}
	}
	c := connect(t, ens.Servers(), zkrecipes.WithHostProvider(&orderedHosts{servers: order}),
		zkrecipes.WithSessionTimeout(8*time.Second))
	if c.Conn().Server() != victim.Addr() {
		t.Fatalf("connected to %q, want the follower %q", c.Conn().Server(), victim.Addr())
	}
	rec := record(c)
	base := zktest.BasePath(t)
	if _, err := c.Create(ctx, base+"/eph", nil, zkrecipes.ModeEphemeral, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	sid := c.SessionID()
	if err := victim.Partition(ctx); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 0, zkrecipes.StateSuspended)
	sc, _ := rec.waitFor(t, 0, zkrecipes.StateReconnected)
	if sc.NewSession || sc.SessionID != sid {
		t.Fatalf("reconnected %+v, want the same session %d", sc, sid)
	}
	if c.Conn().Server() == victim.Addr() {
		t.Fatal("reconnected to the partitioned server")
	}
	if ok, _, err := c.Exists(ctx, base+"/eph"); !ok || err != nil {
		t.Fatalf("ephemeral after moving servers: %v %v", ok, err)
	}
	if err := victim.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	rec.never(t, zkrecipes.StateLost, "after a partition of one server")
}

// A guaranteed delete that cannot reach the server keeps trying in the background and
// deletes the node once the connection is back.
func TestDeleteGuaranteedFinishesAfterHeal(t *testing.T) {
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	fd := zktest.NewFaultDialer()
	c := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second), zkrecipes.WithDialer(fd.Dial),
		zkrecipes.WithRetryPolicy(retry.NTimes(1, 10*time.Millisecond)))
	observer := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second))
	ctx := ctxT(t)
	if _, err := c.Create(ctx, base+"/victim", nil, zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	ok, _, gone, err := observer.ExistsW(ctx, base+"/victim")
	if err != nil || !ok {
		t.Fatalf("exists: %v %v", ok, err)
	}
	fd.Cut()
	if err := c.DeleteGuaranteed(ctx, base+"/victim", -1); err == nil {
		t.Fatal("delete succeeded while the connection was cut")
	}
	fd.Heal()
	select {
	case ev := <-gone:
		if ev.Type != zk.EventNodeDeleted {
			t.Fatalf("observer saw %v", ev)
		}
	case <-ctx.Done():
		t.Fatal("the guaranteed delete never finished")
	}
}
