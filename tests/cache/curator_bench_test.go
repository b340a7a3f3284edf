package cache_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/cache"
	"github.com/zkrecipes/zkrecipes/tests/curatortest"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// benchPeer starts a Java Curator peer in e's namespace, or returns nil (the Curator side is
// left out, and said so) when Java or the jars are missing.
func benchPeer(b *testing.B, e *benchEnv) *curatortest.Peer {
	if err := curatortest.Available(); err != nil {
		b.Logf("no Curator side: %v", err)
		return nil
	}
	return curatortest.Start(b, e.srv.ConnectString(), curatortest.WithNamespace(e.ns), curatortest.WithSessionTimeout(10*time.Second))
}

// primedTree creates n children of one parent, ~100 bytes of data each, in multis, once
// per namespace, and returns the parent's path.
func primedTree(b *testing.B, w writer, n int) string {
	return childTree(b, w, fmt.Sprintf("/bench/primed%d", n), n, func(p string) string {
		d := `{"name":"svc","id":"` + p[strings.LastIndexByte(p, '/')+1:] + `","address":"10.0.0.1","port":8080,"payload":{"leader":false}}`
		return d + strings.Repeat(" ", max(0, 100-len(d)))
	})
}

// BenchmarkStartVsCurator: a primed Start over 1,000 existing znodes (children of one
// parent, 100 bytes each), side by side, one load of each side per iteration in a rotating
// order (cd tests && go test -run '^$' -bench StartVsCurator -benchtime 20x ./cache/):
//
//	raw        a new go-zk connection lists the parent (child watch) and GetW's the parent
//	           and every child, 128 in flight: the floor
//	zkrecipes  cache.New(client, parent, cache.Bytes, cache.WithDepth(1)) and Start, on a
//	           new Client (connected, and past its first operation, before the clock starts)
//	curator    CuratorCache.build(client, parent), a listener, start, until initialized,
//	           on the peer's long-lived client, timed on the JVM's clock after 30 warm-up
//	           loads. CuratorCache has no depth: it reads each child's data and lists each
//	           child's children, 2,005 requests to the server per load (zk_packets_received)
//	           where the Go cache makes 1,005 and the floor 1,002 (every data, one listing)
//	zkrecipes-tree  the same cache with cache.Unlimited, which lists every child's
//	           children too (as CuratorCache does): the like-for-like comparison
//
// Metrics: <side>-p50-ms and <side>-mean-ms, and zkrecipes/curator, zkrecipes/raw and
// zkrecipes-tree/curator (of the medians). The targets: zkrecipes/curator <= 0.6, zkrecipes/raw <= 1.1. ns/op
// counts all sides together and means nothing on its own.
func BenchmarkStartVsCurator(b *testing.B) {
	const n = 1000
	e := newBenchEnv(b)
	root := primedTree(b, e.w, n)
	peer := benchPeer(b, e)
	if peer != nil {
		if _, err := peer.CuratorCacheStartBench(testkit.Ctx(b), root, 30, 0); err != nil { // JIT warm-up
			b.Fatal(err)
		}
	}
	sides := []string{"raw", "zkrecipes", "zkrecipes-tree"}
	if peer != nil {
		sides = append(sides, "curator")
	}
	goLoad := func(depth int) time.Duration {
		cl := connect(b, e.srv, e.ns, zkrecipes.WithSessionTimeout(10*time.Second))
		defer cl.Close(context.Background())
		// A new Client holds operations for its first 10 ms (go-zk re-sends watches first
		// after a connection): that is the connection's, not the cache's.
		if _, _, err := cl.Exists(testkit.Ctx(b), "/"); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		c, err := cache.New(cl, root, cache.Bytes, cache.WithDepth(depth))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close(context.Background())
		if err := c.Start(testkit.Ctx(b)); err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		if c.Len() != n+1 {
			b.Fatalf("cached %d", c.Len())
		}
		return d
	}
	run := map[string]func() time.Duration{
		"raw": func() time.Duration {
			conn, _ := zktest.Connect(b, e.srv.Servers(), 10*time.Second)
			defer conn.Close()
			t0 := time.Now()
			if got := rawLoad(b, conn, e.full(root), 128, false); got != n {
				b.Fatalf("raw read %d", got)
			}
			return time.Since(t0)
		},
		"zkrecipes":      func() time.Duration { return goLoad(1) },
		"zkrecipes-tree": func() time.Duration { return goLoad(cache.Unlimited) },
		"curator": func() time.Duration {
			d, err := peer.CuratorCacheStartBench(testkit.Ctx(b), root, 0, 1)
			if err != nil {
				b.Fatal(err)
			}
			return d[0]
		},
	}
	run["zkrecipes"]() // the Go side's warm-up: the server's caches, the Go heap
	run["zkrecipes-tree"]()
	run["raw"]()
	s := testkit.Samples{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range sides {
			side := sides[(i+k)%len(sides)]
			s.Add(side, run[side]())
		}
	}
	b.StopTimer()
	s.Report(b, "ms", sides...)
	s.Ratio(b, "zkrecipes", "curator")
	s.Ratio(b, "zkrecipes", "raw")
	s.Ratio(b, "zkrecipes-tree", "curator")
}
