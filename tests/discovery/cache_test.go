package discovery_test

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

func ids[T any](in []discovery.Instance[T]) []string {
	out := make([]string, len(in))
	for i, x := range in {
		out[i] = x.ID
	}
	sort.Strings(out)
	return out
}

func TestCacheEvents(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	writer := newDiscovery(t, connect(t, srv, ns))
	reader := newDiscovery(t, connect(t, srv, ns))

	first := mustInstance(t, "svc", false)
	if err := writer.Register(ctx, first); err != nil {
		t.Fatal(err)
	}
	cache := startCache(t, reader, "svc")
	rec := record(cache)
	if got := ids(cache.Instances()); len(got) != 1 || got[0] != first.ID {
		t.Fatalf("after Start: %v", got)
	}

	second := mustInstance(t, "svc", false)
	if err := writer.Register(ctx, second); err != nil {
		t.Fatal(err)
	}
	i := rec.waitFor(t, 0, "adding the second", func(ev discovery.CacheEvent[instanceDetails]) bool { return ev.Kind == discovery.CacheChanged })
	ev := rec.All()[i]
	if len(ev.Added) != 1 || ev.Added[0].ID != second.ID || len(ev.Updated)+len(ev.Removed) != 0 || len(ev.Instances) != 2 {
		t.Errorf("add event: %s", describe([]discovery.CacheEvent[instanceDetails]{ev}))
	}

	second.Payload.Leader = true
	if err := writer.Update(ctx, second); err != nil {
		t.Fatal(err)
	}
	i = rec.waitFor(t, i+1, "updating the second", func(ev discovery.CacheEvent[instanceDetails]) bool { return ev.Kind == discovery.CacheChanged })
	ev = rec.All()[i]
	if len(ev.Updated) != 1 || !ev.Updated[0].Payload.Leader || len(ev.Added)+len(ev.Removed) != 0 {
		t.Errorf("update event: %s", describe([]discovery.CacheEvent[instanceDetails]{ev}))
	}

	if err := writer.Unregister(ctx, first); err != nil {
		t.Fatal(err)
	}
	i = rec.waitFor(t, i+1, "removing the first", func(ev discovery.CacheEvent[instanceDetails]) bool { return ev.Kind == discovery.CacheChanged })
	ev = rec.All()[i]
	if len(ev.Removed) != 1 || ev.Removed[0].ID != first.ID || len(ev.Added)+len(ev.Updated) != 0 {
		t.Errorf("remove event: %s", describe([]discovery.CacheEvent[instanceDetails]{ev}))
	}
	if got := ids(cache.Instances()); len(got) != 1 || got[0] != second.ID {
		t.Errorf("Instances = %v", got)
	}
	// One event per change, nothing more: a sentinel change is the next event.
	third := mustInstance(t, "svc", false)
	if err := writer.Register(ctx, third); err != nil {
		t.Fatal(err)
	}
	j := rec.waitFor(t, i+1, "sentinel", func(ev discovery.CacheEvent[instanceDetails]) bool {
		return len(ev.Added) == 1 && ev.Added[0].ID == third.ID
	})
	if j != i+1 {
		t.Errorf("extra events: %s", describe(rec.All()[i+1:j]))
	}
}

func TestCacheOfMissingService(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	d := newDiscovery(t, connect(t, srv, ns))
	cache := startCache(t, d, "later")
	rec := record(cache)
	if n := len(cache.Instances()); n != 0 {
		t.Fatalf("%d instances of a missing service", n)
	}
	in := mustInstance(t, "later", false)
	if err := d.Register(ctx, in); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 0, "instance of a service created after Start", func(ev discovery.CacheEvent[instanceDetails]) bool { return len(ev.Added) == 1 })
	if err := d.Unregister(ctx, in); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 0, "removal", func(ev discovery.CacheEvent[instanceDetails]) bool { return len(ev.Removed) == 1 })
}

