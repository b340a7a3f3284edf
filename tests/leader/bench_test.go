package leader_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/leader"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// Run them side by side, e.g.
//
//	go test -run '^$' -bench . -benchtime 200x ./leader/
//
// BenchmarkHandover and BenchmarkRawDeleteWatch measure the same thing at
// two levels on the same server: the first from a leader's Close to the
// next participant's IsLeader callback, the second from a raw delete to the
// watch notification on another connection. ns/op of each is one
// round; p50-µs is the median.

func reportSamples(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(samples[len(samples)*9/10].Microseconds()), "p90-µs")
}

func benchClient(b *testing.B, servers []string, ns string) *zkrecipes.Client {
	return testkit.Connect(b, servers, ns, zkrecipes.WithSessionTimeout(4*time.Second))
}

func BenchmarkHandover(b *testing.B) {
	srv := zktest.Start(b)
	ns := testkit.Namespace(b)
	clients := [2]*zkrecipes.Client{benchClient(b, srv.Servers(), ns), benchClient(b, srv.Servers(), ns)}
	elected := make(chan time.Time, 1)
	start := func(c *zkrecipes.Client) *leader.Latch {
		l, err := leader.New(c, "/e", leader.WithListener(leader.ListenerFuncs{OnIsLeader: func() { elected <- time.Now() }}))
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		return l
	}
	head := start(clients[0])
	headClient := clients[0]
	<-elected
	follower := start(clients[1])
	followerClient := clients[1]
	ctx := context.Background()
	samples := make([]time.Duration, 0, b.N)
	var fast int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := head.Close(ctx); err != nil {
			b.Fatal(err)
		}
		t1 := <-elected
		b.StopTimer()
		samples = append(samples, t1.Sub(t0))
		fast += fastHandovers(follower)
		head, headClient, followerClient = follower, followerClient, headClient
		follower = start(followerClient)
		b.StartTimer()
	}
	b.StopTimer()
	reportSamples(b, samples)
	// The share of hand-overs that skipped the children read.
	b.ReportMetric(100*float64(fast)/float64(b.N), "fast-%")
	_ = head.Close(ctx)
	_ = follower.Close(ctx)
}

func BenchmarkRawDeleteWatch(b *testing.B) {
	srv := zktest.Start(b)
	ns := testkit.Namespace(b)
	oc := benchClient(b, srv.Servers(), ns)
	if _, err := oc.Create(context.Background(), "/raw", nil, zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		b.Fatal(err)
	}
	owner, watcher := oc.Conn(), benchClient(b, srv.Servers(), ns).Conn()
	base := oc.Namespace() + "/raw"
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		node, err := owner.Create(base+"/n", []byte{}, zk.FlagEphemeralSequential, zk.WorldACL(zk.PermAll))
		if err != nil {
			b.Fatal(err)
		}
		_, _, ch, err := watcher.GetW(node)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		if err := owner.Delete(node, -1); err != nil {
			b.Fatal(err)
		}
		<-ch
		samples = append(samples, time.Since(t0))
	}
	b.StopTimer()
	reportSamples(b, samples)
}

// BenchmarkElect: N participants, each on its own session, start at once;
// one op is the time until every Start returned (each participant placed,
// one of them leading).
func BenchmarkElect(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			srv := zktest.Start(b)
			ns := testkit.Namespace(b)
			clients := make([]*zkrecipes.Client, n)
			for i := range clients {
				clients[i] = benchClient(b, srv.Servers(), ns)
			}
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				latches := make([]*leader.Latch, n)
				for j, c := range clients {
					l, err := leader.New(c, "/e")
					if err != nil {
						b.Fatal(err)
					}
					latches[j] = l
				}
				b.StartTimer()
				var wg sync.WaitGroup
				for _, l := range latches {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if err := l.Start(ctx); err != nil {
							b.Error(err)
						}
					}()
				}
				wg.Wait()
				b.StopTimer()
				leaders := 0
				for _, l := range latches {
					if l.HasLeadership() {
						leaders++
					}
				}
				if leaders != 1 {
					b.Fatalf("%d leaders", leaders)
				}
				for _, l := range latches {
					wg.Add(1)
					go func() {
						defer wg.Done()
						_ = l.Close(ctx)
					}()
				}
				wg.Wait()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkLatchFootprint: the cost of one started latch (with a listener)
