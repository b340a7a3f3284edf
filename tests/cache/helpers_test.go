package cache_test

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/cache"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// connect opens a Client of srv in ns (testkit.Connect) with a 4 s session; opts come
// after and win.
func connect(t testing.TB, srv *zktest.Server, ns string, opts ...zkrecipes.Option) *zkrecipes.Client {
	t.Helper()
	return testkit.Connect(t, srv.Servers(), ns, append([]zkrecipes.Option{zkrecipes.WithSessionTimeout(4 * time.Second)}, opts...)...)
}

// recorder keeps a cache's events for a test to wait on.
type recorder[T any] struct{ *testkit.Log[cache.Event[T]] }

func record[T any](c *cache.Cache[T]) *recorder[T] {
	r := &recorder[T]{testkit.NewLog[cache.Event[T]]()}
	c.Listen(r.Add)
	return r
}

// waitFor waits for an event at index from or later that satisfies ok and returns its index.
func (r *recorder[T]) waitFor(t testing.TB, from int, what string, ok func(cache.Event[T]) bool) int {
	t.Helper()
	i, evs := r.Await(from, ok)
	if i < 0 {
		t.Fatalf("no event for %q after %v; events since %d:\n%s", what, testkit.Patience, from, describe(evs[min(from, len(evs)):]))
	}
	return i
}

func isType[T any](typ cache.EventType) func(cache.Event[T]) bool {
	return func(ev cache.Event[T]) bool { return ev.Type == typ }
}

func isState[T any](s zkrecipes.State) func(cache.Event[T]) bool {
	return func(ev cache.Event[T]) bool { return ev.Type == cache.ConnectionStateChanged && ev.State.State == s }
}

// describe renders events one per line: "NodeCreated /a=x", "NodeChanged /a x>y" ...
func describe[T any](evs []cache.Event[T]) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString(line(ev))
		b.WriteByte('\n')
	}
	return b.String()
}

func line[T any](ev cache.Event[T]) string {
	switch ev.Type {
	case cache.NodeCreated:
		return fmt.Sprintf("%s %s=%v", ev.Type, ev.Path, ev.New.Value)
	case cache.NodeChanged:
		return fmt.Sprintf("%s %s %v>%v", ev.Type, ev.Path, ev.Old.Value, ev.New.Value)
	case cache.NodeDeleted:
		return fmt.Sprintf("%s %s=%v", ev.Type, ev.Path, ev.Old.Value)
	case cache.ConnectionStateChanged:
		return fmt.Sprintf("%s %s new=%v", ev.Type, ev.State.State, ev.State.NewSession)
	case cache.Error:
		return fmt.Sprintf("%s %s", ev.Type, ev.Path)
	}
	return ev.Type.String()
}

// nodeEvents keeps the node events (created, changed, deleted) of evs, rendered.
func nodeEvents[T any](evs []cache.Event[T]) []string {
	var out []string
	for _, ev := range evs {
		switch ev.Type {
		case cache.NodeCreated, cache.NodeChanged, cache.NodeDeleted:
			out = append(out, line(ev))
		}
	}
	return out
}

// startCache creates, records and starts a cache of root on c; Close runs at cleanup.
func startCache[T any](t testing.TB, c *zkrecipes.Client, root string, decode cache.Decoder[T], opts ...cache.Option) (*cache.Cache[T], *recorder[T]) {
	t.Helper()
	cc, err := cache.New(c, root, decode, opts...)
	if err != nil {
		t.Fatal(err)
	}
	rec := record(cc)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
		defer cancel()
		if err := cc.Close(ctx); err != nil {
			t.Errorf("close cache: %v", err)
		}
	})
	if err := cc.Start(testkit.Ctx(t)); err != nil {
		t.Fatalf("start: %v", err)
	}
	rec.waitFor(t, 0, "Initialized", isType[T](cache.Initialized))
	return cc, rec
}

