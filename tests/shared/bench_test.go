package shared_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes/shared"
	"github.com/zkrecipes/zkrecipes/tests/curatortest"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

const contenders = 8

// contend runs fn on contenders goroutines until b.N increments succeeded in total and
// reports increments per second and attempts per increment.
func contend(b *testing.B, fn func(worker int) (bool, error)) {
	var done, attempts atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < contenders; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for done.Load() < int64(b.N) {
				attempts.Add(1)
				ok, err := fn(w)
				if err != nil {
					b.Error(err)
					return
				}
				if ok {
					done.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(done.Load())/el.Seconds(), "incr/s")
	b.ReportMetric(float64(attempts.Load())/float64(done.Load()), "attempts/incr")
}

// Count.TrySet increments, 8 contending clients on one count.
func BenchmarkCountTrySet8(b *testing.B) {
	srv := zktest.Start(b)
	ns := testkit.Namespace(b)
	ctx := testkit.Ctx(b)
	counts := make([]*shared.Count, contenders)
	for i := range counts {
		counts[i] = startCount(b, testkit.Connect(b, srv.Servers(), ns), "/bench", 0)
	}
	contend(b, func(w int) (bool, error) {
		v, err := counts[w].Get()
		if err != nil {
			return false, err
		}
		return counts[w].TrySet(ctx, v, v.Value+1)
	})
}

// The floor: raw go-zk get + versioned set, 8 contending connections, no local copy.
func BenchmarkRawGetSet8(b *testing.B) {
	srv := zktest.Start(b)
	path := zktest.BasePath(b)
	conns := make([]*zk.Conn, contenders)
	for i := range conns {
		conns[i], _ = zktest.Connect(b, srv.Servers(), 4*time.Second)
	}
	if _, err := conns[0].Create("/t", nil, 0, zk.WorldACL(zk.PermAll)); err != nil && err != zk.ErrNodeExists {
		b.Fatal(err)
	}
	if _, err := conns[0].Create(path, shared.EncodeCount(0), 0, zk.WorldACL(zk.PermAll)); err != nil {
		b.Fatal(err)
	}
	contend(b, func(w int) (bool, error) {
		data, st, err := conns[w].Get(path)
		if err != nil {
			return false, err
		}
		n, err := shared.DecodeCount(path, data)
		if err != nil {
			return false, err
		}
		_, err = conns[w].Set(path, shared.EncodeCount(n+1), st.Version)
		if err == zk.ErrBadVersion {
			return false, nil
		}
		return err == nil, err
	})
}

// Curator 5.4's SharedCount trySetCount increments, 8 contending Curator clients in one
// JVM, on the same server.
func BenchmarkCuratorCountTrySet8(b *testing.B) {
	srv := zktest.Start(b)
	java := curatortest.Start(b, srv.ConnectString())
	path := zktest.BasePath(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// Warm the JVM once so that b.N = 1 does not measure class loading alone.
	if _, err := java.CountBench(ctx, srv.ConnectString(), path+"-warm", contenders, 200); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	el, err := java.CountBench(ctx, srv.ConnectString(), path, contenders, b.N)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "incr/s")
}
