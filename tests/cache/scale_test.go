package cache_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/cache"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// The goroutines a started cache keeps: its event loop, its delivery goroutine, and the
// Client's goroutine for the cache's state listener. Read workers come and go with reads.
var cacheGoroutines = append([]goleak.Option{
	goleak.IgnoreAnyFunction("github.com/zkrecipes/zkrecipes/cache.(*loop[...]).run"),
	goleak.IgnoreAnyFunction("github.com/zkrecipes/zkrecipes/cache.(*Cache[...]).deliver"),
	goleak.IgnoreAnyFunction("github.com/zkrecipes/zkrecipes.(*listener).run"),
}, clientConnection...)

// clientConnection is go-zk's pair of goroutines for a connection: when go-zk replaces a
// connection (a loaded machine can miss a ping deadline), the new pair is the Client's,
// not the cache's.
var clientConnection = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/go-zookeeper/zk.(*Conn).loop.func1"),
	goleak.IgnoreAnyFunction("github.com/go-zookeeper/zk.(*Conn).loop.func2"),
}

// settledGoroutines waits until every goroutine started since before is one a started
// cache keeps (goleak retries while the transient read workers exit) and returns how many
// of those run: goroutines in the cache package, and the Client's state listeners.
func settledGoroutines(t testing.TB, before goleak.Option) int {
	t.Helper()
	if err := goleak.Find(append([]goleak.Option{before}, cacheGoroutines...)...); err != nil {
		t.Fatalf("goroutines besides the cache's: %v", err)
	}
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "zkrecipes/cache.") || strings.Contains(g, "zkrecipes.(*listener).run") {
			count++
		}
	}
	return count
}

// bigTree is 100 parents of 100 children each under root: 10,101 znodes.
func bigTree(root string) []string {
	paths := []string{root}
	for i := 0; i < 100; i++ {
		p := fmt.Sprintf("%s/p%02d", root, i)
		paths = append(paths, p)
		for j := 0; j < 100; j++ {
			paths = append(paths, fmt.Sprintf("%s/c%02d", p, j))
		}
	}
	return paths
}

// 10,000 znodes: the whole tree loads, the cache runs on the same few goroutines as a
// cache of one znode, the session holds exactly one data watch per znode and one child
// watch per znode, and after a storm of changes, creates and deletes, both the content
// and the watches still match the server exactly, with the goroutines unchanged. Close
// leaves nothing running.
func TestTenThousandNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 znodes")
	}
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	w := writer{t, connect(t, srv, ns)}
	paths := bigTree("/big")
	w.createMany(paths, func(p string) string { return p })
	w.create("/small", "s")
	cl := connect(t, srv, ns)

	before := goleak.IgnoreCurrent()
	g0 := settledGoroutines(t, before)
	small, _ := startCache(t, cl, "/small", cache.String)
	g1 := settledGoroutines(t, before)
	c, rec := startCache(t, cl, "/big", cache.String)
	g2 := settledGoroutines(t, before)
	t.Logf("goroutines: %d before, %d with a 1-znode cache, %d with a 10,101-znode one too", g0, g1, g2)
	if g1-g0 > 4 || g2-g1 != g1-g0 {
		t.Errorf("goroutines per cache: %d for 1 znode, %d for 10,101 (want the same, at most 4)", g1-g0, g2-g1)
	}
	if c.Len() != len(paths) {
		t.Fatalf("loaded %d znodes, want %d", c.Len(), len(paths))
	}
	if n := len(nodeEvents(rec.All())); n != len(paths) {
		t.Errorf("%d NodeCreated events, want %d", n, len(paths))
	}
	want := expectedWatches(ns, "/big", serverTree(t, w.c, "/big", -1), -1)
	small1 := expectedWatches(ns, "/small", map[string]string{"/small": ""}, -1)
	merge := func(a, b watchSet) watchSet {
		m := watchSet{data: map[string]bool{}, child: a.child + b.child}
		for p := range a.data {
			m.data[p] = true
		}
		for p := range b.data {
			m.data[p] = true
		}
		return m
	}
	checkWatches(t, srv, "loaded", map[int64]watchSet{cl.SessionID(): merge(want, small1)})

	// A storm: 300 data changes, 20 new znodes, 5 subtrees deleted.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		w.set(paths[1+rng.IntN(len(paths)-1)], fmt.Sprint("v", i))
	}
	for i := 0; i < 20; i++ {
		w.create(fmt.Sprintf("/big/p%02d/new%d", rng.IntN(50), i), "n")
	}
	for i := 0; i < 5; i++ {
		w.deleteAll(fmt.Sprintf("/big/p%02d", 50+i*10))
	}
	tree := serverTree(t, w.c, "/big", -1)
	checkContent(t, c, "after the storm", tree)
	checkWatches(t, srv, "after the storm", map[int64]watchSet{cl.SessionID(): merge(expectedWatches(ns, "/big", tree, -1), small1)})
	if g := settledGoroutines(t, before); g != g2 {
		t.Errorf("goroutines after the storm: %d, want %d", g, g2)
	}

	ctx := testkit.Ctx(t)
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := small.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := goleak.Find(append([]goleak.Option{before}, clientConnection...)...); err != nil {
		t.Errorf("goroutines left after Close: %v", err)
	}
}

// A cache that only ever sees changes keeps its goroutines and its watches flat: after
// rounds of changes the counts are what they were.
func TestFlatOverTime(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	w := writer{t, connect(t, srv, ns)}
	var paths []string
	for i := 0; i < 50; i++ {
		paths = append(paths, fmt.Sprintf("/flat/n%02d", i))
	}
	w.createMany(append([]string{"/flat"}, paths...), func(string) string { return "0" })
	cl := connect(t, srv, ns, zkrecipes.WithSessionTimeout(4*time.Second))
	before := goleak.IgnoreCurrent()
	c, _ := startCache(t, cl, "/flat", cache.String, cache.WithDepth(1))
	g := settledGoroutines(t, before)
	for round := 0; round < 5; round++ {
		for _, p := range paths {
			w.set(p, fmt.Sprint(round))
		}
		w.create(fmt.Sprintf("/flat/extra%d", round), "e")
		w.deleteAll(fmt.Sprintf("/flat/extra%d", round))
		tree := serverTree(t, w.c, "/flat", 1)
		checkContent(t, c, fmt.Sprint("round ", round), tree)
		checkWatches(t, srv, fmt.Sprint("round ", round), map[int64]watchSet{cl.SessionID(): expectedWatches(ns, "/flat", tree, 1)})
		if n := settledGoroutines(t, before); n != g {
			t.Errorf("round %d: %d goroutines, want %d", round, n, g)
		}
	}
}
