package zkotel_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	zkotel "github.com/zkrecipes/zkrecipes/adapters/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// telemetry is an SDK that keeps everything in memory.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
	hooks  zkrecipes.Hooks
}

func newTelemetry(t *testing.T) *telemetry {
	t.Helper()
	tel := &telemetry{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tel.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tel.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	t.Cleanup(func() {
		_ = tel.tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	var err error
	tel.hooks, err = zkotel.NewHooks(zkotel.WithTracerProvider(tel.tp), zkotel.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	return tel
}

// ended returns the spans ended so far whose name starts with prefix.
func (tel *telemetry) ended(prefix string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tel.spans.Ended() {
		if strings.HasPrefix(s.Name(), prefix) {
			out = append(out, s)
		}
	}
	return out
}

// metric collects and returns the named metric's data.
func (tel *telemetry) metric(t *testing.T, name string) metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != zkotel.ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m.Data
			}
		}
	}
	return nil
}

// key renders an attribute set as "k=v,k=v" (sorted, as the set is).
func key(s attribute.Set) string {
	var parts []string
	for _, kv := range s.ToSlice() {
		parts = append(parts, string(kv.Key)+"="+kv.Value.String())
	}
	return strings.Join(parts, ",")
}

// counts returns a histogram's counts, or a sum's values, by attribute set.
func (tel *telemetry) counts(t *testing.T, name string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	switch d := tel.metric(t, name).(type) {
	case metricdata.Histogram[float64]:
		for _, dp := range d.DataPoints {
			out[key(dp.Attributes)] = float64(dp.Count)
		}
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			out[key(dp.Attributes)] = float64(dp.Value)
		}
	case metricdata.Gauge[int64]:
		for _, dp := range d.DataPoints {
			out[key(dp.Attributes)] = float64(dp.Value)
		}
	case nil:
	default:
		t.Fatalf("%s: unexpected data %T", name, d)
	}
	return out
}

func expectCounts(t *testing.T, tel *telemetry, name string, want map[string]float64) {
	t.Helper()
	got := tel.counts(t, name)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s:\n  got  %v\n  want %v", name, got, want)
	}
}

func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	out := map[string]string{}
	for _, kv := range s.Attributes() {
		out[string(kv.Key)] = kv.Value.String()
	}
	return out
}

// Lock, cache and registration events (from recipes: called directly here) become the
// lock histograms, a span of the wait with its real start, the cache gauge and counters.
func TestRecipeEvents(t *testing.T) {
	tel := newTelemetry(t)
	h := tel.hooks
	ctx, parent := tel.tp.Tracer("test").Start(context.Background(), "request")
	end := time.Now()
	h.LockAcquired(ctx, zkrecipes.LockAcquireEvent{Path: "/locks/a", Kind: "mutex", Node: "/locks/a/_c_x-lock-0000000001",
		Acquired: true, Wait: 1500 * time.Millisecond, Time: end})
	h.LockAcquired(ctx, zkrecipes.LockAcquireEvent{Path: "/locks/a", Kind: "mutex", Wait: 250 * time.Millisecond,
		Err: context.DeadlineExceeded, Time: end})
	h.LockReleased(ctx, zkrecipes.LockReleaseEvent{Path: "/locks/a", Kind: "mutex", Hold: 3 * time.Second, Time: end})
	h.CacheSize(ctx, zkrecipes.CacheSizeEvent{Path: "/svc", Kind: "tree", Size: 7, Time: end})
	h.CacheSize(ctx, zkrecipes.CacheSizeEvent{Path: "/svc", Kind: "tree", Size: 5, Time: end})
	h.CacheResync(ctx, zkrecipes.CacheResyncEvent{Path: "/svc", Kind: "tree", Reason: "reconnect", Size: 5, Time: end})
	h.Watchdog(ctx, zkrecipes.WatchdogEvent{Time: end})
	parent.End()

	spans := tel.ended("zookeeper.lock.")
	if len(spans) != 2 {
		t.Fatalf("lock spans: %d, want 2", len(spans))
	}
	if s := spans[0]; !s.StartTime().Equal(end.Add(-1500*time.Millisecond)) || !s.EndTime().Equal(end) ||
		s.Parent().SpanID() != parent.SpanContext().SpanID() || s.Status().Code != codes.Unset || attrs(s)["zookeeper.lock.acquired"] != "true" {
		t.Errorf("acquired lock span %v..%v, status %v, attrs %v", s.StartTime(), s.EndTime(), s.Status(), attrs(s))
	}
	if s := spans[1]; s.Status().Code != codes.Error || attrs(s)["zookeeper.lock.acquired"] != "false" {
		t.Errorf("failed acquisition's span: status %v, attrs %v", s.Status(), attrs(s))
	}
	expectCounts(t, tel, "zkrecipes.lock.wait", map[string]float64{
		"zookeeper.lock.acquired=false,zookeeper.lock.kind=mutex,zookeeper.lock.path=/locks/a": 1,
		"zookeeper.lock.acquired=true,zookeeper.lock.kind=mutex,zookeeper.lock.path=/locks/a":  1,
	})
	wait := tel.metric(t, "zkrecipes.lock.wait").(metricdata.Histogram[float64])
	var sum float64
	for _, dp := range wait.DataPoints {
		sum += dp.Sum
	}
	if sum != 1.75 {
		t.Errorf("lock wait sum %v s, want 1.75", sum)
	}
	expectCounts(t, tel, "zkrecipes.lock.hold", map[string]float64{
		"zookeeper.lock.kind=mutex,zookeeper.lock.lost=false,zookeeper.lock.path=/locks/a": 1,
	})
	expectCounts(t, tel, "zkrecipes.cache.size", map[string]float64{"zookeeper.cache.kind=tree,zookeeper.cache.path=/svc": 5})
	expectCounts(t, tel, "zkrecipes.cache.resyncs", map[string]float64{
		"zookeeper.cache.kind=tree,zookeeper.cache.path=/svc,zookeeper.cache.reason=reconnect,zookeeper.outcome=ok": 1,
	})
	expectCounts(t, tel, "zkrecipes.watchdog.firings", map[string]float64{"": 1})
}

// Two sets of adapter hooks joined each end their own span.
func TestJoinedAdapters(t *testing.T) {
	a, b := newTelemetry(t), newTelemetry(t)
	h := zkrecipes.JoinHooks(a.hooks, b.hooks)
	ctx := h.OperationStart(context.Background(), zkrecipes.OperationStartEvent{Op: "get", Path: "/x", Time: time.Now()})
	h.Operation(ctx, zkrecipes.OperationEvent{Op: "get", Path: "/x", Attempts: 1})
	if len(a.ended("zookeeper.get")) != 1 || len(b.ended("zookeeper.get")) != 1 {
		t.Fatalf("spans ended: %d and %d, want 1 each", len(a.ended("")), len(b.ended("")))
	}
	if b.ended("zookeeper.get")[0].Parent().SpanID() != a.ended("zookeeper.get")[0].SpanContext().SpanID() {
		t.Error("the second adapter's span is not under the first's")
	}
}
