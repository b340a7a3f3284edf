package zkprom_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/zkrecipes/zkrecipes"
	zkprom "github.com/zkrecipes/zkrecipes/adapters/prometheus"
	"github.com/zkrecipes/zkrecipes/adapters/prometheus/promtest"
)

// Lock, cache and watchdog events (from recipes: called directly here), with the
// durations given, so that the histograms' buckets can be compared exactly.
func TestCollectorRecipeEvents(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	col := zkprom.NewCollector(zkprom.WithConstLabels(prometheus.Labels{"client": "a"}),
		zkprom.WithLockBuckets([]float64{1, 10}))
	reg.MustRegister(col)
	h := col.Hooks()
	ctx := context.Background()
	now := time.Now()
	h.LockAcquired(ctx, zkrecipes.LockAcquireEvent{Path: "/locks/a", Kind: "mutex", Acquired: true, Wait: 1500 * time.Millisecond, Time: now})
	h.LockAcquired(ctx, zkrecipes.LockAcquireEvent{Path: "/locks/a", Kind: "mutex", Wait: 250 * time.Millisecond, Err: context.DeadlineExceeded, Time: now})
	h.LockReleased(ctx, zkrecipes.LockReleaseEvent{Path: "/locks/a", Kind: "mutex", Hold: 20 * time.Second, Lost: true, Time: now})
	h.CacheSize(ctx, zkrecipes.CacheSizeEvent{Path: "/svc", Kind: "tree", Size: 7, Time: now})
	h.CacheSize(ctx, zkrecipes.CacheSizeEvent{Path: "/svc", Kind: "tree", Size: 5, Time: now})
	h.CacheResync(ctx, zkrecipes.CacheResyncEvent{Path: "/svc", Kind: "tree", Reason: "session", Err: zkrecipes.ErrClosed, Time: now})
	h.Watchdog(ctx, zkrecipes.WatchdogEvent{Time: now})
	if h.OperationStart != nil {
		t.Error("the Collector sets OperationStart: it costs every operation a call for nothing")
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP zkrecipes_cache_resyncs_total Full reads of a cache's subtree.
# TYPE zkrecipes_cache_resyncs_total counter
zkrecipes_cache_resyncs_total{client="a",kind="tree",path="/svc",reason="session",result="closed"} 1
# HELP zkrecipes_cache_size Nodes a cache holds.
# TYPE zkrecipes_cache_size gauge
zkrecipes_cache_size{client="a",kind="tree",path="/svc"} 5
# HELP zkrecipes_lock_hold_seconds Time locks were held, from acquired to released or lost.
# TYPE zkrecipes_lock_hold_seconds histogram
zkrecipes_lock_hold_seconds_bucket{client="a",kind="mutex",lost="true",path="/locks/a",le="1"} 0
zkrecipes_lock_hold_seconds_bucket{client="a",kind="mutex",lost="true",path="/locks/a",le="10"} 0
zkrecipes_lock_hold_seconds_bucket{client="a",kind="mutex",lost="true",path="/locks/a",le="+Inf"} 1
zkrecipes_lock_hold_seconds_sum{client="a",kind="mutex",lost="true",path="/locks/a"} 20
zkrecipes_lock_hold_seconds_count{client="a",kind="mutex",lost="true",path="/locks/a"} 1
# HELP zkrecipes_lock_wait_seconds Time spent acquiring locks, acquired or not.
# TYPE zkrecipes_lock_wait_seconds histogram
zkrecipes_lock_wait_seconds_bucket{acquired="false",client="a",kind="mutex",path="/locks/a",le="1"} 1
zkrecipes_lock_wait_seconds_bucket{acquired="false",client="a",kind="mutex",path="/locks/a",le="10"} 1
zkrecipes_lock_wait_seconds_bucket{acquired="false",client="a",kind="mutex",path="/locks/a",le="+Inf"} 1
zkrecipes_lock_wait_seconds_sum{acquired="false",client="a",kind="mutex",path="/locks/a"} 0.25
zkrecipes_lock_wait_seconds_count{acquired="false",client="a",kind="mutex",path="/locks/a"} 1
zkrecipes_lock_wait_seconds_bucket{acquired="true",client="a",kind="mutex",path="/locks/a",le="1"} 0
zkrecipes_lock_wait_seconds_bucket{acquired="true",client="a",kind="mutex",path="/locks/a",le="10"} 1
zkrecipes_lock_wait_seconds_bucket{acquired="true",client="a",kind="mutex",path="/locks/a",le="+Inf"} 1
zkrecipes_lock_wait_seconds_sum{acquired="true",client="a",kind="mutex",path="/locks/a"} 1.5
zkrecipes_lock_wait_seconds_count{acquired="true",client="a",kind="mutex",path="/locks/a"} 1
# HELP zkrecipes_watchdog_firings_total Connections replaced because calls got no reply for the session timeout.
# TYPE zkrecipes_watchdog_firings_total counter
zkrecipes_watchdog_firings_total{client="a"} 1
`), "zkrecipes_cache_resyncs_total", "zkrecipes_cache_size", "zkrecipes_lock_hold_seconds",
		"zkrecipes_lock_wait_seconds", "zkrecipes_watchdog_firings_total"); err != nil {
		t.Error(err)
	}
	promtest.Lint(t, reg)
}
