package lock_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/probe"
	"github.com/zkrecipes/zkrecipes/lock"
	"github.com/zkrecipes/zkrecipes/tests/curatortest"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// Run them side by side on one server, e.g.
//
//	go test -run '^$' -bench . -benchtime 300x ./lock/
//
// Each benchmark has sub-benchmarks for the raw go-zk floor (where there is one), this
// package and Curator 5.4 (a Java peer on the same server, timed on its own clock after
// warm-up rounds). ns/op is the mean of one operation; p50-µs and p90-µs are percentiles.

func reportSamples(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	var sum time.Duration
	for _, s := range samples {
		sum += s
	}
	slices.Sort(samples)
	b.ReportMetric(float64(sum.Nanoseconds())/float64(len(samples)), "ns/op")
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(samples[len(samples)*9/10].Microseconds()), "p90-µs")
}

func benchClient(b *testing.B, servers []string, ns string) *zkrecipes.Client {
	return connect(b, servers, ns, zkrecipes.WithSessionTimeout(4*time.Second))
}

// benchPeer starts a Java peer in ns, or skips the Curator sub-benchmarks when Java is
// missing (and ZK_TEST_REQUIRE is not set).
func benchPeer(b *testing.B, srv *zktest.Server, ns string) *curatortest.Peer {
	if err := curatortest.Available(); err != nil {
		return nil
	}
	return curatortest.Start(b, srv.ConnectString(), curatortest.WithNamespace(ns), curatortest.WithSessionTimeout(4*time.Second))
}

// Uncontended Acquire + Release: the raw floor (create an ephemeral sequential node,
// list the parent, delete the node), this package's Mutex, Curator's InterProcessMutex.
func BenchmarkMutexUncontended(b *testing.B) {
	srv := zktest.Start(b)
	ns := newNamespace(b)
	c := benchClient(b, srv.Servers(), ns)
	peer := benchPeer(b, srv, ns)
	ctx := context.Background()

	b.Run("raw-go-zk", func(b *testing.B) {
		if err := c.EnsurePath(ctx, "/raw"); err != nil {
			b.Fatal(err)
		}
		conn, parent := c.Conn(), c.Namespace()+"/raw"
		prefix := parent + "/_c_" + zkrecipes.NewUUID() + "-lock-"
		acl := zk.WorldACL(zk.PermAll)
		samples := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			p, err := conn.Create(prefix, []byte{}, zk.FlagEphemeralSequential, acl)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := conn.Children(parent); err != nil {
				b.Fatal(err)
			}
			if err := conn.Delete(p, -1); err != nil {
				b.Fatal(err)
			}
			samples = append(samples, time.Since(t0))
		}
		b.StopTimer()
		reportSamples(b, samples)
	})
	b.Run("zkrecipes", func(b *testing.B) {
		m := newMutex(b, c, "/go")
		samples := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			l, err := m.Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := l.Release(ctx); err != nil {
				b.Fatal(err)
			}
			samples = append(samples, time.Since(t0))
		}
		b.StopTimer()
		reportSamples(b, samples)
	})
	b.Run("curator", func(b *testing.B) {
		if peer == nil {
			b.Skip("no Java peer")
		}
		if _, err := peer.MutexBench(testCtx(b), "/java", 300); err != nil { // warm-up
			b.Fatal(err)
		}
		b.ResetTimer()
		samples, err := peer.MutexBench(testCtx(b), "/java", b.N)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		reportSamples(b, samples)
	})
}

