// Package zkotel reports a zkrecipes Client's events to OpenTelemetry: a span per
// operation, under the caller's span, and metrics for operations, retries, connection
// states, session expiries, leadership, locks, caches and discovery registrations.
//
//	hooks, err := zkotel.NewHooks() // the global TracerProvider and MeterProvider
//	if err != nil { ... }
//	client, err := zkrecipes.Connect(ctx, servers, zkrecipes.WithHooks(hooks))
//
// It lives in its own module (github.com/zkrecipes/zkrecipes/adapters/otel), so that the
// library's users who do not use OpenTelemetry do not get it in their module graph.
//
// # Spans
//
// Each Client operation is a span of kind Client named "zookeeper.<op>" (zookeeper.get,
// zookeeper.create, ...), a child of the span in the operation's ctx, with the attributes
// zookeeper.operation, zookeeper.path, zookeeper.attempts, zookeeper.outcome ("ok",
// "error" or "unknown": a write that may or may not have been applied),
// zookeeper.result (see [zkrecipes.ErrorCode]) and zookeeper.session_id. A failed
// operation has status Error and the error recorded; each retry is a span event
// "zookeeper.retry". A lock acquisition (zookeeper.lock.acquire) and each discovery
// registration call (zookeeper.discovery.register, .update, .unregister) is a span too,
// recorded when it ends, with its start time.
//
// # Metrics
//
// Names follow OpenTelemetry's conventions (units as metadata); an OpenTelemetry
// Prometheus exporter turns them into the names the Prometheus adapter uses
// (zkrecipes.operation.duration in seconds becomes zkrecipes_operation_duration_seconds):
//
//	zkrecipes.operation.duration  histogram, s     zookeeper.operation, zookeeper.result
//	zkrecipes.retries             counter          zookeeper.operation, zookeeper.result (the retried error)
//	zkrecipes.state.transitions   counter          zookeeper.state (CONNECTED, SUSPENDED, ...)
//	zkrecipes.outage.duration     histogram, s     from SUSPENDED to the RECONNECTED that ended the outage
//	zkrecipes.session.expirations counter
//	zkrecipes.watchdog.firings    counter
//	zkrecipes.leader              up-down counter  zookeeper.latch.path: latches of this process leading it (0 or 1)
//	zkrecipes.lock.wait           histogram, s     zookeeper.lock.path, zookeeper.lock.kind, zookeeper.lock.acquired
//	zkrecipes.lock.hold           histogram, s     zookeeper.lock.path, zookeeper.lock.kind, zookeeper.lock.lost
//	zkrecipes.cache.size          gauge            zookeeper.cache.path, zookeeper.cache.kind
//	zkrecipes.cache.resyncs       counter          zookeeper.cache.path, zookeeper.cache.kind, zookeeper.cache.reason, zookeeper.outcome
//	zkrecipes.registrations       counter          zookeeper.service, zookeeper.registration.action, zookeeper.outcome
//
// zookeeper.result is "ok", "unknown" for an unknown outcome, else the error's code
// ([zkrecipes.ErrorCode]): a small fixed set, so the metrics' cardinality stays bounded.
// Paths appear only as latch, lock and cache paths, which an application has few of.
//
// # Failure behaviour
//
// The hooks run where zkrecipes runs them (see [zkrecipes.Hooks]): synchronously, on the
// goroutine of the work. They do not block and never call back into the Client; their
// cost is that of the SDK's span and measurement recording. They do not panic unless the
// providers' implementations do. Several Clients may share one set of hooks.
package zkotel

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/zkrecipes/zkrecipes/adapters/otel"

// Attribute keys of the spans and metrics.
const (
	AttrOperation          = attribute.Key("zookeeper.operation")
	AttrPath               = attribute.Key("zookeeper.path")
	AttrAttempts           = attribute.Key("zookeeper.attempts")
	AttrOutcome            = attribute.Key("zookeeper.outcome")
	AttrResult             = attribute.Key("zookeeper.result")
	AttrSessionID          = attribute.Key("zookeeper.session_id")
	AttrState              = attribute.Key("zookeeper.state")
	AttrLatchPath          = attribute.Key("zookeeper.latch.path")
	AttrLockPath           = attribute.Key("zookeeper.lock.path")
	AttrLockKind           = attribute.Key("zookeeper.lock.kind")
	AttrLockAcquired       = attribute.Key("zookeeper.lock.acquired")
	AttrLockLost           = attribute.Key("zookeeper.lock.lost")
	AttrCachePath          = attribute.Key("zookeeper.cache.path")
	AttrCacheKind          = attribute.Key("zookeeper.cache.kind")
	AttrCacheReason        = attribute.Key("zookeeper.cache.reason")
	AttrService            = attribute.Key("zookeeper.service")
	AttrInstanceID         = attribute.Key("zookeeper.instance.id")
	AttrRegistrationAction = attribute.Key("zookeeper.registration.action")
	AttrRetryAttempt       = attribute.Key("zookeeper.retry.attempt")
	AttrRetrySleep         = attribute.Key("zookeeper.retry.sleep")
)

