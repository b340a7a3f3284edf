package zkotel_test

import (
	"context"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/adapters/otel/oteltest"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Lock, cache and registration events (from recipes: called directly here) become the
// lock histograms, a span of the wait with its real start, the cache gauge and counters.
func TestRecipeEvents(t *testing.T) {
	tel := oteltest.New(t)
	h := tel.Hooks
	ctx, parent := tel.TP.Tracer("test").Start(context.Background(), "request")
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

	spans := tel.Ended("zookeeper.lock.")
	if len(spans) != 2 {
		t.Fatalf("lock spans: %d, want 2", len(spans))
	}
	if s := spans[0]; !s.StartTime().Equal(end.Add(-1500*time.Millisecond)) || !s.EndTime().Equal(end) ||
		s.Parent().SpanID() != parent.SpanContext().SpanID() || s.Status().Code != codes.Unset || oteltest.Attrs(s)["zookeeper.lock.acquired"] != "true" {
		t.Errorf("acquired lock span %v..%v, status %v, attrs %v", s.StartTime(), s.EndTime(), s.Status(), oteltest.Attrs(s))
	}
	if s := spans[1]; s.Status().Code != codes.Error || oteltest.Attrs(s)["zookeeper.lock.acquired"] != "false" {
		t.Errorf("failed acquisition's span: status %v, attrs %v", s.Status(), oteltest.Attrs(s))
	}
	tel.ExpectCounts(t, "zkrecipes.lock.wait", map[string]float64{
		"zookeeper.lock.acquired=false,zookeeper.lock.kind=mutex,zookeeper.lock.path=/locks/a": 1,
		"zookeeper.lock.acquired=true,zookeeper.lock.kind=mutex,zookeeper.lock.path=/locks/a":  1,
	})
	wait := tel.Metric(t, "zkrecipes.lock.wait").(metricdata.Histogram[float64])
	var sum float64
	for _, dp := range wait.DataPoints {
		sum += dp.Sum
	}
	if sum != 1.75 {
		t.Errorf("lock wait sum %v s, want 1.75", sum)
	}
	tel.ExpectCounts(t, "zkrecipes.lock.hold", map[string]float64{
		"zookeeper.lock.kind=mutex,zookeeper.lock.lost=false,zookeeper.lock.path=/locks/a": 1,
	})
	tel.ExpectCounts(t, "zkrecipes.cache.size", map[string]float64{"zookeeper.cache.kind=tree,zookeeper.cache.path=/svc": 5})
	tel.ExpectCounts(t, "zkrecipes.cache.resyncs", map[string]float64{
		"zookeeper.cache.kind=tree,zookeeper.cache.path=/svc,zookeeper.cache.reason=reconnect,zookeeper.outcome=ok": 1,
	})
	tel.ExpectCounts(t, "zkrecipes.watchdog.firings", map[string]float64{"": 1})
}

// Two sets of adapter hooks joined each end their own span.
func TestJoinedAdapters(t *testing.T) {
	a, b := oteltest.New(t), oteltest.New(t)
	h := zkrecipes.JoinHooks(a.Hooks, b.Hooks)
	ctx := h.OperationStart(context.Background(), zkrecipes.OperationStartEvent{Op: "get", Path: "/x", Time: time.Now()})
	h.Operation(ctx, zkrecipes.OperationEvent{Op: "get", Path: "/x", Attempts: 1})
	if len(a.Ended("zookeeper.get")) != 1 || len(b.Ended("zookeeper.get")) != 1 {
		t.Fatalf("spans ended: %d and %d, want 1 each", len(a.Ended("")), len(b.Ended("")))
	}
	if b.Ended("zookeeper.get")[0].Parent().SpanID() != a.Ended("zookeeper.get")[0].SpanContext().SpanID() {
		t.Error("the second adapter's span is not under the first's")
	}
}
