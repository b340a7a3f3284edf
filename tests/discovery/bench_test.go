package discovery_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

const benchInstances = 1000

// registerN registers n instances of svc through d, with up to par at a time.
func registerN(b *testing.B, d *discovery.Discovery[instanceDetails], svc string, n, par int) []discovery.Instance[instanceDetails] {
	b.Helper()
	ctx := testkit.Ctx(b)
	out := make([]discovery.Instance[instanceDetails], n)
	for i := range out {
		out[i] = mustInstance(b, svc, false, discovery.WithID(fmt.Sprintf("i%05d", i)))
	}
	work := make(chan discovery.Instance[instanceDetails])
	var wg sync.WaitGroup
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for in := range work {
				if err := d.Register(ctx, in); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for _, in := range out {
		work <- in
	}
	close(work)
	wg.Wait()
	return out
}

// BenchmarkRegister: registrations per second of 1,000 instances on one client, one at a
// time and 16 at a time.
func BenchmarkRegister(b *testing.B) {
	srv := zktest.Start(b)
	for _, par := range []int{1, 16} {
		b.Run(fmt.Sprintf("parallel=%d", par), func(b *testing.B) {
			c := connect(b, srv, testkit.Namespace(b))
			var total time.Duration
			for i := 0; i < b.N; i++ {
				d, err := discovery.New[instanceDetails](c, "/services")
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				registerN(b, d, fmt.Sprintf("svc%d", i), benchInstances, par)
				total += time.Since(start)
				b.StopTimer()
				if err := d.Close(testkit.Ctx(b)); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(benchInstances*b.N)/total.Seconds(), "registrations/s")
		})
	}
}

// BenchmarkCacheSeesAll: how long a Cache on another client takes to see 1,000
// instances: its initial load when they exist, and, for a running cache, from the first
// registration until it holds all of them.
func BenchmarkCacheSeesAll(b *testing.B) {
	srv := zktest.Start(b)
	ns := testkit.Namespace(b)
	writerClient := connect(b, srv, ns)
	writer := newDiscovery(b, writerClient)
	reader := newDiscovery(b, connect(b, srv, ns))
	registerN(b, writer, "loaded", benchInstances, 16)

	b.Run("initial-load", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			c, err := reader.Cache("loaded")
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Start(testkit.Ctx(b)); err != nil {
				b.Fatal(err)
			}
			if n := len(c.Instances()); n != benchInstances {
				b.Fatalf("loaded %d", n)
			}
			b.StopTimer()
			_ = c.Close(context.Background())
			b.StartTimer()
		}
	})
	b.Run("live-registrations", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			svc := fmt.Sprintf("live%d", i)
			c, err := reader.Cache(svc)
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Start(testkit.Ctx(b)); err != nil {
				b.Fatal(err)
			}
			full := make(chan struct{})
			var once sync.Once
			c.Listen(func(ev discovery.CacheEvent[instanceDetails]) {
				if len(ev.Instances) == benchInstances {
					once.Do(func() { close(full) })
				}
			})
			d := newDiscovery(b, writerClient)
			b.StartTimer()
			registerN(b, d, svc, benchInstances, 16)
			select {
			case <-full:
			case <-time.After(testkit.Patience):
				b.Fatalf("cache has %d of %d", len(c.Instances()), benchInstances)
			}
			b.StopTimer()
			_ = c.Close(context.Background())
			_ = d.Close(testkit.Ctx(b))
			b.StartTimer()
		}
	})
}

// BenchmarkChange: with 1,000 instances present, the time from one change on the
// registering client to the event of a Cache on another client, and the ZooKeeper reads
// the Cache issues per change.
func BenchmarkChange(b *testing.B) {
	srv := zktest.Start(b)
	ns := testkit.Namespace(b)
	writer := newDiscovery(b, connect(b, srv, ns))
	reader := newDiscovery(b, connect(b, srv, ns))
	all := registerN(b, writer, "svc", benchInstances, 16)
	c := startCache(b, reader, "svc")
	if n := len(c.Instances()); n != benchInstances {
		b.Fatalf("loaded %d", n)
	}
	events := make(chan discovery.CacheEvent[instanceDetails], 16)
	c.Listen(func(ev discovery.CacheEvent[instanceDetails]) {
		if ev.Kind == discovery.CacheChanged {
			events <- ev
		}
	})
	await := func(b *testing.B) discovery.CacheEvent[instanceDetails] {
		select {
		case ev := <-events:
			return ev
		case <-time.After(testkit.Patience):
			b.Fatal("no cache event")
		}
		return discovery.CacheEvent[instanceDetails]{}
	}
	ctx := testkit.Ctx(b)

	b.Run("update", func(b *testing.B) {
		before := cacheReads(c)
		for i := 0; i < b.N; i++ {
			in := all[i%len(all)]
			in.Payload.Leader = !in.Payload.Leader
			all[i%len(all)] = in
			if err := writer.Update(ctx, in); err != nil {
				b.Fatal(err)
			}
			if ev := await(b); len(ev.Updated) != 1 {
				b.Fatalf("event %s", describe([]discovery.CacheEvent[instanceDetails]{ev}))
			}
		}
		b.ReportMetric(float64(cacheReads(c)-before)/float64(b.N), "reads/change")
	})
	b.Run("add-remove", func(b *testing.B) {
		before := cacheReads(c)
		for i := 0; i < b.N; i++ {
			in := mustInstance(b, "svc", false)
			if err := writer.Register(ctx, in); err != nil {
				b.Fatal(err)
			}
			if ev := await(b); len(ev.Added) != 1 {
				b.Fatalf("event %s", describe([]discovery.CacheEvent[instanceDetails]{ev}))
			}
			if err := writer.Unregister(ctx, in); err != nil {
				b.Fatal(err)
			}
			if ev := await(b); len(ev.Removed) != 1 {
				b.Fatalf("event %s", describe([]discovery.CacheEvent[instanceDetails]{ev}))
			}
		}
		// Two changes per iteration; the time per op covers both.
		b.ReportMetric(float64(cacheReads(c)-before)/float64(2*b.N), "reads/change")
	})
}

// BenchmarkFootprint: the goroutines a Discovery runs with 1,000 registered instances, and
// those a started Cache of them runs (the targets: none per instance, at most 4
// per cache). Set up once; b.N only repeats the count.
func BenchmarkFootprint(b *testing.B) {
	srv := zktest.Start(b)
	ns := testkit.Namespace(b)
	quiet := func() int {
		// Goroutines that are finishing (a Client's call helpers) settle within a moment;
		// take the smallest count seen over a short while.
		least := runtime.NumGoroutine()
		for range 20 {
			runtime.Gosched()
			least = min(least, runtime.NumGoroutine())
		}
		return least
	}
	wc := connect(b, srv, ns)
	rc := connect(b, srv, ns)
	base := quiet()
	writer := newDiscovery(b, wc)
	afterNew := quiet()
	registerN(b, writer, "svc", benchInstances, 16)
	afterRegs := quiet()
	reader := newDiscovery(b, rc)
	afterReader := quiet()
	c := startCache(b, reader, "svc")
	if n := len(c.Instances()); n != benchInstances {
		b.Fatalf("loaded %d", n)
	}
	afterCache := quiet()
	for range b.N {
		runtime.Gosched()
	}
	b.ReportMetric(float64(afterNew-base), "goroutines/discovery")
	b.ReportMetric(float64(afterRegs-afterNew)/benchInstances, "goroutines/instance")
	b.ReportMetric(float64(afterCache-afterReader), "goroutines/cache")
	b.ReportMetric(benchInstances, "instances")
}