// that waits behind a leader, all on one client: goroutines and live heap
// per latch, and the time and allocations of a Start plus Close.
func BenchmarkLatchFootprint(b *testing.B) {
	srv := zktest.Start(b)
	ns := testkit.Namespace(b)
	c := benchClient(b, srv.Servers(), ns)
	ctx := context.Background()
	newStarted := func() *leader.Latch {
		l, err := leader.New(c, "/e", leader.WithListener(leader.ListenerFuncs{}))
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Start(ctx); err != nil {
			b.Fatal(err)
		}
		return l
	}
	first := newStarted()

	const k = 100
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	held := make([]*leader.Latch, k)
	for i := range held {
		held[i] = newStarted()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	g1 := runtime.NumGoroutine()
	for _, l := range held {
		_ = l.Close(ctx)
	}

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l := newStarted()
		if err := l.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	// After the loop: ResetTimer drops metrics reported before it.
	b.ReportMetric(float64(g1-g0)/k, "goroutines/latch")
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/k, "heap-B/latch")
	_ = first.Close(ctx)
}

// BenchmarkGuardedWrite compares one fenced write (Term.Multi: guard + fence + the write)
// with the same write as a plain Client.Multi with only the guard, and with a raw go-zk
// multi, on one server and connection.
func BenchmarkGuardedWrite(b *testing.B) {
	srv := zktest.Start(b)
	ns := testkit.Namespace(b)
	c := benchClient(b, srv.Servers(), ns)
	ctx := context.Background()
	if _, err := c.Create(ctx, "/data", []byte("0"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		b.Fatal(err)
	}
	l := startLatch(b, c, "/e", "bench", nil)
	if err := l.Await(testkit.Ctx(b)); err != nil {
		b.Fatal(err)
	}
	term, _ := l.Term()
	set := &zk.SetDataRequest{Path: "/data", Data: []byte("x"), Version: -1}
	b.Run("raw-multi", func(b *testing.B) {
		full := &zk.SetDataRequest{Path: "/" + ns + "/data", Data: []byte("x"), Version: -1}
		guard := &zk.CheckVersionRequest{Path: "/" + ns + term.Node, Version: 0}
		for i := 0; i < b.N; i++ {
			if _, err := c.Conn().Multi(guard, full); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("client-multi-guard", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := c.Multi(ctx, term.Guard(), set); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("term-multi", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := term.Multi(ctx, set); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCrashHandover measures a crashed leader's hand-over beyond the session expiry
// that it cannot beat: the leader's connection is black-holed (to the server, a crash),
// the server expires its session and deletes its node; expiry-to-leader is the time from
// a raw go-zk watch seeing that delete to the successor's IsLeader callback, and the
// get-µs metric is one raw round trip on the same server, for scale.
func BenchmarkCrashHandover(b *testing.B) {
	srv := zktest.Start(b)
	ns := testkit.Namespace(b)
	raw, _ := zktest.Connect(b, srv.Servers(), 4*time.Second)
	samples := make([]time.Duration, 0, b.N)
	var rtts []time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		fd := zktest.NewFaultDialer()
		ca := testkit.Connect(b, srv.Servers(), ns, zkrecipes.WithDialer(fd.Dial), zkrecipes.WithSessionTimeout(time.Second))
		cb := benchClient(b, srv.Servers(), ns)
		elected := make(chan time.Time, 2)
		path := fmt.Sprintf("/crash/%d", i)
		la := startLatch(b, ca, path, "a", nil)
		if err := la.Await(testkit.Ctx(b)); err != nil {
			b.Fatal(err)
		}
		lb, err := leader.New(cb, path, leader.WithListener(leader.ListenerFuncs{OnIsLeader: func() { elected <- time.Now() }}))
		if err != nil {
			b.Fatal(err)
		}
		if err := lb.Start(testkit.Ctx(b)); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if _, _, err := raw.Get("/" + ns + la.Node()); err != nil {
			b.Fatal(err)
		}
		rtts = append(rtts, time.Since(t0))
		ok, _, w, err := raw.ExistsW("/" + ns + la.Node())
		if err != nil || !ok {
			b.Fatal(ok, err)
		}
		b.StartTimer()
		fd.BlackHole()
		ev := <-w
		deleted := time.Now()
		if ev.Type != zk.EventNodeDeleted {
			b.Fatalf("watch event %v", ev.Type)
		}
		t1 := <-elected
		b.StopTimer()
		samples = append(samples, t1.Sub(deleted))
		fd.Heal()
		_ = lb.Close(context.Background())
		b.StartTimer()
	}
	b.StopTimer()
	reportSamples(b, samples)
	slices.Sort(rtts)
	if len(rtts) > 0 {
		b.ReportMetric(float64(rtts[len(rtts)/2].Microseconds()), "get-µs")
	}
}
