package discovery_test

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/internal/probe"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// liveNames maps the instances a test registered to the znode names they should have.
func znodeOwner(name string, ids map[string]bool) (string, bool) {
	if ids[name] {
		return name, true
	}
	for id := range ids {
		if probe.IsSequentialOf(name, id) {
			return id, true
		}
	}
	return "", false
}

// registerWithTinyDeadlines registers n instances of svc (all service types) with
// deadlines of 250us to 2ms and returns the ids of those whose Register succeeded.
func registerWithTinyDeadlines(t *testing.T, d *discovery.Discovery[instanceDetails], n int) (live, failed map[string]bool) {
	t.Helper()
	live, failed = map[string]bool{}, map[string]bool{}
	types := []discovery.ServiceType{discovery.Dynamic, discovery.Static, discovery.DynamicSequential, discovery.Permanent}
	for i := 0; i < n; i++ {
		in := mustInstance(t, "svc", false, discovery.WithServiceType(types[i%len(types)]))
		deadline := 250*time.Microsecond + time.Duration(i%8)*250*time.Microsecond
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		err := d.Register(ctx, in)
		cancel()
		if err == nil {
			live[in.ID] = true
		} else {
			failed[in.ID] = true
		}
	}
	if len(failed) == 0 {
		t.Log("no Register failed; the deadlines were all long enough")
	}
	return live, failed
}

// Registers abandoned mid-write (ctx ends while the create is in flight) leave no znode
// behind once their attempts have resolved, and a Cache shows exactly the instances whose
// Register succeeded.
func TestFailedRegisterLeavesNoOrphan(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	c := connect(t, srv, ns)
	d := newDiscovery(t, c)
	// One instance registered normally, so the parents exist and each abandoned create
	// is a single request.
	anchor := mustInstance(t, "svc", false)
	if err := d.Register(ctx, anchor); err != nil {
		t.Fatal(err)
	}
	live, failed := registerWithTinyDeadlines(t, d, 100)
	live[anchor.ID] = true
	t.Logf("%d registered, %d failed", len(live), len(failed))
	// The session's requests are processed in order: once this read is answered, every
	// abandoned create has been applied or refused, so a node that appeared is there now.
	if _, _, err := c.Children(ctx, "/services/svc"); err != nil {
		t.Fatal(err)
	}

	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	svc := "/" + ns + "/services/svc"
	awaitChildren(t, raw, svc, "only the registered instances remain", func(kids []string) bool {
		seen := map[string]int{}
		for _, k := range kids {
			id, ok := znodeOwner(k, live)
			if !ok {
				return false
			}
			seen[id]++
		}
		for id := range live {
			if seen[id] != 1 {
				return false
			}
		}
		return true
	})

	cache := startCache(t, newDiscovery(t, connect(t, srv, ns)), "svc")
	rec := record(cache)
	want := make([]string, 0, len(live))
	for id := range live {
		want = append(want, id)
	}
	sort.Strings(want)
	got := ids(cache.Instances())
	sort.Strings(got)
	if !slices.Equal(got, want) {
		rec.waitFor(t, 0, "the live set", func(ev discovery.CacheEvent[instanceDetails]) bool {
			g := ids(ev.Instances)
			sort.Strings(g)
			return slices.Equal(g, want)
		})
	}
}

// Close waits for the cleanups of failed Registers: once it returns, nothing of them (or
// of the registered ones) remains.
func TestCloseWaitsForRegisterCleanups(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	c := connect(t, srv, ns)
	d, err := discovery.New[instanceDetails](c, "/services", discovery.WithSerializer(discovery.JSON[instanceDetails](discovery.WithJavaClass(seedClass))))
	if err != nil {
		t.Fatal(err)
	}
	live, failed := registerWithTinyDeadlines(t, d, 60)
	t.Logf("%d registered, %d failed", len(live), len(failed))
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	if kids := children(t, raw, "/"+ns+"/services/svc"); len(kids) != 0 {
		t.Errorf("znodes left after Close: %v", kids)
	}
	if err := d.Register(ctx, mustInstance(t, "svc", false)); !errors.Is(err, discovery.ErrClosed) {
		t.Errorf("Register after Close: %v, want ErrClosed", err)
	}
}

// awaitInstance waits, with data watches, until the znode at path (a server path) holds an
// instance that satisfies cond.
func awaitInstance(t *testing.T, conn *zk.Conn, path, what string, cond func(discovery.Instance[instanceDetails]) bool) {
	t.Helper()
	ser := discovery.JSON[instanceDetails](discovery.WithJavaClass(seedClass))
	deadline := time.NewTimer(testkit.Patience)
	defer deadline.Stop()
	for {
		data, _, ch, err := conn.GetW(path)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		in, err := ser.Deserialize(data)
		if err == nil && cond(in) {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("%s: not true after %v (data %s)", what, testkit.Patience, data)
		}
	}
}