// Hand-off latency: from the start of the holder's release to the return of the waiting
// contender's acquire, the waiter on a session of its own with its watch armed.
func BenchmarkMutexHandoff(b *testing.B) {
	srv := zktest.Start(b)
	ns := newNamespace(b)
	peer := benchPeer(b, srv, ns)

	b.Run("zkrecipes", func(b *testing.B) {
		ctx := context.Background()
		var mutexes [2]*lock.Mutex
		var waiting [2]chan struct{}
		for i := range mutexes {
			mutexes[i] = newMutex(b, benchClient(b, srv.Servers(), ns), "/go")
			waiting[i] = make(chan struct{}, 1)
			probe.SetMutexWaiting(mutexes[i], func() { waiting[i] <- struct{}{} })
		}
		held, err := mutexes[0].Acquire(ctx)
		if err != nil {
			b.Fatal(err)
		}
		samples := make([]time.Duration, 0, b.N)
		var fast0 int64
		for _, m := range mutexes {
			_, f := mutexCounters(m)
			fast0 += f
		}
		b.ResetTimer()
		b.StopTimer()
		for i := 0; i < b.N; i++ {
			w := mutexes[(i+1)%2]
			res := acquireAsync(ctx, w)
			<-waiting[(i+1)%2]
			b.StartTimer()
			t0 := time.Now()
			if err := held.Release(ctx); err != nil {
				b.Fatal(err)
			}
			r := <-res
			b.StopTimer()
			if r.err != nil {
				b.Fatal(r.err)
			}
			samples = append(samples, r.at.Sub(t0))
			held = r.l
		}
		_ = held.Release(ctx)
		reportSamples(b, samples)
		var fast int64
		for _, m := range mutexes {
			_, f := mutexCounters(m)
			fast += f
		}
		b.ReportMetric(100*float64(fast-fast0)/float64(b.N), "fast-%")
	})
	b.Run("curator", func(b *testing.B) {
		if peer == nil {
			b.Skip("no Java peer")
		}
		b.ResetTimer()
		samples, err := peer.MutexHandoffBench(testCtx(b), "/java", 20, b.N)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		reportSamples(b, samples)
	})
}

// Acquire/release cycles per second with 16 contenders, each on a session of its own.
func BenchmarkMutexContended16(b *testing.B) {
	const k = 16
	srv := zktest.Start(b)
	ns := newNamespace(b)
	peer := benchPeer(b, srv, ns)

	b.Run("zkrecipes", func(b *testing.B) {
		ctx := context.Background()
		mutexes := make([]*lock.Mutex, k)
		for i := range mutexes {
			mutexes[i] = newMutex(b, benchClient(b, srv.Servers(), ns), "/go")
		}
		var left atomic.Int64
		left.Store(int64(b.N))
		var wg sync.WaitGroup
		errs := make(chan error, k)
		b.ResetTimer()
		t0 := time.Now()
		for _, m := range mutexes {
			wg.Go(func() {
				for left.Add(-1) >= 0 {
					l, err := m.Acquire(ctx)
					if err != nil {
						errs <- err
						return
					}
					if err := l.Release(ctx); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(t0)
		b.StopTimer()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "cycles/s")
	})
	b.Run("curator", func(b *testing.B) {
		if peer == nil {
			b.Skip("no Java peer")
		}
		if _, err := peer.MutexContendBench(testCtx(b), "/java", k, 200); err != nil { // warm-up
			b.Fatal(err)
		}
		b.ResetTimer()
		elapsed, err := peer.MutexContendBench(testCtx(b), "/java", k, b.N)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N), "ns/op")
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "cycles/s")
	})
}

// Goroutines per held lock (100 locks on one Client), and after they are all released.
func BenchmarkMutexGoroutines(b *testing.B) {
	srv := zktest.Start(b)
	ns := newNamespace(b)
	c := benchClient(b, srv.Servers(), ns)
	ctx := context.Background()
	const n = 100
	mutexes := make([]*lock.Mutex, n)
	for i := range mutexes {
		mutexes[i] = newMutex(b, c, fmt.Sprintf("/g%d", i))
	}
	var per, after float64
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		base := runtime.NumGoroutine()
		locks := make([]*lock.Lock, n)
		for i, m := range mutexes {
			l, err := m.Acquire(ctx)
			if err != nil {
				b.Fatal(err)
			}
			locks[i] = l
		}
		per = float64(runtime.NumGoroutine()-base) / n
		for _, l := range locks {
			if err := l.Release(ctx); err != nil {
				b.Fatal(err)
			}
		}
		after = float64(runtime.NumGoroutine() - base)
	}
	b.StopTimer()
	b.ReportMetric(per, "goroutines/held-lock")
	b.ReportMetric(after, "goroutines-after-release")
}