// Bucket boundaries, in seconds: operations take from under a millisecond (a read on a
// local server) to seconds (retries across a reconnect); lock waits up to minutes.
var (
	OperationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
	LockBuckets      = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800}
	// OutageBuckets are for zkrecipes.outage.duration: a reconnect to another server
	// takes milliseconds, an outage that loses the session the session timeout.
	OutageBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}
)

// Option configures NewHooks.
type Option func(*config)

type config struct {
	tp trace.TracerProvider
	mp metric.MeterProvider
}

// WithTracerProvider sets where spans go (default: otel.GetTracerProvider() at the time
// of NewHooks). A nil tp keeps the default.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) {
		if tp != nil {
			c.tp = tp
		}
	}
}

// WithMeterProvider sets where metrics go (default: otel.GetMeterProvider() at the time
// of NewHooks). A nil mp keeps the default.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) {
		if mp != nil {
			c.mp = mp
		}
	}
}

// adapter holds the instruments behind one set of hooks.
type adapter struct {
	tracer trace.Tracer

	opDuration  metric.Float64Histogram
	retries     metric.Int64Counter
	transitions metric.Int64Counter
	outages     metric.Float64Histogram
	expirations metric.Int64Counter
	watchdog    metric.Int64Counter
	leader      metric.Int64UpDownCounter
	lockWait    metric.Float64Histogram
	lockHold    metric.Float64Histogram
	cacheSize   metric.Int64Gauge
	resyncs     metric.Int64Counter
	regs        metric.Int64Counter

	// Measurement options by attribute values, made once: a measurement with them does
	// not allocate for its attributes.
	mu      sync.RWMutex
	opAttrs map[[2]string][]metric.AddOption // op, result (used for both instruments)
	opRec   map[[2]string][]metric.RecordOption
	latches map[string][]metric.AddOption
	states  sync.Map // zkrecipes.State -> []metric.AddOption

	lastSession atomic.Pointer[session]
}

// spanKey finds, in the context OperationStart returned, the span it started: by the
// adapter, so that two sets of hooks joined (zkrecipes.JoinHooks) end their own spans.
type spanKey struct{ a *adapter }

// NewHooks returns hooks that report to OpenTelemetry (see the package doc). It fails
// only when the meter refuses to create an instrument.
func NewHooks(opts ...Option) (zkrecipes.Hooks, error) {
	cfg := config{tp: otel.GetTracerProvider(), mp: otel.GetMeterProvider()}
	for _, o := range opts {
		o(&cfg)
	}
	a := &adapter{
		tracer:  cfg.tp.Tracer(ScopeName),
		opAttrs: map[[2]string][]metric.AddOption{},
		opRec:   map[[2]string][]metric.RecordOption{},
		latches: map[string][]metric.AddOption{},
	}
	m := cfg.mp.Meter(ScopeName)
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	a.opDuration, err = m.Float64Histogram("zkrecipes.operation.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of ZooKeeper operations, from the first attempt to the result, retries included."),
		metric.WithExplicitBucketBoundaries(OperationBuckets...))
	check(err)
	a.retries, err = m.Int64Counter("zkrecipes.retries", metric.WithUnit("{retry}"),
		metric.WithDescription("Retries of ZooKeeper operations after a connection-class failure."))
	check(err)
	a.transitions, err = m.Int64Counter("zkrecipes.state.transitions", metric.WithUnit("{transition}"),
		metric.WithDescription("Connection state transitions (Curator's states), by the state entered."))
	check(err)
	a.outages, err = m.Float64Histogram("zkrecipes.outage.duration", metric.WithUnit("s"),
		metric.WithDescription("How long connections were down: from SUSPENDED to the RECONNECTED that ended the outage."),
		metric.WithExplicitBucketBoundaries(OutageBuckets...))
	check(err)
	a.expirations, err = m.Int64Counter("zkrecipes.session.expirations", metric.WithUnit("{session}"),
		metric.WithDescription("Sessions the server expired."))
	check(err)
	a.watchdog, err = m.Int64Counter("zkrecipes.watchdog.firings", metric.WithUnit("{firing}"),
		metric.WithDescription("Connections the Client replaced because calls got no reply for the session timeout."))
	check(err)
	a.leader, err = m.Int64UpDownCounter("zkrecipes.leader", metric.WithUnit("{latch}"),
		metric.WithDescription("Latches of this process that lead, by latch path (0 or 1)."))
	check(err)
	a.lockWait, err = m.Float64Histogram("zkrecipes.lock.wait", metric.WithUnit("s"),
		metric.WithDescription("Time spent acquiring locks, acquired or not."),
		metric.WithExplicitBucketBoundaries(LockBuckets...))
	check(err)
	a.lockHold, err = m.Float64Histogram("zkrecipes.lock.hold", metric.WithUnit("s"),
		metric.WithDescription("Time locks were held, from acquired to released or lost."),
		metric.WithExplicitBucketBoundaries(LockBuckets...))
	check(err)
	a.cacheSize, err = m.Int64Gauge("zkrecipes.cache.size", metric.WithUnit("{node}"),
		metric.WithDescription("Nodes a cache holds."))
	check(err)
	a.resyncs, err = m.Int64Counter("zkrecipes.cache.resyncs", metric.WithUnit("{resync}"),
		metric.WithDescription("Full reads of a cache's subtree."))
	check(err)
	a.regs, err = m.Int64Counter("zkrecipes.registrations", metric.WithUnit("{write}"),
		metric.WithDescription("Discovery registration writes, by action and outcome."))
	check(err)
	if len(errs) > 0 {
		return zkrecipes.Hooks{}, fmt.Errorf("zkotel: creating instruments: %w", errs[0])
	}
	return zkrecipes.Hooks{
		OperationStart: a.operationStart,
		Operation:      a.operation,
		Retry:          a.retry,
		StateChange:    a.stateChange,
		SessionExpired: a.sessionExpired,
		Watchdog:       a.watchdogFired,
		Leadership:     a.leadership,
		LockAcquired:   a.lockAcquired,
		LockReleased:   a.lockReleased,
		CacheSize:      a.cacheSizeChanged,
		CacheResync:    a.cacheResync,
		Registration:   a.registration,
	}, nil
}