// An Update that fails after the reconnect that rewrites dirty registrations (here: its
// ctx has ended before anything was sent, on a healthy connection) is written in the
// background, with no further fault and no further reconnect.
func TestFailedUpdateIsRewrittenInBackground(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	fd := zktest.NewFaultDialer()
	a := connect(t, srv, ns, zkrecipes.WithDialer(fd.Dial))
	states := logStates(t, a)
	d := newDiscovery(t, a)
	in := mustInstance(t, "svc", false)
	if err := d.Register(ctx, in); err != nil {
		t.Fatal(err)
	}
	rewritten := probe.DiscoveryPass(d) // closed once the reconnect's rewrite is done
	fd.Cut()
	i, _ := states.waitFor(t, 0, zkrecipes.StateSuspended)
	fd.Heal()
	if _, sc := states.waitFor(t, i, zkrecipes.StateReconnected); sc.NewSession {
		t.Fatal("the short cut lost the session")
	}
	select {
	case <-rewritten:
	case <-time.After(testkit.Patience):
		t.Fatal("the reconnect's rewrite did not finish")
	}
	in.Payload.Leader = true
	uctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := d.Update(uctx, in); err == nil {
		t.Fatal("Update with an ended ctx succeeded")
	}
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	awaitInstance(t, raw, "/"+ns+"/services/svc/"+in.ID, "the latest payload written", func(got discovery.Instance[instanceDetails]) bool {
		return got.Payload.Leader
	})
}

// watchesOf counts, with the wchc four-letter word, the server-side watches of session.
func watchesOf(t *testing.T, srv *zktest.Server, session int64) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	out, err := zktest.FourLetter(ctx, srv.Addr(), "wchc")
	if err != nil {
		t.Fatal(err)
	}
	id := "0x" + strconv.FormatInt(session, 16)
	n, in := 0, false
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "0x"):
			in = strings.TrimSpace(line) == id
		case in && strings.TrimSpace(line) != "":
			n++
		}
	}
	return n
}

