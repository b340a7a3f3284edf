package cache_test

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"go.uber.org/goleak"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/cache"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// The benchmarks measure the cache against the raw go-zk floor in the same run, on the
// same server (cd tests && go test -run '^$' -bench . ./cache/). They report, as metrics:
//
//	BenchmarkChange            one setData to the event that reports it, per tree size,
//	                           against setData -> watch notification -> getData on a raw
//	                           *zk.Conn; CPU time and allocations per change (this process:
//	                           the writer, go-zk and the cache)
//	BenchmarkStart             a primed Start over 1,000 znodes against listing them and
//	                           reading them with 16, 128 and 1,024 GetW in flight, on a raw
//	                           *zk.Conn and on a Client's go-zk connection
//	BenchmarkFootprint         goroutines per cache, heap bytes per cached znode at 10,000
//	                           beyond the data (the cache's own, and go-zk's per watch)
//	BenchmarkResync            a 10,000-znode tree cache converging after a new session,
//	                           against its primed Start

// flatTree creates n children of /bench/flat<n> (once per namespace) and returns its path.
func flatTree(b *testing.B, w writer, n int) string {
	return childTree(b, w, fmt.Sprintf("/bench/flat%d", n), n, func(string) string {
		return `{"name":"svc","address":"10.0.0.1","port":8080,"payload":{"leader":false}}`
	})
}

// childTree creates root and n children instance-<i> of it, with data(child path), in
// multis, unless root exists (once per namespace), and returns root.
func childTree(b *testing.B, w writer, root string, n int, data func(path string) string) string {
	b.Helper()
	if ok, _, _ := w.c.Exists(testkit.Ctx(b), root); ok {
		return root
	}
	paths := []string{root}
	for i := range n {
		paths = append(paths, fmt.Sprintf("%s/instance-%05d", root, i))
	}
	w.createMany(paths, data)
	return root
}

// benchEnv is one server, one namespace and a writer shared by a benchmark's runs.
type benchEnv struct {
	srv *zktest.Server
	ns  string
	w   writer
	raw *zk.Conn // a raw writer, so the writer costs the same for the cache and the floor
}

// benchServer is the server the benchmarks share: writes are not forced to disk, so that
// the fsync of the writer's setData (milliseconds on a shared machine) does not drown
// what is measured: the client side of a change, and reads.
func benchServer(b *testing.B) *zktest.Server {
	return zktest.Start(b, zktest.WithConfig("forceSync", "no"))
}

func newBenchEnv(b *testing.B) *benchEnv {
	srv := benchServer(b)
	ns := testkit.Namespace(b)
	raw, _ := zktest.Connect(b, srv.Servers(), 10*time.Second)
	return &benchEnv{srv: srv, ns: ns, w: writer{b, connect(b, srv, ns, zkrecipes.WithSessionTimeout(10*time.Second))}, raw: raw}
}

func (e *benchEnv) full(p string) string { return "/" + e.ns + p }

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// changeVariants sets up, on e, the raw floor and a children cache over 1,000 and one over
// 10,000 znodes, and returns one change of each: it sets a znode's data through the raw
// writer and returns once the reader (the raw watch and getData, or the cache's
// listener) has the new version.
func changeVariants(b *testing.B, e *benchEnv) map[string]func(i int) {
	b.Helper()
	payload := []byte(`{"name":"svc","address":"10.0.0.1","port":8080,"payload":{"leader":true}}`)
	out := map[string]func(int){}

	// The floor's znode lies outside the caches' trees.
	if ok, _, _ := e.w.c.Exists(testkit.Ctx(b), "/bench/raw"); !ok {
		e.w.create("/bench/raw", "0")
	}
	reader, _ := zktest.Connect(b, e.srv.Servers(), 10*time.Second)
	node := e.full("/bench/raw")
	_, _, ch, err := reader.GetW(node)
	if err != nil {
		b.Fatal(err)
	}
	out["raw"] = func(int) {
		if _, err := e.raw.Set(node, payload, -1); err != nil {
			b.Fatal(err)
		}
		<-ch
		if _, _, ch, err = reader.GetW(node); err != nil {
			b.Fatal(err)
		}
	}
	for _, n := range []int{1000, 10000} {
		root := flatTree(b, e.w, n)
		cl := connect(b, e.srv, e.ns, zkrecipes.WithSessionTimeout(10*time.Second))
		c, err := cache.New(cl, root, cache.Bytes, cache.WithDepth(1))
		if err != nil {
			b.Fatal(err)
		}
		changed := make(chan string, 1)
		c.Listen(func(ev cache.Event[[]byte]) {
			if ev.Type == cache.NodeChanged {
				changed <- ev.Path
			}
		})
		if err := c.Start(testkit.Ctx(b)); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Close(context.Background()) })
		if c.Len() != n+1 {
			b.Fatalf("cached %d", c.Len())
		}
		out[fmt.Sprint("cache", n)] = func(i int) {
			p := fmt.Sprintf("%s/instance-%05d", root, (i*7919)%n)
			if _, err := e.raw.Set(e.full(p), payload, -1); err != nil {
				b.Fatal(err)
			}
			if got := <-changed; got != p {
				b.Fatalf("event for %s, want %s", got, p)
			}
		}
	}
	return out
}