// result is the metric label of an outcome: "ok", "unknown", or the error's code.
func result(o zkrecipes.Outcome, err error) string {
	if o == zkrecipes.OutcomeUnknown {
		return "unknown"
	}
	return zkrecipes.ErrorCode(err)
}

func (a *adapter) operationStart(ctx context.Context, ev zkrecipes.OperationStartEvent) context.Context {
	ctx, span := a.tracer.Start(ctx, "zookeeper."+ev.Op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(ev.Time),
		trace.WithAttributes(AttrOperation.String(ev.Op), AttrPath.String(ev.Path)))
	return context.WithValue(ctx, spanKey{a}, span)
}

func (a *adapter) operation(ctx context.Context, ev zkrecipes.OperationEvent) {
	res := result(ev.Outcome, ev.Err)
	a.opDuration.Record(ctx, ev.Duration.Seconds(), a.opRecord(ev.Op, res)...)
	span, ok := ctx.Value(spanKey{a}).(trace.Span)
	if !ok {
		return // OperationStart is not ours (these hooks were joined without it)
	}
	if !span.IsRecording() { // sampled out
		span.End()
		return
	}
	span.SetAttributes(AttrAttempts.Int(ev.Attempts), AttrOutcome.String(ev.Outcome.String()),
		AttrResult.String(res), AttrSessionID.String(a.sessionID(ev.SessionID)))
	if ev.Err != nil {
		span.RecordError(ev.Err)
		span.SetStatus(codes.Error, ev.Err.Error())
	}
	span.End()
}

func (a *adapter) retry(ctx context.Context, ev zkrecipes.RetryEvent) {
	code := zkrecipes.ErrorCode(ev.Err)
	a.retries.Add(ctx, 1, a.opAdd(ev.Op, code)...)
	if span, ok := ctx.Value(spanKey{a}).(trace.Span); ok {
		span.AddEvent("zookeeper.retry", trace.WithAttributes(AttrRetryAttempt.Int(ev.Attempt),
			AttrRetrySleep.Float64(ev.Sleep.Seconds()), AttrResult.String(code)))
	}
}

func (a *adapter) stateChange(ctx context.Context, sc zkrecipes.StateChange) {
	opts, ok := a.states.Load(sc.State)
	if !ok {
		opts, _ = a.states.LoadOrStore(sc.State, []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(AttrState.String(sc.State.String())))})
	}
	a.transitions.Add(ctx, 1, opts.([]metric.AddOption)...)
	if sc.State == zkrecipes.StateReconnected {
		a.outages.Record(ctx, sc.Outage.Seconds())
	}
}

func (a *adapter) sessionExpired(ctx context.Context, _ zkrecipes.SessionExpiredEvent) {
	a.expirations.Add(ctx, 1)
}

func (a *adapter) watchdogFired(ctx context.Context, _ zkrecipes.WatchdogEvent) {
	a.watchdog.Add(ctx, 1)
}

