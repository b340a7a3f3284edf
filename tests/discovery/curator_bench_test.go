package discovery_test

import (
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/tests/curatortest"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// The side-by-side benchmarks against Curator 5.4 (cd tests && go test -run '^$' -bench
// VsCurator -benchtime 20x ./discovery/) measure the raw go-zk floor, this package and
// Curator's ServiceDiscovery (a Java peer on the same server, timed on its own clock after
// warm-up rounds) one operation of each side per iteration, in a rotating order, so that
// all of them see the same server and the same load. The server does not force its log
// to disk (forceSync=no): the fsync of every write (milliseconds on a shared machine,
// the same for every side) would drown the clients' share, which is what is compared.
// Metrics: <side>-p50-µs and <side>-mean-µs, and the ratios of the medians. ns/op counts
// all sides together and means nothing on its own.

// curatorPeer starts a Java peer in ns, or returns nil (the Curator side is left out, and
// said so) when Java or the jars are missing.
func curatorPeer(b *testing.B, srv *zktest.Server, ns string) *curatortest.Peer {
	if err := curatortest.Available(); err != nil {
		b.Logf("no Curator side: %v", err)
		return nil
	}
	return curatortest.Start(b, srv.ConnectString(), curatortest.WithNamespace(ns), curatortest.WithSessionTimeout(10*time.Second))
}

// rotate runs each side once, starting at side i%len(sides).
func rotate(i int, sides []string, run map[string]func() time.Duration, s testkit.Samples) {
	for k := range sides {
		side := sides[(i+k)%len(sides)]
		s.Add(side, run[side]())
	}
}

// BenchmarkUpdateVsCurator: with 1,000 instances registered, one Update until a cache on
// another session has it:
//
//	raw        setData on go-zk connection A, the data watch of connection B fires, B
//	           reads the data again (GetW, which sets the watch again)
//	zkrecipes  Discovery.Update of one instance on client A, until the CacheChanged event
//	           (one Updated instance) of a discovery.Cache on client B
//	curator    ServiceDiscovery.updateService on one Curator client, until the
//	           cacheChanged of a ServiceCache on another, after 50 warm-up updates
//
// Also reported, to tell the writer's share from the reader's: raw-set and
// zkrecipes-update, the setData round trip and the return of Update on the writer.
// The targets: zkrecipes/curator <= 0.8, zkrecipes/raw <= 1.5.
func BenchmarkUpdateVsCurator(b *testing.B) {
	srv := zktest.Start(b, zktest.WithConfig("forceSync", "no"))
	ns := testkit.Namespace(b)
	ctx := testkit.Ctx(b)
	writer := newDiscovery(b, connect(b, srv, ns, zkrecipes.WithSessionTimeout(10*time.Second)))
	reader := newDiscovery(b, connect(b, srv, ns, zkrecipes.WithSessionTimeout(10*time.Second)))
	all := registerN(b, writer, "svc", benchInstances, 16)
	c := startCache(b, reader, "svc")
	if n := len(c.Instances()); n != benchInstances {
		b.Fatalf("loaded %d", n)
	}
	type seen struct {
		at      time.Time
		updated int
	}
	events := make(chan seen, 16)
	c.Listen(func(ev discovery.CacheEvent[instanceDetails]) {
		if ev.Kind == discovery.CacheChanged {
			events <- seen{time.Now(), len(ev.Updated)}
		}
	})

	payload, err := writer.Serializer().Serialize(all[0])
	if err != nil {
		b.Fatal(err)
	}
	connA, _ := zktest.Connect(b, srv.Servers(), 10*time.Second)
	connB, _ := zktest.Connect(b, srv.Servers(), 10*time.Second)
	node := "/" + ns + "/raw"
	if _, err := connA.Create(node, payload, 0, zk.WorldACL(zk.PermAll)); err != nil {
		b.Fatal(err)
	}
	_, _, watch, err := connB.GetW(node)
	if err != nil {
		b.Fatal(err)
	}

	peer := curatorPeer(b, srv, ns)
	sides := []string{"raw", "zkrecipes"}
	if peer != nil {
		sides = append(sides, "curator")
		if err := peer.ServiceCacheBenchSetup(ctx, "/services", "jsvc", benchInstances); err != nil {
			b.Fatal(err)
		}
		if _, err := peer.ServiceCacheBench(ctx, 50); err != nil { // JIT warm-up
			b.Fatal(err)
		}
	}
	next := 0
	s := testkit.Samples{}
	measuring := false
	run := map[string]func() time.Duration{
		"raw": func() time.Duration {
			t0 := time.Now()
			if _, err := connA.Set(node, payload, -1); err != nil {
				b.Fatal(err)
			}
			if measuring {
				s.Add("raw-set", time.Since(t0))
			}
			if ev := <-watch; ev.Type != zk.EventNodeDataChanged {
				b.Fatalf("raw watch: %+v", ev)
			}
			if _, _, watch, err = connB.GetW(node); err != nil {
				b.Fatal(err)
			}
			return time.Since(t0)
		},
		"zkrecipes": func() time.Duration {
			k := next % len(all)
			next++
			all[k].Payload.Leader = !all[k].Payload.Leader
			t0 := time.Now()
			if err := writer.Update(ctx, all[k]); err != nil {
				b.Fatal(err)
			}
			updated := time.Since(t0)
			select {
			case ev := <-events:
				if measuring {
					s.Add("zkrecipes-update", updated)
				}
				if ev.updated != 1 {
					b.Fatalf("CacheChanged with %d updated instances, want 1", ev.updated)
				}
				return ev.at.Sub(t0)
			case <-time.After(testkit.Patience):
				b.Fatal("no CacheChanged event")
			}
			return 0
		},
		"curator": func() time.Duration {
			d, err := peer.ServiceCacheBench(ctx, 1)
			if err != nil {
				b.Fatal(err)
			}
			return d[0]
		},
	}
	for range 20 { // the Go side's warm-up
		run["raw"]()
		run["zkrecipes"]()
	}
	measuring = true
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rotate(i, sides, run, s)
	}
	b.StopTimer()
	s.Report(b, "µs", "raw", "zkrecipes", "curator", "raw-set", "zkrecipes-update")
	s.Ratio(b, "zkrecipes", "curator")
	s.Ratio(b, "zkrecipes", "raw")
}