// BenchmarkChange: one znode's data set by another session until the reader has it: a
// children cache's listener holding the NodeChanged event, with 1,000 and with 10,000
// znodes cached, against the raw floor setData -> watch notification -> getData.
//
// latency interleaves the three and reports their median round trips and the caches'
// ratios to the floor. cost runs them in alternating blocks and reports the CPU time and
// the allocations of this process (the writer, go-zk, and the cache or the raw reader)
// per change, and the ratio of the cache's cost at 10,000 znodes to that at 1,000.
func BenchmarkChange(b *testing.B) {
	e := newBenchEnv(b)
	run := changeVariants(b, e)
	names := []string{"raw", "cache1000", "cache10000"}
	b.Run("latency", func(b *testing.B) {
		i := 0
		interleaved(b, 0, names, func(name string) time.Duration {
			i++
			t0 := time.Now()
			run[name](i)
			return time.Since(t0)
		}, []string{"raw"}, "cache1000", "cache10000")
	})
	b.Run("cost", func(b *testing.B) {
		const block = 50
		cpu := map[string]time.Duration{}
		mallocs := map[string]uint64{}
		bytes := map[string]uint64{}
		ops := map[string]int{}
		var ms0, ms1 runtime.MemStats
		for i := 0; i < b.N; i += block {
			for k := range names {
				name := names[(i/block+k)%len(names)]
				runtime.ReadMemStats(&ms0)
				c0 := cpuTime()
				for j := 0; j < block; j++ {
					run[name](i + j)
				}
				cpu[name] += cpuTime() - c0
				runtime.ReadMemStats(&ms1)
				mallocs[name] += ms1.Mallocs - ms0.Mallocs
				bytes[name] += ms1.TotalAlloc - ms0.TotalAlloc
				ops[name] += block
			}
		}
		per := func(name string) (float64, float64) {
			return float64(cpu[name].Nanoseconds()) / 1000 / float64(ops[name]), float64(mallocs[name]) / float64(ops[name])
		}
		for _, n := range names {
			c, m := per(n)
			b.ReportMetric(c, n+"-cpu-us")
			b.ReportMetric(m, n+"-allocs")
			b.ReportMetric(float64(bytes[n])/float64(ops[n]), n+"-bytes")
		}
		c1, m1 := per("cache1000")
		c2, m2 := per("cache10000")
		b.ReportMetric(c2/c1, "cpu-10000/1000")
		b.ReportMetric(m2/m1, "allocs-10000/1000")
	})
}

// rawLoad is the floor of a primed load: list root (with a child watch) and GetW every
// child with par calls in flight; with kids, also ChildrenW every child (a tree cache).
func rawLoad(b *testing.B, conn *zk.Conn, root string, par int, kids bool) int {
	names, _, _, err := conn.ChildrenW(root)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, _, err := conn.GetW(root); err != nil {
		b.Fatal(err)
	}
	work := make(chan string)
	var wg sync.WaitGroup
	var got atomic.Int64
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				if _, _, _, err := conn.GetW(p); err != nil {
					b.Error(err)
				}
				got.Add(1)
				if kids {
					if _, _, _, err := conn.ChildrenW(p); err != nil {
						b.Error(err)
					}
				}
			}
		}()
	}
	for _, n := range names {
		work <- root + "/" + n
	}
	close(work)
	wg.Wait()
	return int(got.Load())
}

