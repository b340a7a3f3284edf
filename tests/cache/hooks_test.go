package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/cache"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// The cache tells the Client's hooks its size after the initial load and after each change,
// and that the initial load (a full read) is done.
func TestCacheHooks(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ctx := testkit.Ctx(t)
	writer := connect(t, srv, ns)
	for _, p := range []string{"/root/a", "/root/b"} {
		if _, err := writer.Create(ctx, p, []byte("x"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
			t.Fatal(err)
		}
	}
	sizes := make(chan zkrecipes.CacheSizeEvent, 64)
	resyncs := make(chan zkrecipes.CacheResyncEvent, 8)
	c := connect(t, srv, ns, zkrecipes.WithHooks(zkrecipes.Hooks{
		CacheSize:   func(_ context.Context, ev zkrecipes.CacheSizeEvent) { sizes <- ev },
		CacheResync: func(_ context.Context, ev zkrecipes.CacheResyncEvent) { resyncs <- ev },
	}))
	cc, _ := startCache(t, c, "/root", cache.String, cache.WithDepth(1))
	select {
	case ev := <-resyncs:
		if ev.Reason != "start" || ev.Kind != "children" || ev.Path != "/root" || ev.Size != cc.Len() || ev.Err != nil {
			t.Errorf("resync event %+v, want the start of a children cache of /root with %d nodes", ev, cc.Len())
		}
	case <-time.After(testkit.Patience):
		t.Fatal("no CacheResync event for the initial load")
	}
	waitSize := func(want int) {
		t.Helper()
		deadline := time.NewTimer(testkit.Patience)
		defer deadline.Stop()
		for {
			select {
			case ev := <-sizes:
				if ev.Size == want {
					return
				}
			case <-deadline.C:
				t.Fatalf("no CacheSize event with %d nodes", want)
			}
		}
	}
	waitSize(3) // the root and its two children
	if _, err := writer.Create(ctx, "/root/c", nil, zkrecipes.ModePersistent); err != nil {
		t.Fatal(err)
	}
	waitSize(4)
}
