// Package zkprom reports a zkrecipes Client's events as Prometheus metrics: a Collector
// whose Hooks feed it, to register with a prometheus.Registerer.
//
//	metrics := zkprom.NewCollector()
//	prometheus.MustRegister(metrics)
//	client, err := zkrecipes.Connect(ctx, servers, zkrecipes.WithHooks(metrics.Hooks()))
//
// It lives in its own module (github.com/zkrecipes/zkrecipes/adapters/prometheus), so that
// the library's users who do not use Prometheus do not get it in their module graph.
//
// # Metrics
//
// With the default namespace "zkrecipes":
//
//	zkrecipes_operation_duration_seconds  histogram  op, result   operation latency, retries included
//	zkrecipes_retries_total               counter    op, result   retries; result is the retried error's code
//	zkrecipes_state_transitions_total     counter    state        transitions into CONNECTED, SUSPENDED, ...
//	zkrecipes_outage_duration_seconds     histogram               from SUSPENDED to the RECONNECTED that ended it
//	zkrecipes_session_expirations_total   counter                 sessions the server expired
//	zkrecipes_watchdog_firings_total      counter                 connections replaced by the watchdog
//	zkrecipes_leader                      gauge      path         latches of this process leading path (0 or 1)
//	zkrecipes_lock_wait_seconds           histogram  path, kind, acquired
//	zkrecipes_lock_hold_seconds           histogram  path, kind, lost
//	zkrecipes_cache_size                  gauge      path, kind   nodes a cache holds
//	zkrecipes_cache_resyncs_total         counter    path, kind, reason, result
//	zkrecipes_registrations_total         counter    service, action, result
//
// result is "ok", "unknown" for a write whose outcome is unknown (it may or may not have
// been applied), else the error's code from the fixed set of [zkrecipes.ErrorCode]
// ("no_node", "bad_version", "connection_loss", ...), so label cardinality stays bounded.
// Paths appear only as latch, lock and cache paths, which an application has few of.
//
// # Failure behaviour
//
// The hooks run where zkrecipes runs them (see [zkrecipes.Hooks]): synchronously, on the
// goroutine of the work. They only update in-memory metrics (a map look-up under a read
// lock and an atomic add on the hot path): they do not block, allocate nothing once a
// label combination has been seen, never call back into the Client and do not panic.
// Several Clients may share one Collector; their metrics add up.
package zkprom

import (
	"context"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/zkrecipes/zkrecipes"
)

// Bucket boundaries, in seconds: operations take from under a millisecond (a read on a
// local server) to seconds (retries across a reconnect); lock waits up to minutes.
var (
	OperationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
	LockBuckets      = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800}
	// OutageBuckets are for zkrecipes_outage_duration_seconds: a reconnect to another
	// server takes milliseconds, an outage that loses the session the session timeout.
	OutageBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}
)

// Option configures NewCollector.
type Option func(*config)

type config struct {
	namespace   string
	constLabels prometheus.Labels
	opBuckets   []float64
	lockBuckets []float64
}

// WithNamespace replaces the metric names' prefix "zkrecipes" ("" leaves none). An
// invalid one makes registering the Collector fail.
func WithNamespace(ns string) Option { return func(c *config) { c.namespace = ns } }

// WithConstLabels adds labels with fixed values to every metric (for example the
// Client's name, to tell two Clients apart). Invalid names make registering fail.
func WithConstLabels(l prometheus.Labels) Option { return func(c *config) { c.constLabels = l } }

// WithOperationBuckets replaces OperationBuckets for zkrecipes_operation_duration_seconds.
// Empty keeps the default; unsorted ones make NewCollector panic (as prometheus does).
func WithOperationBuckets(b []float64) Option {
	return func(c *config) {
		if len(b) > 0 {
			c.opBuckets = b
		}
	}
}

// WithLockBuckets replaces LockBuckets for the lock histograms. Empty keeps the default;
// unsorted ones make NewCollector panic (as prometheus does).
func WithLockBuckets(b []float64) Option {
	return func(c *config) {
		if len(b) > 0 {
			c.lockBuckets = b
		}
	}
}