// Bad data written by someone else is skipped and reported, never fatal; the good
// instances are still served, by the cache and by Instances.
func TestBadDataIsSkipped(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	var reported errs
	d := newDiscovery(t, connect(t, srv, ns), discovery.WithErrorHandler(reported.add))
	good := mustInstance(t, "svc", true)
	if err := d.Register(ctx, good); err != nil {
		t.Fatal(err)
	}
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	dir := "/" + ns + "/services/svc/"
	bad := map[string]string{
		"empty":         "",
		"not-json":      "not json",
		"wrong-type":    `{"name":"svc","id":"wrong-type","serviceType":"dynamic"}`,
		"unknown-class": `{"name":"svc","id":"unknown-class","payload":{"@class":"com.example.Nope","leader":true}}`,
	}
	for name, data := range bad {
		if _, err := raw.Create(dir+name, []byte(data), 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}
	all, err := d.Instances(ctx, "svc")
	if err != nil || len(all) != 1 || all[0].ID != good.ID {
		t.Errorf("Instances = %v, %v", ids(all), err)
	}
	checkReported(t, &reported, len(bad))

	var cacheReported errs
	cache := startCache(t, d, "svc", discovery.WithErrorHandler(cacheReported.add))
	rec := record(cache)
	if got := ids(cache.Instances()); len(got) != 1 || got[0] != good.ID {
		t.Errorf("cache has %v", got)
	}
	checkReported(t, &cacheReported, len(bad))

	// A bad znode that is fixed appears; a good one that goes bad disappears.
	if _, err := raw.Set(dir+"not-json", []byte(`{"name":"svc","id":"fixed"}`), -1); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 0, "fixed znode added", func(ev discovery.CacheEvent[instanceDetails]) bool {
		return len(ev.Added) == 1 && ev.Added[0].ID == "fixed"
	})
	if _, err := raw.Set(dir+good.ID, []byte("{"), -1); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 0, "broken znode removed", func(ev discovery.CacheEvent[instanceDetails]) bool {
		return len(ev.Removed) == 1 && ev.Removed[0].ID == good.ID
	})
	if got := ids(cache.Instances()); len(got) != 1 || got[0] != "fixed" {
		t.Errorf("cache has %v", got)
	}
}

func checkReported(t *testing.T, e *errs, want int) {
	t.Helper()
	got := e.all()
	if len(got) != want {
		t.Errorf("%d errors reported, want %d: %v", len(got), want, got)
	}
	for _, err := range got {
		var ne *discovery.NodeError
		if !errors.As(err, &ne) || !errors.Is(err, discovery.ErrMalformed) {
			t.Errorf("reported %v: want a *NodeError wrapping ErrMalformed", err)
		}
	}
}

// A change costs reads of the changed children only.
func TestCacheReadsPerChange(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	writer := newDiscovery(t, connect(t, srv, ns))
	reader := newDiscovery(t, connect(t, srv, ns))
	var all []discovery.Instance[instanceDetails]
	for range 50 {
		in := mustInstance(t, "svc", false)
		if err := writer.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
		all = append(all, in)
	}
	cache := startCache(t, reader, "svc")
	rec := record(cache)
	if n := len(cache.Instances()); n != 50 {
		t.Fatalf("%d instances", n)
	}
	step := func(what string, maxReads int64, change func(), match func(discovery.CacheEvent[instanceDetails]) bool) {
		t.Helper()
		before := cacheReads(cache)
		from := len(rec.All())
		change()
		rec.waitFor(t, from, what, match)
		if got := cacheReads(cache) - before; got > maxReads {
			t.Errorf("%s: %d reads, want at most %d", what, got, maxReads)
		} else {
			t.Logf("%s: %d reads", what, got)
		}
	}
	all[0].Payload.Leader = true
	step("update", 1, func() {
		if err := writer.Update(ctx, all[0]); err != nil {
			t.Fatal(err)
		}
	}, func(ev discovery.CacheEvent[instanceDetails]) bool { return len(ev.Updated) == 1 })
	step("add", 2, func() {
		if err := writer.Register(ctx, mustInstance(t, "svc", false)); err != nil {
			t.Fatal(err)
		}
	}, func(ev discovery.CacheEvent[instanceDetails]) bool { return len(ev.Added) == 1 })
	step("remove", 2, func() {
		if err := writer.Unregister(ctx, all[1]); err != nil {
			t.Fatal(err)
		}
	}, func(ev discovery.CacheEvent[instanceDetails]) bool { return len(ev.Removed) == 1 })
}

func TestCacheCloseAndStartErrors(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	d := newDiscovery(t, connect(t, srv, ns))
	if _, err := d.Cache("a/b"); !errors.Is(err, discovery.ErrInvalidInstance) {
		t.Errorf("Cache(a/b) = %v", err)
	}
	if _, err := d.Cache("x", discovery.WithSerializer(discovery.JSON[instanceDetails]())); !errors.Is(err, discovery.ErrInvalidOption) {
		t.Errorf("Cache with a serializer = %v", err)
	}
	c, err := d.Cache("x")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Start(ctx); err == nil {
		t.Error("Start with a cancelled context succeeded")
	}
	if err := c.Close(context.Background()); err != nil {
		t.Error(err)
	}
}