// BenchmarkRegisterVsCurator: sequential registrations of new instances, one after
// another on one client:
//
//	raw        one create round trip on a go-zk connection: an EPHEMERAL znode holding an
//	           instance's JSON, its parent in place
//	zkrecipes  Discovery.Register of a new DYNAMIC instance (its service node in place)
//	curator    ServiceDiscovery.registerService of a new DYNAMIC instance, after 300
//	           warm-up registrations
//
// Metrics as above, plus each side's registrations/s (from its median) and
// zkrecipes/curator-rate. The targets: zkrecipes/curator-rate >= 2 (so
// zkrecipes/curator <= 0.5), zkrecipes/raw <= 1.2.
func BenchmarkRegisterVsCurator(b *testing.B) {
	srv := zktest.Start(b, zktest.WithConfig("forceSync", "no"))
	ns := testkit.Namespace(b)
	ctx := testkit.Ctx(b)
	cl := connect(b, srv, ns, zkrecipes.WithSessionTimeout(10*time.Second))
	d := newDiscovery(b, cl)
	newInstance := func() discovery.Instance[instanceDetails] { return mustInstance(b, "svc", false) }
	payload, err := d.Serializer().Serialize(newInstance())
	if err != nil {
		b.Fatal(err)
	}
	conn, _ := zktest.Connect(b, srv.Servers(), 10*time.Second)
	if err := cl.EnsurePath(ctx, "/raw"); err != nil {
		b.Fatal(err)
	}
	parent := "/" + ns + "/raw"
	peer := curatorPeer(b, srv, ns)
	sides := []string{"raw", "zkrecipes"}
	if peer != nil {
		sides = append(sides, "curator")
		if _, err := peer.RegisterBench(ctx, "/services", "jsvc", 300); err != nil { // JIT warm-up
			b.Fatal(err)
		}
	}
	acl := zk.WorldACL(zk.PermAll)
	run := map[string]func() time.Duration{
		"raw": func() time.Duration {
			p := parent + "/" + zkrecipes.NewUUID()
			t0 := time.Now()
			if _, err := conn.Create(p, payload, zk.FlagEphemeral, acl); err != nil {
				b.Fatal(err)
			}
			return time.Since(t0)
		},
		"zkrecipes": func() time.Duration {
			in := newInstance()
			t0 := time.Now()
			if err := d.Register(ctx, in); err != nil {
				b.Fatal(err)
			}
			return time.Since(t0)
		},
		"curator": func() time.Duration {
			d, err := peer.RegisterBench(ctx, "/services", "jsvc", 1)
			if err != nil {
				b.Fatal(err)
			}
			return d[0]
		},
	}
	for range 50 { // the Go side's warm-up, which also creates the service's parents
		run["raw"]()
		run["zkrecipes"]()
	}
	s := testkit.Samples{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rotate(i, sides, run, s)
	}
	b.StopTimer()
	s.Report(b, "µs", "raw", "zkrecipes", "curator")
	for _, side := range sides {
		s.Rate(b, side, "registrations")
	}
	s.Ratio(b, "zkrecipes", "curator")
	s.Ratio(b, "zkrecipes", "raw")
	if s.P50("curator") > 0 {
		b.ReportMetric(float64(s.P50("curator"))/float64(s.P50("zkrecipes")), "zkrecipes/curator-rate")
	}
}