// writer changes the tree through its own session, like another service would.
type writer struct {
	t testing.TB
	c *zkrecipes.Client
}

func (w writer) create(path, data string) {
	w.t.Helper()
	if _, err := w.c.Create(testkit.Ctx(w.t), path, []byte(data), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		w.t.Fatalf("create %s: %v", path, err)
	}
}

func (w writer) set(path, data string) {
	w.t.Helper()
	if _, err := w.c.Set(testkit.Ctx(w.t), path, []byte(data), -1); err != nil {
		w.t.Fatalf("set %s: %v", path, err)
	}
}

// deleteAll deletes path and its subtree, children first.
func (w writer) deleteAll(path string) {
	w.t.Helper()
	ctx := testkit.Ctx(w.t)
	kids, _, err := w.c.Children(ctx, path)
	if err != nil {
		w.t.Fatalf("children %s: %v", path, err)
	}
	for _, k := range kids {
		w.deleteAll(strings.TrimSuffix(path, "/") + "/" + k)
	}
	if err := w.c.Delete(ctx, path, -1); err != nil {
		w.t.Fatalf("delete %s: %v", path, err)
	}
}

// createMany creates the nodes (parents first, in the order given) in multis of 200.
func (w writer) createMany(paths []string, data func(string) string) {
	w.t.Helper()
	ctx := testkit.Ctx(w.t)
	if len(paths) > 0 {
		parent, _ := zkrecipes.SplitPath(paths[0])
		if err := w.c.EnsurePath(ctx, parent); err != nil {
			w.t.Fatalf("ensure %s: %v", parent, err)
		}
	}
	var ops []any
	flush := func() {
		if len(ops) == 0 {
			return
		}
		if _, err := w.c.Multi(ctx, ops...); err != nil {
			w.t.Fatalf("multi create: %v", err)
		}
		ops = ops[:0]
	}
	for _, p := range paths {
		ops = append(ops, &zk.CreateRequest{Path: p, Data: []byte(data(p)), Acl: zk.WorldACL(zk.PermAll)})
		if len(ops) == 200 {
			flush()
		}
	}
	flush()
}

// serverTree reads the subtree at root (namespace-relative) through c, to depth (-1: all),
// as path -> data, 64 reads at a time.
func serverTree(t testing.TB, c *zkrecipes.Client, root string, depth int) map[string]string {
	t.Helper()
	ctx := testkit.Ctx(t)
	out := map[string]string{}
	type item struct {
		path string
		d    int
	}
	level := []item{{root, 0}}
	var mu sync.Mutex
	for len(level) > 0 {
		var next []item
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		errs := make(chan error, len(level))
		for _, it := range level {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				data, _, err := c.Get(ctx, it.path)
				if err != nil {
					errs <- fmt.Errorf("get %s: %w", it.path, err)
					return
				}
				var kids []string
				if depth < 0 || it.d < depth {
					if kids, _, err = c.Children(ctx, it.path); err != nil {
						errs <- fmt.Errorf("children %s: %w", it.path, err)
						return
					}
				}
				mu.Lock()
				defer mu.Unlock()
				out[it.path] = string(data)
				for _, k := range kids {
					next = append(next, item{strings.TrimSuffix(it.path, "/") + "/" + k, it.d + 1})
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		level = next
	}
	return out
}

// cacheTree is the cache's content as path -> data.
func cacheTree[T any](c *cache.Cache[T]) map[string]string {
	out := map[string]string{}
	for n := range c.Snapshot().All() {
		out[n.Path] = string(n.Data)
	}
	return out
}

// checkContent syncs the cache and checks that it holds exactly want.
func checkContent[T any](t testing.TB, c *cache.Cache[T], what string, want map[string]string) {
	t.Helper()
	if err := c.Sync(testkit.Ctx(t)); err != nil {
		t.Fatalf("%s: sync: %v", what, err)
	}
	if got := cacheTree(c); !equalMaps(got, want) {
		t.Fatalf("%s: cache holds\n%v\nwant\n%v", what, got, want)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// watchSet is the watches one session should hold: a data (or exists) watch on each of
// data (server paths), and child watches in number.
type watchSet struct {
	data  map[string]bool
	child int
}

// fourLetter runs a four-letter word against srv.
func fourLetter(t testing.TB, srv *zktest.Server, cmd string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Patience)
	defer cancel()
	out, err := zktest.FourLetter(ctx, srv.Addr(), cmd)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	return out
}

// dataWatches asks the server (wchc) for the data watches of every session, as session ->
// path -> count. wchc shows the data watch table only (data and exists watches, one line
// per path and session); child watches are not listed anywhere per session.
func dataWatches(t testing.TB, srv *zktest.Server) map[int64]map[string]int {
	t.Helper()
	res := map[int64]map[string]int{}
	var cur int64
	sc := bufio.NewScanner(strings.NewReader(fourLetter(t, srv, "wchc")))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "0x"):
			id, err := strconv.ParseUint(strings.TrimSpace(l[2:]), 16, 64)
			if err != nil {
				t.Fatalf("wchc line %q: %v", l, err)
			}
			cur = int64(id)
			res[cur] = map[string]int{}
		case strings.HasPrefix(l, "\t"):
			res[cur][strings.TrimSpace(l)]++
		}
	}
	return res
}