// A child the cache's client may not read (a Java service that registered with a digest
// ACL) is skipped and reported like malformed data: Start returns, the Provider works,
// and a started cache neither re-reads every child nor piles up watches because of it.
func TestCacheSkipsUnreadableInstance(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	dw := newDiscovery(t, connect(t, srv, ns))
	for i := 0; i < 20; i++ {
		if err := dw.Register(ctx, mustInstance(t, "svc", false)); err != nil {
			t.Fatal(err)
		}
	}
	cc := connect(t, srv, ns)
	var reported errs
	dc := newDiscovery(t, cc, discovery.WithErrorHandler(reported.add))
	started := startCache(t, dc, "svc")
	rec := record(started)
	goroutines, watches := cacheWatches(started), watchesOf(t, srv, cc.SessionID())

	// The Java service: its znode is valid JSON, readable only with its credentials.
	java, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	if err := java.AddAuth("digest", []byte("java:secret")); err != nil {
		t.Fatal(err)
	}
	hidden := mustInstance(t, "svc", true)
	data, err := dw.Serializer().Serialize(hidden)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := java.Create("/"+ns+"/services/svc/"+hidden.ID, data, 0, zk.DigestACL(zk.PermAll, "java", "secret")); err != nil {
		t.Fatal(err)
	}

	// A cache started now loads what it can read.
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	fresh, err := dc.Cache("svc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fresh.Close(context.Background()) })
	if err := fresh.Start(sctx); err != nil {
		t.Fatalf("Start with an unreadable child: %v", err)
	}
	if n := len(fresh.Instances()); n != 20 {
		t.Errorf("fresh cache has %d instances, want 20", n)
	}
	p, err := discovery.NewProvider(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Instance(sctx); err != nil {
		t.Errorf("Provider.Instance: %v", err)
	}
	var ne *discovery.NodeError
	found := false
	for _, e := range reported.all() {
		if errors.As(e, &ne) && errors.Is(e, zk.ErrNoAuth) && strings.HasSuffix(ne.Path, hidden.ID) {
			found = true
		}
	}
	if !found {
		t.Errorf("the unreadable child was not reported as a NodeError with ErrNoAuth: %v", reported.all())
	}
	if err := fresh.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if all, err := dc.Instances(ctx, "svc"); err != nil || len(all) != 20 {
		t.Errorf("Instances with an unreadable child: %d instances, %v", len(all), err)
	}

	// The started cache: changes keep flowing, and its watches stay flat (one more for
	// the unreadable child, which it keeps an eye on without reading it).
	for round := 0; round < 5; round++ {
		extra := mustInstance(t, "svc", false)
		from := len(rec.All())
		if err := dw.Register(ctx, extra); err != nil {
			t.Fatal(err)
		}
		rec.waitFor(t, from, "extra added", func(ev discovery.CacheEvent[instanceDetails]) bool { return len(ev.Added) == 1 })
		from = len(rec.All())
		if err := dw.Unregister(ctx, extra); err != nil {
			t.Fatal(err)
		}
		rec.waitFor(t, from, "extra removed", func(ev discovery.CacheEvent[instanceDetails]) bool { return len(ev.Removed) == 1 })
		if n := len(started.Instances()); n != 20 {
			t.Errorf("round %d: started cache has %d instances, want 20", round, n)
		}
		if g := cacheWatches(started); g > goroutines+1 {
			t.Errorf("round %d: %d watch goroutines, %d at the start", round, g, goroutines)
		}
		if w := watchesOf(t, srv, cc.SessionID()); w > watches+1 {
			t.Errorf("round %d: %d server-side watches, %d at the start", round, w, watches)
		}
	}
	t.Logf("watch goroutines %d -> %d; server watches %d -> %d", goroutines, cacheWatches(started), watches, watchesOf(t, srv, cc.SessionID()))
}

// Bad input is refused at once, with an error naming what was wrong.
func TestBadInputRefusedAtOnce(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)

	t.Run("ports", func(t *testing.T) {
		for _, tc := range []struct {
			opt  discovery.InstanceOption
			what string
		}{
			{discovery.WithPort(-1), "port -1"}, {discovery.WithPort(65536), "port 65536"},
			{discovery.WithSSLPort(-80), "sslPort -80"}, {discovery.WithSSLPort(1 << 20), "sslPort 1048576"},
		} {
			_, err := discovery.NewInstance("svc", instanceDetails{}, discovery.WithAddress("127.0.0.1"), tc.opt)
			if !errors.Is(err, discovery.ErrInvalidInstance) || !strings.Contains(err.Error(), tc.what) {
				t.Errorf("%s: %v, want ErrInvalidInstance naming it", tc.what, err)
			}
		}
		in := mustInstance(t, "svc", false)
		bad := 70000
		in.Port = &bad
		if err := in.Validate(); !errors.Is(err, discovery.ErrInvalidInstance) || !strings.Contains(err.Error(), "port 70000") {
			t.Errorf("Validate of port 70000: %v", err)
		}
		for _, ok := range []int{0, 1, 65535} {
			if _, err := discovery.NewInstance("svc", instanceDetails{}, discovery.WithAddress("127.0.0.1"), discovery.WithPort(ok), discovery.WithSSLPort(ok)); err != nil {
				t.Errorf("port %d refused: %v", ok, err)
			}
		}
	})

	t.Run("closed client", func(t *testing.T) {
		c := connect(t, srv, ns)
		d := newDiscovery(t, c)
		if err := c.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := discovery.New[instanceDetails](c, "/services"); !errors.Is(err, zkrecipes.ErrClosed) {
			t.Errorf("New on a closed Client: %v, want zkrecipes.ErrClosed", err)
		}
		if _, err := d.Cache("svc"); !errors.Is(err, zkrecipes.ErrClosed) {
			t.Errorf("Cache on a closed Client: %v, want zkrecipes.ErrClosed", err)
		}
	})

	t.Run("cache", func(t *testing.T) {
		d := newDiscovery(t, connect(t, srv, ns))
		never, err := d.Cache("svc")
		if err != nil {
			t.Fatal(err)
		}
		p, err := discovery.NewProvider(never)
		if err != nil {
			t.Fatal(err)
		}
		// A hang would end at ctx's deadline, with another error.
		if _, err := p.Instance(ctx); !errors.Is(err, discovery.ErrNotStarted) {
			t.Errorf("Provider.Instance on a cache never started: %v, want ErrNotStarted", err)
		}
		closed, err := d.Cache("svc")
		if err != nil {
			t.Fatal(err)
		}
		if err := closed.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := closed.Start(ctx); !errors.Is(err, discovery.ErrClosed) {
			t.Errorf("Start after Close: %v, want ErrClosed", err)
		}
	})
}

// A listener that blocks for seconds while thousands of changes happen does not make
// the cache's queue grow: pending changes are coalesced, connection states keep their
// order, and the listener ends up seeing the final state.
func TestSlowListenerQueueStaysBounded(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	dw := newDiscovery(t, connect(t, srv, ns))
	insts := make([]discovery.Instance[instanceDetails], 4)
	for i := range insts {
		insts[i] = mustInstance(t, "svc", false)
		if err := dw.Register(ctx, insts[i]); err != nil {
			t.Fatal(err)
		}
	}
	fd := zktest.NewFaultDialer()
	cc := connect(t, srv, ns, zkrecipes.WithDialer(fd.Dial))
	states := logStates(t, cc)
	cache := startCache(t, newDiscovery(t, cc), "svc")
	gate, entered := make(chan struct{}), make(chan struct{})
	var once bool
	cache.Listen(func(discovery.CacheEvent[instanceDetails]) {
		if !once {
			once = true
			close(entered)
			<-gate
		}
	})
	rec := record(cache)

	update := func(round int) {
		in := insts[round%len(insts)]
		in.Payload.Leader = round%2 == 1
		if err := dw.Update(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	update(1)
	select {
	case <-entered:
	case <-time.After(testkit.Patience):
		t.Fatal("the listener was never called")
	}
	const rounds = 2000
	for round := 2; round < rounds; round++ {
		update(round)
		if round == rounds/2 {
			fd.Cut()
			i, _ := states.waitFor(t, 0, zkrecipes.StateSuspended)
			fd.Heal()
			states.waitFor(t, i, zkrecipes.StateReconnected)
		}
	}
	// The final state: every instance with Leader true.
	for i := range insts {
		insts[i].Payload.Leader = true
		if err := dw.Update(ctx, insts[i]); err != nil {
			t.Fatal(err)
		}
	}
	close(gate)
	rec.waitFor(t, 0, "the final state", func(ev discovery.CacheEvent[instanceDetails]) bool {
		return ev.Kind == discovery.CacheChanged && allLeaders(ev, len(insts))
	})
	var seen []string
	for _, ev := range rec.All() {
		if ev.Kind == discovery.ConnectionStateChanged {
			seen = append(seen, ev.State.State.String())
		}
	}
	// At most one entry per state, and one per instance between two of them (package
	// cache's bound: the number of znodes, per stretch between markers), however many
	// changes there were.
	if hw := cacheQueueHighWater(cache); hw > len(insts)*(len(seen)+1)+len(seen) {
		t.Errorf("the event queue held up to %d events while the listener was blocked", hw)
	}
	if got := strings.Join(seen, ","); got != "SUSPENDED,RECONNECTED" {
		t.Errorf("states delivered %s, want SUSPENDED,RECONNECTED", got)
	}
	t.Logf("%d events delivered for %d updates; queue high-water mark %d", len(rec.All()), rounds, cacheQueueHighWater(cache))
}

// A Register whose create reply is lost (the create reached ZooKeeper, the connection
// dropped before the answer) succeeds once, with exactly one znode owned by the current
// session and holding the instance; the retried create's NodeExists is resolved by
// ownership, never by taking any node at that path for ours.
func TestRegisterAfterLostCreateReply(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	fd := zktest.NewFaultDialer()
	a := connect(t, srv, ns, zkrecipes.WithDialer(fd.Dial))
	d := newDiscovery(t, a)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	for _, typ := range []discovery.ServiceType{discovery.Dynamic, discovery.Static, discovery.DynamicSequential} {
		in := mustInstance(t, "svc-"+strings.ToLower(string(typ)), true, discovery.WithServiceType(typ))
		svc := "/" + ns + "/services/" + in.Name
		if err := d.Register(ctx, mustInstance(t, in.Name, false)); err != nil { // parents
			t.Fatal(err)
		}
		lost := fd.LoseNextReply(func(op int32, p string) bool {
			return (op == zktest.OpCreate || op == zktest.OpCreate2) && strings.HasPrefix(p, svc+"/"+in.ID)
		})
		err := d.Register(ctx, in)
		select {
		case <-lost:
		default:
			t.Fatalf("%s: no create reply was lost", typ)
		}
		if typ == discovery.DynamicSequential {
			// A sequential create is never replayed: its outcome is unknown, so the
			// Register fails and cleans up.
			if err == nil {
				continue
			}
			awaitChildren(t, raw, svc, "no sequential znode left", func(kids []string) bool {
				for _, k := range kids {
					if probe.IsSequentialOf(k, in.ID) {
						return false
					}
				}
				return true
			})
			continue
		}
		if err != nil {
			t.Fatalf("%s: Register after a lost reply: %v", typ, err)
		}
		_, st, err := raw.Get(svc + "/" + in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if typ == discovery.Dynamic && st.EphemeralOwner != a.SessionID() {
			t.Errorf("%s: owner %x, want %x", typ, st.EphemeralOwner, a.SessionID())
		}
		awaitInstance(t, raw, svc+"/"+in.ID, string(typ)+" holds the instance", func(got discovery.Instance[instanceDetails]) bool {
			return got.ID == in.ID && got.Payload.Leader
		})
	}
}