// median returns the median of ds.
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// interleaved runs every variant once per iteration, at least rounds times, in an order
// that rotates, so that a busy machine slows all of them alike; it reports each one's
// median in ms, and the ratio of the median of each variant named in ratios to the best
// median among base.
func interleaved(b *testing.B, rounds int, names []string, run func(name string) time.Duration, base []string, ratios ...string) map[string]time.Duration {
	b.Helper()
	got := map[string][]time.Duration{}
	cpu := map[string][]time.Duration{}
	for i := 0; i < max(b.N, rounds); i++ {
		for k := range names {
			name := names[(i+k)%len(names)]
			c0 := cpuTime()
			got[name] = append(got[name], run(name))
			cpu[name] = append(cpu[name], cpuTime()-c0)
		}
	}
	med := map[string]time.Duration{}
	for _, n := range names {
		med[n] = median(got[n])
		b.ReportMetric(float64(med[n].Microseconds())/1000, n+"-ms")
		if rounds > 0 { // whole loads: their CPU time too (setup included)
			b.ReportMetric(float64(median(cpu[n]).Microseconds())/1000, n+"-cpu-ms")
		}
	}
	best := time.Duration(math.MaxInt64)
	for _, n := range base {
		best = min(best, med[n])
	}
	for _, n := range ratios {
		b.ReportMetric(float64(med[n])/float64(best), n+"/floor")
	}
	return med
}