// childWatchTotal is the number of child watches on the server: mntr's zk_watch_count
// counts data and child watches, wchs the data watches. The package's tests run one at a
// time on their own server and close their sessions, so these are the current test's.
func childWatchTotal(t testing.TB, srv *zktest.Server) int {
	t.Helper()
	all := -1
	for _, l := range strings.Split(fourLetter(t, srv, "mntr"), "\n") {
		if v, ok := strings.CutPrefix(l, "zk_watch_count\t"); ok {
			all, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	var data int
	for _, l := range strings.Split(fourLetter(t, srv, "wchs"), "\n") {
		if v, ok := strings.CutPrefix(l, "Total watches:"); ok {
			data, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if all < 0 {
		t.Fatal("mntr has no zk_watch_count")
	}
	return all - data
}

// checkWatches checks that each session holds exactly its data watches, one per path, and
// that the child watches of all of them add up. Call it when the caches are quiescent
// (after Sync, Initialized or Resynced): every read that set a watch has returned.
func checkWatches(t testing.TB, srv *zktest.Server, what string, want map[int64]watchSet) {
	t.Helper()
	got := dataWatches(t, srv)
	child := 0
	for session, ws := range want {
		child += ws.child
		var wrong, missing []string
		for p, n := range got[session] {
			if !ws.data[p] || n != 1 {
				wrong = append(wrong, fmt.Sprintf("%s x%d", p, n))
			}
		}
		for p := range ws.data {
			if got[session][p] == 0 {
				missing = append(missing, p)
			}
		}
		if len(wrong)+len(missing) > 0 {
			t.Errorf("%s: session %#x: %d data watches; unexpected: %v; missing: %v", what, session, len(got[session]), wrong, missing)
		}
	}
	if n := childWatchTotal(t, srv); n != child {
		t.Errorf("%s: %d child watches on the server, want %d", what, n, child)
	}
}

// expectedWatches is the watch set of a cache at root over tree (namespace-relative paths
// of the znodes it caches): a data watch on each, a child watch on each above depth.
func expectedWatches(ns, root string, tree map[string]string, depth int) watchSet {
	ws := watchSet{data: map[string]bool{}}
	for p := range tree {
		sp := "/" + ns
		if p != "/" {
			sp += p
		}
		ws.data[sp] = true
		d := 0
		if p != root {
			rest := strings.TrimPrefix(p, root)
			if root == "/" {
				rest = p
			}
			d = strings.Count(rest, "/")
		}
		if depth < 0 || d < depth {
			ws.child++
		}
	}
	return ws
}