func (a *adapter) leadership(ctx context.Context, ev zkrecipes.LeadershipEvent) {
	d := int64(-1)
	if ev.Leader {
		d = 1
	}
	a.leader.Add(ctx, d, a.latchAdd(ev.Path)...)
}

func (a *adapter) lockAcquired(ctx context.Context, ev zkrecipes.LockAcquireEvent) {
	a.lockWait.Record(ctx, ev.Wait.Seconds(), metric.WithAttributes(AttrLockPath.String(ev.Path),
		AttrLockKind.String(ev.Kind), AttrLockAcquired.Bool(ev.Acquired)))
	a.pastSpan(ctx, "zookeeper.lock.acquire", ev.Time.Add(-ev.Wait), ev.Time, ev.Err,
		AttrLockPath.String(ev.Path), AttrLockKind.String(ev.Kind), AttrLockAcquired.Bool(ev.Acquired), AttrPath.String(ev.Node))
}

func (a *adapter) lockReleased(ctx context.Context, ev zkrecipes.LockReleaseEvent) {
	a.lockHold.Record(ctx, ev.Hold.Seconds(), metric.WithAttributes(AttrLockPath.String(ev.Path),
		AttrLockKind.String(ev.Kind), AttrLockLost.Bool(ev.Lost)))
}

func (a *adapter) cacheSizeChanged(ctx context.Context, ev zkrecipes.CacheSizeEvent) {
	a.cacheSize.Record(ctx, int64(ev.Size), metric.WithAttributes(AttrCachePath.String(ev.Path), AttrCacheKind.String(ev.Kind)))
}

func (a *adapter) cacheResync(ctx context.Context, ev zkrecipes.CacheResyncEvent) {
	a.resyncs.Add(ctx, 1, metric.WithAttributes(AttrCachePath.String(ev.Path), AttrCacheKind.String(ev.Kind),
		AttrCacheReason.String(ev.Reason), AttrOutcome.String(zkrecipes.OutcomeOf(ev.Err).String())))
}

func (a *adapter) registration(ctx context.Context, ev zkrecipes.RegistrationEvent) {
	a.regs.Add(ctx, 1, metric.WithAttributes(AttrService.String(ev.Service),
		AttrRegistrationAction.String(ev.Action), AttrOutcome.String(ev.Outcome.String())))
	if ev.Action != "rewrite" { // the Discovery's own: no caller to parent it to
		a.pastSpan(ctx, "zookeeper.discovery."+ev.Action, ev.Time.Add(-ev.Duration), ev.Time, ev.Err,
			AttrService.String(ev.Service), AttrInstanceID.String(ev.ID), AttrPath.String(ev.Path),
			AttrOutcome.String(ev.Outcome.String()))
	}
}

// pastSpan records a span that ended at end, under ctx's span.
func (a *adapter) pastSpan(ctx context.Context, name string, start, end time.Time, err error, attrs ...attribute.KeyValue) {
	_, span := a.tracer.Start(ctx, name, trace.WithTimestamp(start), trace.WithAttributes(attrs...))
	if err != nil {
		span.RecordError(err, trace.WithTimestamp(end))
		span.SetStatus(codes.Error, err.Error())
	}
	span.End(trace.WithTimestamp(end))
}

// sessionID formats sid as ZooKeeper's logs do (0x...), reusing the last one formatted.
func (a *adapter) sessionID(sid int64) string {
	if last := a.lastSession.Load(); last != nil && last.id == sid {
		return last.text
	}
	text := "0x" + strconv.FormatInt(sid, 16)
	a.lastSession.Store(&session{sid, text})
	return text
}

type session struct {
	id   int64
	text string
}

func (a *adapter) opAdd(op, res string) []metric.AddOption {
	k := [2]string{op, res}
	a.mu.RLock()
	opts, ok := a.opAttrs[k]
	a.mu.RUnlock()
	if ok {
		return opts
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if opts, ok = a.opAttrs[k]; !ok {
		opts = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(AttrOperation.String(op), AttrResult.String(res)))}
		a.opAttrs[k] = opts
	}
	return opts
}

func (a *adapter) opRecord(op, res string) []metric.RecordOption {
	k := [2]string{op, res}
	a.mu.RLock()
	opts, ok := a.opRec[k]
	a.mu.RUnlock()
	if ok {
		return opts
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if opts, ok = a.opRec[k]; !ok {
		opts = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(AttrOperation.String(op), AttrResult.String(res)))}
		a.opRec[k] = opts
	}
	return opts
}

func (a *adapter) latchAdd(path string) []metric.AddOption {
	a.mu.RLock()
	opts, ok := a.latches[path]
	a.mu.RUnlock()
	if ok {
		return opts
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if opts, ok = a.latches[path]; !ok {
		opts = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(AttrLatchPath.String(path)))}
		a.latches[path] = opts
	}
	return opts
}
