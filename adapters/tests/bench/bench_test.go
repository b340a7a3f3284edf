package bench_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/zkrecipes/zkrecipes"
	zkotel "github.com/zkrecipes/zkrecipes/adapters/otel"
	zkprom "github.com/zkrecipes/zkrecipes/adapters/prometheus"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestMain(m *testing.M) { zktest.Main(m) }

func connect(b *testing.B, srv *zktest.Server, hooks zkrecipes.Hooks) *zkrecipes.Client {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := zkrecipes.Connect(ctx, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second), zkrecipes.WithHooks(hooks))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// otelHooks is the OpenTelemetry adapter on the SDK: every span sampled and batched to an
// exporter that drops it, metrics aggregated for a reader nobody reads.
func otelHooks(b *testing.B) zkrecipes.Hooks {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	h, err := zkotel.NewHooks(zkotel.WithTracerProvider(tp), zkotel.WithMeterProvider(mp))
	if err != nil {
		b.Fatal(err)
	}
	return h
}

func promHooks() zkrecipes.Hooks {
	col := zkprom.NewCollector()
	prometheus.NewRegistry().MustRegister(col)
	return col.Hooks()
}

// setup is one ZooKeeper, a node on it, and a Client per configuration, each on its own
// connection to that server; raw is go-zk's connection of the Client without hooks.
type setup struct {
	raw     *zk.Conn
	clients []named
	ops     []op
}

type named struct {
	name string
	c    *zkrecipes.Client
}

type op struct {
	name string
	raw  func(*zk.Conn) error
	cl   func(*zkrecipes.Client) error
}

func newSetup(b *testing.B) *setup {
	srv := zktest.Start(b)
	base := zktest.BasePath(b)
	var seen atomic.Int64
	trivial := zkrecipes.Hooks{
		OperationStart: func(ctx context.Context, _ zkrecipes.OperationStartEvent) context.Context { return ctx },
		Operation:      func(_ context.Context, ev zkrecipes.OperationEvent) { seen.Add(int64(ev.Attempts)) },
	}
	plain := connect(b, srv, zkrecipes.Hooks{})
	s := &setup{raw: plain.Conn(), clients: []named{
		{"client", plain},
		{"client-hook", connect(b, srv, trivial)},
		{"client-otel", connect(b, srv, otelHooks(b))},
		{"client-prom", connect(b, srv, promHooks())},
	}}
	ctx := context.Background()
	node := base + "/node"
	if _, err := plain.Create(ctx, node, []byte("data"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		b.Fatal(err)
	}
	data := []byte("data")
	s.ops = []op{
		{"get",
			func(z *zk.Conn) error { _, _, err := z.Get(node); return err },
			func(c *zkrecipes.Client) error { _, _, err := c.Get(ctx, node); return err }},
		{"set",
			func(z *zk.Conn) error { _, err := z.Set(node, data, -1); return err },
			func(c *zkrecipes.Client) error { _, err := c.Set(ctx, node, data, -1); return err }},
	}
	return s
}

// BenchmarkHookOverhead: Get and Set round trips, raw go-zk first, then the Client in
// each configuration, one sub-benchmark each (for ns/op, B/op and allocs/op); x-raw is
// the time per operation over that of the raw run just before.
func BenchmarkHookOverhead(b *testing.B) {
	s := newSetup(b)
	for _, op := range s.ops {
		var rawNs float64
		b.Run(op.name+"/raw", func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := op.raw(s.raw); err != nil {
					b.Fatal(err)
				}
			}
			rawNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(1, "x-raw")
		})
		for _, cl := range s.clients {
			b.Run(op.name+"/"+cl.name, func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if err := op.cl(cl.c); err != nil {
						b.Fatal(err)
					}
				}
				if rawNs > 0 {
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/rawNs, "x-raw")
				}
			})
		}
	}
}

// BenchmarkHookOverheadInterleaved runs, in each iteration, one round trip of every
// configuration in turn (starting with a different one each time), and reports each one's mean time per round trip
// (<config>-ns/op) and its ratio to raw (<config>-x-raw). Interleaving exposes every
// configuration to the same load on the server and the machine, so the ratios hold
// still where separate runs drift (a shared box, a disk-bound Set).
func BenchmarkHookOverheadInterleaved(b *testing.B) {
	s := newSetup(b)
	for _, op := range s.ops {
		b.Run(op.name, func(b *testing.B) {
			n := 1 + len(s.clients)
			total := make([]time.Duration, n)
			for i := 0; i < b.N; i++ {
				for j := 0; j < n; j++ {
					k := (i + j) % n // each configuration goes first in turn
					t0 := time.Now()
					var err error
					if k == 0 {
						err = op.raw(s.raw)
					} else {
						err = op.cl(s.clients[k-1].c)
					}
					total[k] += time.Since(t0)
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			raw := float64(total[0]) / float64(b.N)
			b.ReportMetric(raw, "raw-ns/op")
			for k, cl := range s.clients {
				ns := float64(total[k+1]) / float64(b.N)
				b.ReportMetric(ns, cl.name+"-ns/op")
				b.ReportMetric(ns/raw, cl.name+"-x-raw")
			}
		})
	}
}

// BenchmarkHookCost is the CPU cost of one operation's hooks alone (OperationStart and
// Operation, as doRetry calls them), without ZooKeeper: what each configuration adds to
// every round trip on the caller's goroutine.
func BenchmarkHookCost(b *testing.B) {
	var seen atomic.Int64
	for _, tc := range []struct {
		name  string
		hooks func(*testing.B) zkrecipes.Hooks
	}{
		{"trivial", func(*testing.B) zkrecipes.Hooks {
			return zkrecipes.Hooks{
				OperationStart: func(ctx context.Context, _ zkrecipes.OperationStartEvent) context.Context { return ctx },
				Operation:      func(_ context.Context, ev zkrecipes.OperationEvent) { seen.Add(int64(ev.Attempts)) },
			}
		}},
		{"otel", otelHooks},
		{"prom", func(*testing.B) zkrecipes.Hooks { return promHooks() }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := tc.hooks(b)
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				hctx := ctx
				if h.OperationStart != nil {
					hctx = h.OperationStart(ctx, zkrecipes.OperationStartEvent{Op: "get", Path: "/bench/node", Time: start})
				}
				h.Operation(hctx, zkrecipes.OperationEvent{Op: "get", Path: "/bench/node", Duration: time.Since(start),
					Attempts: 1, Outcome: zkrecipes.OutcomeOK, SessionID: 0x100000001})
			}
		})
	}
}