// Collector is a prometheus.Collector of zkrecipes metrics (see the package doc). Install
// its Hooks in Clients and register it once. It is safe for concurrent use.
type Collector struct {
	opDuration  *prometheus.HistogramVec
	retries     *prometheus.CounterVec
	transitions *prometheus.CounterVec
	outages     prometheus.Histogram
	expirations prometheus.Counter
	watchdog    prometheus.Counter
	leader      *prometheus.GaugeVec
	lockWait    *prometheus.HistogramVec
	lockHold    *prometheus.HistogramVec
	cacheSize   *prometheus.GaugeVec
	resyncs     *prometheus.CounterVec
	regs        *prometheus.CounterVec

	// The children of the hot metrics by label values, so that an event finds its series
	// without hashing labels or allocating.
	mu        sync.RWMutex
	opSeries  map[[2]string]prometheus.Observer
	retrySer  map[[2]string]prometheus.Counter
	stateSer  map[zkrecipes.State]prometheus.Counter
	leaderSer map[string]prometheus.Gauge
}

// NewCollector returns a Collector with no samples yet.
func NewCollector(opts ...Option) *Collector {
	cfg := config{namespace: "zkrecipes", opBuckets: OperationBuckets, lockBuckets: LockBuckets}
	for _, o := range opts {
		o(&cfg)
	}
	ns, cl := cfg.namespace, cfg.constLabels
	return &Collector{
		opDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, ConstLabels: cl,
			Name:    "operation_duration_seconds",
			Help:    "Duration of ZooKeeper operations, from the first attempt to the result, retries included.",
			Buckets: cfg.opBuckets}, []string{"op", "result"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, ConstLabels: cl,
			Name: "retries_total",
			Help: "Retries of ZooKeeper operations after a connection-class failure, by the failure's code."},
			[]string{"op", "result"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, ConstLabels: cl,
			Name: "state_transitions_total",
			Help: "Connection state transitions (Curator's states), by the state entered."}, []string{"state"}),
		outages: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, ConstLabels: cl,
			Name:    "outage_duration_seconds",
			Help:    "How long connections were down: from SUSPENDED to the RECONNECTED that ended the outage.",
			Buckets: OutageBuckets}),
		expirations: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, ConstLabels: cl,
			Name: "session_expirations_total", Help: "Sessions the server expired."}),
		watchdog: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, ConstLabels: cl,
			Name: "watchdog_firings_total",
			Help: "Connections replaced because calls got no reply for the session timeout."}),
		leader: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, ConstLabels: cl,
			Name: "leader", Help: "Latches of this process that lead, by latch path (0 or 1)."}, []string{"path"}),
		lockWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, ConstLabels: cl,
			Name: "lock_wait_seconds", Help: "Time spent acquiring locks, acquired or not.",
			Buckets: cfg.lockBuckets}, []string{"path", "kind", "acquired"}),
		lockHold: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, ConstLabels: cl,
			Name: "lock_hold_seconds", Help: "Time locks were held, from acquired to released or lost.",
			Buckets: cfg.lockBuckets}, []string{"path", "kind", "lost"}),
		cacheSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, ConstLabels: cl,
			Name: "cache_size", Help: "Nodes a cache holds."}, []string{"path", "kind"}),
		resyncs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, ConstLabels: cl,
			Name: "cache_resyncs_total", Help: "Full reads of a cache's subtree."},
			[]string{"path", "kind", "reason", "result"}),
		regs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, ConstLabels: cl,
			Name: "registrations_total", Help: "Discovery registration writes, by action and result."},
			[]string{"service", "action", "result"}),
		opSeries:  map[[2]string]prometheus.Observer{},
		retrySer:  map[[2]string]prometheus.Counter{},
		stateSer:  map[zkrecipes.State]prometheus.Counter{},
		leaderSer: map[string]prometheus.Gauge{},
	}
}

