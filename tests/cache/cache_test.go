package cache_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"go.uber.org/goleak"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/cache"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// The same tree seen through the four depths: 0 is the root alone, 1 adds its children,
// 2 their children, Unlimited everything. The initial load is reported in tree order, then
// Initialized; later changes reach exactly the caches deep enough to hold them; each
// cache's session holds one data watch per cached znode and one child watch per cached
// znode above the depth, and nothing else.
func TestDepths(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	w := writer{t, connect(t, srv, ns)}
	for _, p := range []string{"/app", "/app/a", "/app/a/x", "/app/a/x/deep", "/app/b"} {
		w.create(p, strings.TrimPrefix(p, "/app"))
	}
	type run struct {
		depth  int
		client *zkrecipes.Client
		c      *cache.Cache[string]
		rec    *recorder[string]
	}
	var runs []run
	for _, d := range []int{0, 1, 2, cache.Unlimited} {
		cl := connect(t, srv, ns)
		c, rec := startCache(t, cl, "/app", cache.String, cache.WithDepth(d))
		runs = append(runs, run{d, cl, c, rec})
	}
	initial := map[int][]string{
		0:               {"/app"},
		1:               {"/app", "/app/a", "/app/b"},
		2:               {"/app", "/app/a", "/app/a/x", "/app/b"},
		cache.Unlimited: {"/app", "/app/a", "/app/a/x", "/app/a/x/deep", "/app/b"},
	}
	for _, r := range runs {
		r.rec.waitFor(t, 0, "Initialized", isType[string](cache.Initialized))
		var want []string
		for _, p := range initial[r.depth] {
			want = append(want, fmt.Sprintf("NodeCreated %s=%s", p, strings.TrimPrefix(p, "/app")))
		}
		want = append(want, "Initialized")
		if got := strings.Split(strings.TrimSpace(describe(r.rec.All())), "\n"); !slices.Equal(got, want) {
			t.Errorf("depth %d: initial events\n%s\nwant\n%s", r.depth, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if r.c.Len() != len(initial[r.depth]) {
			t.Errorf("depth %d: Len %d", r.depth, r.c.Len())
		}
	}
	want := map[int64]watchSet{}
	for _, r := range runs {
		want[r.client.SessionID()] = expectedWatches(ns, "/app", serverTree(t, w.c, "/app", r.depth), r.depth)
	}
	checkWatches(t, srv, "initial", want)

	w.set("/app", "root2")
	w.set("/app/a/x", "x2")
	w.create("/app/c", "c")
	w.create("/app/a/x/deep2", "d2")
	w.deleteAll("/app/b")
	after := map[int][]string{
		0:               {"NodeChanged /app >root2"},
		1:               {"NodeChanged /app >root2", "NodeCreated /app/c=c", "NodeDeleted /app/b=/b"},
		2:               {"NodeChanged /app >root2", "NodeChanged /app/a/x /a/x>x2", "NodeCreated /app/c=c", "NodeDeleted /app/b=/b"},
		cache.Unlimited: {"NodeChanged /app >root2", "NodeChanged /app/a/x /a/x>x2", "NodeCreated /app/c=c", "NodeCreated /app/a/x/deep2=d2", "NodeDeleted /app/b=/b"},
	}
	for _, r := range runs {
		if err := r.c.Sync(testkit.Ctx(t)); err != nil {
			t.Fatal(err)
		}
		got := nodeEvents(r.rec.All()[len(initial[r.depth])+1:])
		// Changes of different znodes are read in parallel: compare as sets, the order of
		// one znode's events is checked elsewhere.
		if !sameSet(got, after[r.depth]) {
			t.Errorf("depth %d: events after the changes\n%s\nwant\n%s", r.depth, strings.Join(got, "\n"), strings.Join(after[r.depth], "\n"))
		}
		tree := serverTree(t, w.c, "/app", r.depth)
		if got := cacheTree(r.c); !equalMaps(got, tree) {
			t.Errorf("depth %d: cache %v, server %v", r.depth, got, tree)
		}
		want[r.client.SessionID()] = expectedWatches(ns, "/app", tree, r.depth)
	}
	checkWatches(t, srv, "after the changes", want)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// Changed events carry the old and the new data and stat; a write of identical bytes is a
// change (the version moved); successive changes of one znode arrive in order.
func TestChangedCarriesOldAndNew(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	w := writer{t, connect(t, srv, ns)}
	w.create("/cfg/k", "v0")
	c, rec := startCache(t, connect(t, srv, ns), "/cfg", cache.String)
	from := rec.Len()
	for _, v := range []string{"v1", "v1", "v2"} {
		w.set("/cfg/k", v)
		// One at a time, so that none coalesce.
		i := rec.waitFor(t, from, "change to "+v, isType[string](cache.NodeChanged))
		ev := rec.All()[i]
		from = i + 1
		if ev.New.Value != v || string(ev.New.Data) != v || ev.New.Stat.Version != ev.Old.Stat.Version+1 {
			t.Errorf("change to %s: old %q v%d, new %q v%d", v, ev.Old.Data, ev.Old.Stat.Version, ev.New.Data, ev.New.Stat.Version)
		}
		if ev.Old.Stat.Czxid != ev.New.Stat.Czxid || ev.Old.Stat.Mzxid >= ev.New.Stat.Mzxid {
			t.Errorf("change to %s: stats %+v -> %+v", v, ev.Old.Stat, ev.New.Stat)
		}
	}
	got := nodeEvents(rec.All()[2:])
	want := []string{"NodeChanged /cfg/k v0>v1", "NodeChanged /cfg/k v1>v1", "NodeChanged /cfg/k v1>v2"}
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	if n, ok := c.Get("/cfg/k"); !ok || n.Value != "v2" || n.Stat.Version != 3 {
		t.Errorf("Get = %+v, %v", n, ok)
	}
}

// A parent deleted with its subtree: every znode of it is reported deleted, each after
// its descendants, and the cache and its watches are as if the subtree never existed.
func TestDeletedParentWithSubtree(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	w := writer{t, connect(t, srv, ns)}
	w.create("/t/keep", "k")
	var sub []string
	for i := 0; i < 4; i++ {
		for j := 0; j < 3; j++ {
			p := fmt.Sprintf("/t/p/c%d/g%d", i, j)
			w.create(p, p)
			sub = append(sub, p)
		}
		sub = append(sub, fmt.Sprintf("/t/p/c%d", i))
	}
	sub = append(sub, "/t/p")
	cl := connect(t, srv, ns)
	c, rec := startCache(t, cl, "/t", cache.String)
	from := rec.Len()
	w.deleteAll("/t/p")
	checkContent(t, c, "after the delete", map[string]string{"/t": "", "/t/keep": "k"})
	evs := rec.All()[from:]
	var deleted []string
	for _, ev := range evs {
		if ev.Type != cache.NodeDeleted {
			t.Errorf("unexpected %s", line(ev))
			continue
		}
		for _, d := range deleted {
			if strings.HasPrefix(d, ev.Path+"/") == false && strings.HasPrefix(ev.Path, d+"/") {
				t.Errorf("%s deleted after its ancestor %s", ev.Path, d)
			}
		}
		deleted = append(deleted, ev.Path)
	}
	if !sameSet(deleted, sub) {
		t.Errorf("deleted %v, want %v", deleted, sub)
	}
	checkWatches(t, srv, "after the delete", map[int64]watchSet{cl.SessionID(): expectedWatches(ns, "/t", map[string]string{"/t": "", "/t/keep": ""}, -1)})
}

// A znode deleted and created again under the same name is reported as NodeDeleted (the
// old copy) then NodeCreated (the new one), as Curator's CuratorCache does, whether the
// two happen apart or in one transaction, for a child, for a parent whose children went
// with it, and for the root.
func TestDeletedAndCreatedAgain(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	wc := connect(t, srv, ns)
	w := writer{t, wc}
	w.create("/r/n", "v1")
	w.create("/r/m", "m1")
	w.create("/r/p/kid", "kid")
	c, rec := startCache(t, connect(t, srv, ns), "/r", cache.String)
	ctx := testkit.Ctx(t)

	from := rec.Len()
	w.deleteAll("/r/n")
	rec.waitFor(t, from, "deleted n", isType[string](cache.NodeDeleted))
	w.create("/r/n", "v2")
	i := rec.waitFor(t, from, "created n", isType[string](cache.NodeCreated))
	if got := nodeEvents(rec.All()[from : i+1]); !slices.Equal(got, []string{"NodeDeleted /r/n=v1", "NodeCreated /r/n=v2"}) {
		t.Errorf("apart: %v", got)
	}

	from = rec.Len()
	if _, err := wc.Multi(ctx, &zk.DeleteRequest{Path: "/r/m", Version: -1},
		&zk.CreateRequest{Path: "/r/m", Data: []byte("m2")}); err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := nodeEvents(rec.All()[from:]); !slices.Equal(got, []string{"NodeDeleted /r/m=m1", "NodeCreated /r/m=m2"}) {
		t.Errorf("in one transaction: %v", got)
	}

	from = rec.Len()
	w.deleteAll("/r/p")
	w.create("/r/p", "p2")
	checkContent(t, c, "parent again", map[string]string{"/r": "", "/r/n": "v2", "/r/m": "m2", "/r/p": "p2"})
	if got := nodeEvents(rec.All()[from:]); !slices.Equal(got, []string{"NodeDeleted /r/p/kid=kid", "NodeDeleted /r/p=", "NodeCreated /r/p=p2"}) {
		t.Errorf("parent: %v", got)
	}

	from = rec.Len()
	w.deleteAll("/r")
	w.create("/r", "root2")
	checkContent(t, c, "root again", map[string]string{"/r": "root2"})
	evs := nodeEvents(rec.All()[from:])
	if len(evs) < 2 || evs[len(evs)-2] != "NodeDeleted /r=" || evs[len(evs)-1] != "NodeCreated /r=root2" {
		t.Errorf("root: %v", evs)
	}
}

// A child the Client may not read (another service created it with a digest ACL) is left
// out and reported once, with no watch (servers that check READ before notifying never
// notify this session about it, and an ACL change fires no watch anyway); the cache reads
// it again now and then, and once it becomes readable it enters the cache with its
// children.
func TestUnreadableChild(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	w := writer{t, connect(t, srv, ns)}
	w.create("/s/open", "o")
	owner := connect(t, srv, ns, zkrecipes.WithDigestAuth("java", "secret"))
	ctx := testkit.Ctx(t)
	acl := zk.DigestACL(zk.PermAll, "java", "secret")
	if _, err := owner.Create(ctx, "/s/secret", []byte("hidden"), zkrecipes.ModePersistent, zkrecipes.WithNodeACL(acl)); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Create(ctx, "/s/secret/below", []byte("b"), zkrecipes.ModePersistent); err != nil {
		t.Fatal(err)
	}
	cl := connect(t, srv, ns)
	c, rec := startCache(t, cl, "/s", cache.String)
	i := rec.waitFor(t, 0, "error for the secret", isType[string](cache.Error))
	ev := rec.All()[i]
	var ne *cache.NodeError
	if ev.Path != "/s/secret" || !errors.As(ev.Err, &ne) || !errors.Is(ev.Err, zk.ErrNoAuth) {
		t.Errorf("error event %s: %v", ev.Path, ev.Err)
	}
	checkContent(t, c, "with the secret left out", map[string]string{"/s": "", "/s/open": "o"})
	if _, ok := c.Get("/s/secret"); ok {
		t.Error("the unreadable znode is in the cache")
	}
	checkWatches(t, srv, "with the secret left out", map[int64]watchSet{
		cl.SessionID(): expectedWatches(ns, "/s", map[string]string{"/s": "", "/s/open": ""}, -1)})

	from := rec.Len()
	if _, err := owner.Conn().SetACL("/"+ns+"/s/secret", zk.WorldACL(zk.PermAll), -1); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, from, "the secret, readable", func(ev cache.Event[string]) bool {
		return ev.Type == cache.NodeCreated && ev.Path == "/s/secret"
	})
	checkContent(t, c, "readable", map[string]string{"/s": "", "/s/open": "o", "/s/secret": "hidden", "/s/secret/below": "b"})
	checkWatches(t, srv, "readable", map[int64]watchSet{cl.SessionID(): expectedWatches(ns, "/s", cacheTree(c), -1)})
	for _, ev := range rec.All()[1:] {
		if ev.Type == cache.Error {
			t.Errorf("reported again: %s", line(ev))
		}
	}
}

// Data the decoder refuses (or panics on) leaves the znode out, reported once per version,
// never stops the cache: a good version brings it in, a bad one takes it out again.
func TestMalformedData(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	w := writer{t, connect(t, srv, ns)}
	w.create("/m/good", "1")
	w.create("/m/bad", "garbage")
	w.create("/m/boom", "panic")
	decode := func(path string, data []byte) (int, error) {
		var v int
		if string(data) == "panic" {
			panic("decoder bug")
		}
		if _, err := fmt.Sscanf(string(data), "%d", &v); err != nil {
			return 0, fmt.Errorf("not a number: %q", data)
		}
		return v, nil
	}
	c, rec := startCache(t, connect(t, srv, ns), "/m", cache.Decoder[int](decode), cache.WithDepth(1))
	if err := c.Sync(testkit.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	var errs []string
	for _, ev := range rec.All() {
		if ev.Type == cache.Error {
			if !errors.Is(ev.Err, cache.ErrUndecodable) {
				t.Errorf("%s: %v does not match ErrUndecodable", ev.Path, ev.Err)
			}
			errs = append(errs, ev.Path)
		}
	}
	if !sameSet(errs, []string{"/m/bad", "/m/boom", "/m"}) { // "/m" holds no number either
		t.Errorf("errors for %v", errs)
	}
	if got := cacheTree(c); !equalMaps(got, map[string]string{"/m/good": "1"}) {
		t.Errorf("cache %v", got)
	}
	from := rec.Len()
	w.set("/m/bad", "2")
	w.set("/m/good", "nope")
	if err := c.Sync(testkit.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSpace(describe(rec.All()[from:])), "\n")
	if !sameSet(got, []string{"NodeCreated /m/bad=2", "NodeDeleted /m/good=1", "Error /m/good"}) {
		t.Errorf("events %v", got)
	}
	if n, ok := c.Get("/m/bad"); !ok || n.Value != 2 {
		t.Errorf("Get bad = %+v %v", n, ok)
	}
}

// A missing root: Start returns at once with an empty cache and an exists watch on the
// root; the cache fills when the root is created and empties when it goes.
func TestMissingRoot(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	w := writer{t, connect(t, srv, ns)}
	cl := connect(t, srv, ns)
	c, rec := startCache(t, cl, "/late", cache.String)
	if c.Len() != 0 || !slices.Equal(nodeEvents(rec.All()), nil) {
		t.Fatalf("not empty: %d, %v", c.Len(), rec.All())
	}
	missing := map[int64]watchSet{cl.SessionID(): {data: map[string]bool{"/" + ns + "/late": true}}}
	checkWatches(t, srv, "missing root", missing)
	if ok, _, _ := w.c.Exists(testkit.Ctx(t), "/late"); ok {
		t.Fatal("the cache created its root")
	}
	w.create("/late/a/b", "b")
	checkContent(t, c, "created", map[string]string{"/late": "", "/late/a": "", "/late/a/b": "b"})
	w.deleteAll("/late")
	checkContent(t, c, "deleted", map[string]string{})
	checkWatches(t, srv, "missing again", missing)
}

// A Snapshot never changes, and taking one costs nothing whatever the size.
func TestSnapshotIsImmutable(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	w := writer{t, connect(t, srv, ns)}
	w.create("/i/a", "1")
	c, _ := startCache(t, connect(t, srv, ns), "/i", cache.String)
	before := c.Snapshot()
	w.set("/i/a", "2")
	w.create("/i/b", "3")
	checkContent(t, c, "changed", map[string]string{"/i": "", "/i/a": "2", "/i/b": "3"})
	if n, _ := before.Get("/i/a"); n.Value != "1" || before.Len() != 2 {
		t.Errorf("the old snapshot changed: %+v, len %d", n, before.Len())
	}
	if _, ok := before.Get("/i/b"); ok {
		t.Error("the old snapshot has /i/b")
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = c.Snapshot() }); allocs != 0 {
		t.Errorf("Snapshot allocates %v times", allocs)
	}
}

// Start with a ctx that ends before the load is done returns ctx's error and leaves no
// goroutine of the cache behind once its reads in flight are answered (the network is
// black-holed so the load cannot finish, then healed).
func TestStartCancelled(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	w := writer{t, connect(t, srv, ns)}
	w.create("/c/a", "1")
	fd := zktest.NewFaultDialer()
	cl := connect(t, srv, ns, zkrecipes.WithDialer(fd.Dial))
	snapshot := goleak.IgnoreCurrent()
	c, err := cache.New(cl, "/c", cache.String)
	if err != nil {
		t.Fatal(err)
	}
	fd.BlackHole()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = c.Start(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Start = %v, want DeadlineExceeded", err)
	}
	fd.Heal()
	// go-zk may have replaced the black-holed connection meanwhile: its new connection's
	// loops are the Client's, not the cache's.
	if err := goleak.Find(append([]goleak.Option{snapshot}, clientConnection...)...); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(testkit.Ctx(t)); !errors.Is(err, cache.ErrClosed) {
		t.Errorf("Start after a cancelled Start = %v, want ErrClosed", err)
	}
	if err := c.Close(testkit.Ctx(t)); err != nil {
		t.Errorf("Close after a cancelled Start = %v", err)
	}
}

// The Client closes under a running cache: listeners hear CLOSED last, and the cache's
// goroutines end without Close.
func TestClientClosed(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	writer{t, connect(t, srv, ns)}.create("/cc/a", "1")
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	cl, err := zkrecipes.Connect(ctx, srv.Servers(), zkrecipes.WithNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	snapshot := goleak.IgnoreCurrent()
	c, rec := startCache(t, cl, "/cc", cache.String)
	if err := cl.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 0, "CLOSED", isState[string](zkrecipes.StateClosed))
	if err := goleak.Find(append([]goleak.Option{snapshot}, clientConnection...)...); err != nil {
		t.Fatal(err)
	}
	if evs := rec.All(); evs[len(evs)-1].Type != cache.ConnectionStateChanged {
		t.Errorf("last event %s", line(evs[len(evs)-1]))
	}
	if n, ok := c.Get("/cc/a"); !ok || n.Value != "1" {
		t.Error("the content went with the Client")
	}
	if err := c.Sync(ctx); err == nil {
		t.Error("Sync on a stopped cache succeeded")
	}
}

func TestNewRejectsBadArguments(t *testing.T) {
	srv := zktest.Start(t)
	cl := connect(t, srv, testkit.Namespace(t))
	for _, c := range []struct {
		name string
		err  func() error
		is   error
	}{
		{"bad root", func() error { _, err := cache.New(cl, "rel", cache.String); return err }, zkrecipes.ErrInvalidPath},
		{"nil decoder", func() error { _, err := cache.New[string](cl, "/a", nil); return err }, zkrecipes.ErrInvalidArgument},
		{"nil client", func() error { _, err := cache.New(nil, "/a", cache.String); return err }, zkrecipes.ErrInvalidArgument},
		{"depth", func() error { _, err := cache.New(cl, "/a", cache.String, cache.WithDepth(-2)); return err }, zkrecipes.ErrInvalidArgument},
		{"parallelism", func() error { _, err := cache.New(cl, "/a", cache.String, cache.WithParallelism(0)); return err }, zkrecipes.ErrInvalidArgument},
	} {
		if err := c.err(); !errors.Is(err, c.is) {
			t.Errorf("%s: %v, want %v", c.name, err, c.is)
		}
	}
	c, err := cache.New(cl, "/a", cache.String)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Sync(testkit.Ctx(t)); err == nil {
		t.Error("Sync before Start succeeded")
	}
	if err := c.Start(testkit.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(testkit.Ctx(t)); err == nil {
		t.Error("a second Start succeeded")
	}
	if err := c.Close(testkit.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(testkit.Ctx(t)); err != nil {
		t.Fatal(err)
	}
}