// BenchmarkStart: a primed Start over 1,000 existing znodes against the raw floor, run
// interleaved. children: a children cache (depth 1) against listing the parent and
// GetW on every child with 16, 128 or 1,024 in flight. tree: a tree cache (which also
// lists every child) against the same plus ChildrenW on every child.
func BenchmarkStart(b *testing.B) {
	e := newBenchEnv(b)
	root := flatTree(b, e.w, 1000)
	for _, kids := range []bool{false, true} {
		shape, depth := "children", 1
		if kids {
			shape, depth = "tree", cache.Unlimited
		}
		b.Run(shape, func(b *testing.B) {
			names := []string{"raw16", "raw128", "raw1024", "clientconn128", "clientconn1024", "cache16", "cache128", "cache1024"}
			pars := map[string]int{"raw16": 16, "raw128": 128, "raw1024": 1024, "clientconn128": 128, "clientconn1024": 1024,
				"cache16": 16, "cache128": 128, "cache1024": 1024}
			interleaved(b, 15, names, func(name string) time.Duration {
				par := pars[name]
				if strings.HasPrefix(name, "clientconn") {
					// The same raw load on a Client's go-zk connection (its dialer wraps the
					// TCP connection): what the Client costs under the cache.
					cl := connect(b, e.srv, e.ns, zkrecipes.WithSessionTimeout(10*time.Second))
					defer cl.Close(context.Background())
					t0 := time.Now()
					if n := rawLoad(b, cl.Conn(), e.full(root), par, kids); n != 1000 {
						b.Fatalf("read %d", n)
					}
					return time.Since(t0)
				}
				if strings.HasPrefix(name, "raw") {
					conn, _ := zktest.Connect(b, e.srv.Servers(), 10*time.Second)
					defer conn.Close()
					t0 := time.Now()
					if n := rawLoad(b, conn, e.full(root), par, kids); n != 1000 {
						b.Fatalf("read %d", n)
					}
					return time.Since(t0)
				}
				cl := connect(b, e.srv, e.ns, zkrecipes.WithSessionTimeout(10*time.Second))
				defer cl.Close(context.Background())
				// A new Client holds operations for its first 10 ms (it lets go-zk re-send
				// watches first after a connection): that is the Client's, not the cache's.
				if _, _, err := cl.Exists(testkit.Ctx(b), "/"); err != nil {
					b.Fatal(err)
				}
				c, err := cache.New(cl, root, cache.Bytes, cache.WithDepth(depth), cache.WithParallelism(par))
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close(context.Background())
				t0 := time.Now()
				if err := c.Start(testkit.Ctx(b)); err != nil {
					b.Fatal(err)
				}
				d := time.Since(t0)
				if c.Len() != 1001 {
					b.Fatalf("cached %d", c.Len())
				}
				return d
			}, []string{"raw16", "raw128", "raw1024"}, "clientconn128", "clientconn1024", "cache16", "cache128", "cache1024")
		})
	}
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkFootprint: goroutines per cache (one of 1 znode, one of 10,000), and the heap
// per cached znode at 10,000 znodes, beyond the data: the whole (cache and go-zk's
// registration of its two watches per znode), and go-zk's part alone, measured by a raw
// connection setting the same watches.
func BenchmarkFootprint(b *testing.B) {
	e := newBenchEnv(b)
	const n = 10000
	root := flatTree(b, e.w, n)
	e.w.create("/bench/one", "1")
	for i := 0; i < b.N; i++ {
		// go-zk's share: a raw connection with a data watch per znode and a child watch on
		// each (the watches a tree cache sets), each call with its own copy of the server
		// path as the Client makes it (go-zk keeps it as the key of the watch), no data kept.
		conn, _ := zktest.Connect(b, e.srv.Servers(), 10*time.Second)
		names, _, err := conn.Children(e.full(root))
		if err != nil {
			b.Fatal(err)
		}
		prefix := e.full(root) + "/"
		h0 := heapInUse()
		for _, nm := range names {
			if _, _, _, err := conn.ExistsW(prefix + nm); err != nil {
				b.Fatal(err)
			}
			if _, _, _, err := conn.ChildrenW(prefix + nm); err != nil {
				b.Fatal(err)
			}
		}
		gozk := float64(heapInUse()-h0) / n
		runtime.KeepAlive(names)
		conn.Close()

		cl := connect(b, e.srv, e.ns, zkrecipes.WithSessionTimeout(10*time.Second))
		before := goleak.IgnoreCurrent()
		g0 := settledGoroutines(b, before)
		one, err := cache.New(cl, "/bench/one", cache.Bytes)
		if err != nil {
			b.Fatal(err)
		}
		if err := one.Start(testkit.Ctx(b)); err != nil {
			b.Fatal(err)
		}
		g1 := settledGoroutines(b, before)
		h1 := heapInUse()
		c, err := cache.New(cl, root, cache.Bytes)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Start(testkit.Ctx(b)); err != nil {
			b.Fatal(err)
		}
		g2 := settledGoroutines(b, before)
		var data uint64
		for nd := range c.Snapshot().All() {
			data += uint64(len(nd.Data))
		}
		total := float64(heapInUse()-h1-data) / float64(c.Len())
		b.ReportMetric(float64(g1-g0), "goroutines/cache-1")
		b.ReportMetric(float64(g2-g1), "goroutines/cache-10000")
		b.ReportMetric(total, "B/znode-total")
		b.ReportMetric(gozk, "B/znode-gozk-watches")
		b.ReportMetric(total-gozk, "B/znode-cache")
		_ = c.Close(context.Background())
		_ = one.Close(context.Background())
		_ = cl.Close(context.Background())
	}
}

// BenchmarkResync: a tree cache of 10,000 znodes whose session expires (a cut longer than
// the session timeout): the time from RECONNECTED with a new session to Resynced, against
// the same cache's primed Start.
func BenchmarkResync(b *testing.B) {
	e := newBenchEnv(b)
	root := "/bench/tree10k"
	if ok, _, _ := e.w.c.Exists(testkit.Ctx(b), root); !ok {
		e.w.createMany(bigTree(root), func(p string) string { return p })
	}
	var starts, resyncs []time.Duration
	defer func() {
		b.ReportMetric(float64(median(starts).Milliseconds()), "start-ms")
		b.ReportMetric(float64(median(resyncs).Milliseconds()), "resync-ms")
		b.ReportMetric(median(resyncs).Seconds()/median(starts).Seconds(), "resync/start")
	}()
	for i := 0; i < b.N; i++ {
		fd := zktest.NewFaultDialer()
		cl := connect(b, e.srv, e.ns, zkrecipes.WithDialer(fd.Dial), zkrecipes.WithSessionTimeout(2*time.Second))
		c, err := cache.New(cl, root, cache.Bytes)
		if err != nil {
			b.Fatal(err)
		}
		events := make(chan cache.Event[[]byte], 16)
		c.Listen(func(ev cache.Event[[]byte]) {
			if ev.Type == cache.Resynced || ev.Type == cache.ConnectionStateChanged {
				events <- ev
			}
		})
		t0 := time.Now()
		if err := c.Start(testkit.Ctx(b)); err != nil {
			b.Fatal(err)
		}
		start := time.Since(t0)
		ctx := testkit.Ctx(b)
		marker := fmt.Sprintf("/bench/marker%d", i)
		if _, err := cl.Create(ctx, marker, nil, zkrecipes.ModeEphemeral); err != nil {
			b.Fatal(err)
		}
		_, _, expired, err := e.w.c.ExistsW(ctx, marker)
		if err != nil {
			b.Fatal(err)
		}
		fd.Cut()
		<-expired
		fd.Heal()
		var t1 time.Time
		for ev := range events {
			if ev.Type == cache.ConnectionStateChanged && ev.State.State == zkrecipes.StateReconnected {
				if !ev.State.NewSession {
					b.Fatal("no new session")
				}
				t1 = ev.State.Time
			}
			if ev.Type == cache.Resynced {
				break
			}
		}
		starts = append(starts, start)
		resyncs = append(resyncs, time.Since(t1))
		if c.Len() != 10101 {
			b.Fatalf("cached %d after the resync", c.Len())
		}
		_ = c.Close(context.Background())
		_ = cl.Close(context.Background())
	}
}