func (c *Collector) collectors() []prometheus.Collector {
	return []prometheus.Collector{c.opDuration, c.retries, c.transitions, c.outages, c.expirations, c.watchdog,
		c.leader, c.lockWait, c.lockHold, c.cacheSize, c.resyncs, c.regs}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.collectors() {
		m.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.collectors() {
		m.Collect(ch)
	}
}

// Hooks returns the hooks that feed the Collector, for zkrecipes.WithHooks (join them
// with others with zkrecipes.JoinHooks). OperationStart is left nil: the Collector needs
// only the end of an operation.
func (c *Collector) Hooks() zkrecipes.Hooks {
	return zkrecipes.Hooks{
		Operation:      c.operation,
		Retry:          c.retry,
		StateChange:    c.stateChange,
		SessionExpired: func(context.Context, zkrecipes.SessionExpiredEvent) { c.expirations.Inc() },
		Watchdog:       func(context.Context, zkrecipes.WatchdogEvent) { c.watchdog.Inc() },
		Leadership:     c.leadership,
		LockAcquired:   c.lockAcquired,
		LockReleased:   c.lockReleased,
		CacheSize:      c.cacheSizeChanged,
		CacheResync:    c.cacheResync,
		Registration:   c.registration,
	}
}

// result is the label of an outcome: "ok", "unknown", or the error's code.
func result(o zkrecipes.Outcome, err error) string {
	if o == zkrecipes.OutcomeUnknown {
		return "unknown"
	}
	return zkrecipes.ErrorCode(err)
}

func (c *Collector) operation(_ context.Context, ev zkrecipes.OperationEvent) {
	k := [2]string{ev.Op, result(ev.Outcome, ev.Err)}
	c.mu.RLock()
	o, ok := c.opSeries[k]
	c.mu.RUnlock()
	if !ok {
		o = c.opDuration.WithLabelValues(k[0], k[1])
		c.mu.Lock()
		c.opSeries[k] = o
		c.mu.Unlock()
	}
	o.Observe(ev.Duration.Seconds())
}

func (c *Collector) retry(_ context.Context, ev zkrecipes.RetryEvent) {
	k := [2]string{ev.Op, zkrecipes.ErrorCode(ev.Err)}
	c.mu.RLock()
	ctr, ok := c.retrySer[k]
	c.mu.RUnlock()
	if !ok {
		ctr = c.retries.WithLabelValues(k[0], k[1])
		c.mu.Lock()
		c.retrySer[k] = ctr
		c.mu.Unlock()
	}
	ctr.Inc()
}

func (c *Collector) stateChange(_ context.Context, sc zkrecipes.StateChange) {
	c.mu.RLock()
	ctr, ok := c.stateSer[sc.State]
	c.mu.RUnlock()
	if !ok {
		ctr = c.transitions.WithLabelValues(sc.State.String())
		c.mu.Lock()
		c.stateSer[sc.State] = ctr
		c.mu.Unlock()
	}
	ctr.Inc()
	if sc.State == zkrecipes.StateReconnected {
		c.outages.Observe(sc.Outage.Seconds())
	}
}

func (c *Collector) leadership(_ context.Context, ev zkrecipes.LeadershipEvent) {
	c.mu.RLock()
	g, ok := c.leaderSer[ev.Path]
	c.mu.RUnlock()
	if !ok {
		g = c.leader.WithLabelValues(ev.Path)
		c.mu.Lock()
		c.leaderSer[ev.Path] = g
		c.mu.Unlock()
	}
	if ev.Leader {
		g.Inc()
	} else {
		g.Dec()
	}
}

func (c *Collector) lockAcquired(_ context.Context, ev zkrecipes.LockAcquireEvent) {
	c.lockWait.WithLabelValues(ev.Path, ev.Kind, strconv.FormatBool(ev.Acquired)).Observe(ev.Wait.Seconds())
}

func (c *Collector) lockReleased(_ context.Context, ev zkrecipes.LockReleaseEvent) {
	c.lockHold.WithLabelValues(ev.Path, ev.Kind, strconv.FormatBool(ev.Lost)).Observe(ev.Hold.Seconds())
}

func (c *Collector) cacheSizeChanged(_ context.Context, ev zkrecipes.CacheSizeEvent) {
	c.cacheSize.WithLabelValues(ev.Path, ev.Kind).Set(float64(ev.Size))
}

func (c *Collector) cacheResync(_ context.Context, ev zkrecipes.CacheResyncEvent) {
	c.resyncs.WithLabelValues(ev.Path, ev.Kind, ev.Reason, result(zkrecipes.OutcomeOf(ev.Err), ev.Err)).Inc()
}

func (c *Collector) registration(_ context.Context, ev zkrecipes.RegistrationEvent) {
	c.regs.WithLabelValues(ev.Service, ev.Action, result(ev.Outcome, ev.Err)).Inc()
}
