package otel_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	zkotel "github.com/zkrecipes/zkrecipes/adapters/otel"
	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/leader"
	"github.com/zkrecipes/zkrecipes/retry"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestMain(m *testing.M) { zktest.Main(m) }

// patience bounds every wait; it is never part of an assertion.
const patience = 30 * time.Second

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

// signals is joined after the adapter's hooks: by the time it hears an event, the
// adapter has recorded it.
type signals struct {
	states     chan zkrecipes.State
	leadership chan bool
}

func newSignals() *signals {
	return &signals{states: make(chan zkrecipes.State, 64), leadership: make(chan bool, 64)}
}

func (s *signals) hooks() zkrecipes.Hooks {
	return zkrecipes.Hooks{
		StateChange: func(_ context.Context, sc zkrecipes.StateChange) { s.states <- sc.State },
		Leadership:  func(_ context.Context, ev zkrecipes.LeadershipEvent) { s.leadership <- ev.Leader },
	}
}

func (s *signals) awaitState(t *testing.T, want zkrecipes.State) {
	t.Helper()
	deadline := time.After(patience)
	for {
		select {
		case st := <-s.states:
			if st == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %v within %v", want, patience)
		}
	}
}

func (s *signals) awaitLeadership(t *testing.T, want bool) {
	t.Helper()
	select {
	case got := <-s.leadership:
		if got != want {
			t.Fatalf("leadership event %v, want %v", got, want)
		}
	case <-time.After(patience):
		t.Fatalf("no leadership event %v within %v", want, patience)
	}
}

func connect(t *testing.T, srv *zktest.Server, opts ...zkrecipes.Option) *zkrecipes.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c, err := zkrecipes.Connect(ctx, srv.Servers(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

func mustFire(t *testing.T, lost <-chan struct{}) {
	t.Helper()
	select {
	case <-lost:
	default:
		t.Fatal("the reply was never lost: the test proved nothing")
	}
}

func attrs(s sdktrace.ReadOnlySpan) map[string]string {
	out := map[string]string{}
	for _, kv := range s.Attributes() {
		out[string(kv.Key)] = kv.Value.String()
	}
	return out
}

// Scripted operations under a caller's span: each is a client span under it with the
// operation's attributes; a retried one carries a retry event, failures have status Error
// (an unknown outcome says so); the latency histogram, the retries and the state
// transitions count them.
func TestOperationSpansAndMetrics(t *testing.T) {
	tel := newTelemetry(t)
	sig := newSignals()
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	fd := zktest.NewFaultDialer()
	c := connect(t, srv, zkrecipes.WithSessionTimeout(4*time.Second), zkrecipes.WithDialer(fd.Dial),
		zkrecipes.WithRetryPolicy(retry.NTimes(50, 100*time.Millisecond)),
		zkrecipes.WithHooks(zkrecipes.JoinHooks(tel.hooks, sig.hooks())))
	sig.awaitState(t, zkrecipes.StateConnected)
	bg, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	ctx, parent := tel.tp.Tracer("test").Start(bg, "request")

	if _, err := c.Create(ctx, base, []byte("a"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, base); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, base+"/missing"); err == nil {
		t.Fatal("get of a missing node succeeded")
	}
	lost := fd.LoseNextReply(func(op int32, p string) bool { return op == zktest.OpGetData && p == base })
	if _, _, err := c.Get(ctx, base); err != nil {
		t.Fatal(err)
	}
	mustFire(t, lost)
	sig.awaitState(t, zkrecipes.StateReconnected)
	lost = fd.LoseNextReply(func(op int32, p string) bool {
		return (op == zktest.OpCreate || op == zktest.OpCreate2) && strings.HasPrefix(p, base+"/seq-")
	})
	if _, err := c.Create(ctx, base+"/seq-", nil, zkrecipes.ModePersistentSequential); !errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
		t.Fatalf("create with a lost reply: %v", err)
	}
	mustFire(t, lost)
	sig.awaitState(t, zkrecipes.StateReconnected)
	parent.End()

	spans := tel.ended("zookeeper.")
	type want struct {
		name, path, attempts, outcome, result string
		status                                codes.Code
		retries                               int
	}
	wants := []want{
		{"zookeeper.create", base, "1", "ok", "ok", codes.Unset, 0},
		{"zookeeper.get", base, "1", "ok", "ok", codes.Unset, 0},
		{"zookeeper.get", base + "/missing", "1", "error", "no_node", codes.Error, 0},
		{"zookeeper.get", base, "2", "ok", "ok", codes.Unset, 1},
		{"zookeeper.create", base + "/seq-", "1", "unknown", "unknown", codes.Error, 0},
	}
	if len(spans) != len(wants) {
		var names []string
		for _, s := range spans {
			names = append(names, s.Name())
		}
		t.Fatalf("spans %v, want %d", names, len(wants))
	}
	sid := fmt.Sprintf("0x%x", c.SessionID())
	for i, w := range wants {
		s := spans[i]
		a := attrs(s)
		if s.Name() != w.name || a["zookeeper.path"] != w.path || a["zookeeper.attempts"] != w.attempts ||
			a["zookeeper.outcome"] != w.outcome || a["zookeeper.result"] != w.result || a["zookeeper.session_id"] != sid ||
			a["zookeeper.operation"] != strings.TrimPrefix(w.name, "zookeeper.") {
			t.Errorf("span %d: %s %v, want %+v (session %s)", i, s.Name(), a, w, sid)
		}
		if s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanContext().TraceID() != parent.SpanContext().TraceID() {
			t.Errorf("span %d (%s) is not a child of the caller's span", i, s.Name())
		}
		if s.SpanKind() != trace.SpanKindClient || s.Status().Code != w.status {
			t.Errorf("span %d (%s): kind %v, status %v, want client, %v", i, s.Name(), s.SpanKind(), s.Status(), w.status)
		}
		var retries []string
		for _, ev := range s.Events() {
			if ev.Name == "zookeeper.retry" {
				for _, kv := range ev.Attributes {
					if kv.Key == zkotel.AttrResult {
						retries = append(retries, kv.Value.AsString())
					}
				}
			}
		}
		if len(retries) != w.retries || w.retries > 0 && retries[0] != "connection_loss" {
			t.Errorf("span %d (%s): retry events %v, want %d", i, s.Name(), retries, w.retries)
		}
	}
	if !strings.Contains(spans[4].Status().Description, "outcome unknown") {
		t.Errorf("unknown outcome's status %q", spans[4].Status().Description)
	}

	expectCounts(t, tel, "zkrecipes.operation.duration", map[string]float64{
		"zookeeper.operation=create,zookeeper.result=ok":      1,
		"zookeeper.operation=create,zookeeper.result=unknown": 1,
		"zookeeper.operation=get,zookeeper.result=no_node":    1,
		"zookeeper.operation=get,zookeeper.result=ok":         2,
	})
	expectCounts(t, tel, "zkrecipes.retries", map[string]float64{
		"zookeeper.operation=get,zookeeper.result=connection_loss": 1,
	})
	expectCounts(t, tel, "zkrecipes.state.transitions", map[string]float64{
		"zookeeper.state=CONNECTED":   1,
		"zookeeper.state=RECONNECTED": 2,
		"zookeeper.state=SUSPENDED":   2,
	})
	expectCounts(t, tel, "zkrecipes.outage.duration", map[string]float64{"": 2})
	if h, ok := tel.metric(t, "zkrecipes.operation.duration").(metricdata.Histogram[float64]); !ok || len(h.DataPoints) == 0 ||
		!slices.Equal(h.DataPoints[0].Bounds, zkotel.OperationBuckets) {
		t.Errorf("operation histogram %+v: want buckets %v", h, zkotel.OperationBuckets)
	}
}

// A session the server expires counts once, with its LOST; a latch's leadership moves the
// gauge of its path up and back down; a discovery registration is a span under the
// caller's and counts by action and outcome.
func TestExpiryLeadershipRegistration(t *testing.T) {
	tel := newTelemetry(t)
	sig := newSignals()
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	fd := zktest.NewFaultDialer()
	c := connect(t, srv, zkrecipes.WithSessionTimeout(time.Second), zkrecipes.WithDialer(fd.Dial),
		zkrecipes.WithNamespace(strings.TrimPrefix(base, "/")),
		zkrecipes.WithHooks(zkrecipes.JoinHooks(tel.hooks, sig.hooks())))
	observer := connect(t, srv, zkrecipes.WithSessionTimeout(4*time.Second))
	bg, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()

	l, err := leader.New(c, "/latch", leader.WithID("a"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(bg); err != nil {
		t.Fatal(err)
	}
	sig.awaitLeadership(t, true)
	expectCounts(t, tel, "zkrecipes.leader", map[string]float64{"zookeeper.latch.path=/latch": 1})
	if err := l.Close(bg); err != nil {
		t.Fatal(err)
	}
	sig.awaitLeadership(t, false)
	expectCounts(t, tel, "zkrecipes.leader", map[string]float64{"zookeeper.latch.path=/latch": 0})

	d, err := discovery.New[map[string]any](c, "/services")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := discovery.NewInstance[map[string]any]("svc", nil, discovery.WithID("i1"), discovery.WithAddress("127.0.0.1"), discovery.WithPort(8080))
	if err != nil {
		t.Fatal(err)
	}
	ctx, parent := tel.tp.Tracer("test").Start(bg, "request")
	if err := d.Register(ctx, inst); err != nil {
		t.Fatal(err)
	}
	parent.End()
	regs := tel.ended("zookeeper.discovery.")
	if len(regs) != 1 || regs[0].Name() != "zookeeper.discovery.register" || regs[0].Parent().SpanID() != parent.SpanContext().SpanID() ||
		attrs(regs[0])["zookeeper.path"] != "/services/svc/i1" || attrs(regs[0])["zookeeper.outcome"] != "ok" {
		t.Fatalf("registration spans %v", regs)
	}
	if !regs[0].EndTime().After(regs[0].StartTime()) && !regs[0].EndTime().Equal(regs[0].StartTime()) {
		t.Errorf("registration span ends before it starts")
	}

	// The server expires the session (the instance's ephemeral goes); the heal brings a
	// new session and the Discovery writes the instance again.
	_, _, gone, err := observer.ExistsW(bg, base+"/services/svc/i1")
	if err != nil {
		t.Fatal(err)
	}
	fd.Cut()
	sig.awaitState(t, zkrecipes.StateLost)
	select {
	case <-gone:
	case <-bg.Done():
		t.Fatal("the server never expired the session")
	}
	fd.Heal()
	sig.awaitState(t, zkrecipes.StateReconnected)
	expectCounts(t, tel, "zkrecipes.session.expirations", map[string]float64{"": 1})
	if err := d.Close(bg); err != nil {
		t.Fatal(err)
	}
	got := tel.counts(t, "zkrecipes.registrations")
	for _, k := range []string{
		"zookeeper.outcome=ok,zookeeper.registration.action=register,zookeeper.service=svc",
		"zookeeper.outcome=ok,zookeeper.registration.action=unregister,zookeeper.service=svc",
	} {
		if got[k] != 1 {
			t.Errorf("registrations %s = %v, want 1 (all: %v)", k, got[k], got)
		}
	}
	transitions := tel.counts(t, "zkrecipes.state.transitions")
	if transitions["zookeeper.state=LOST"] != 1 || transitions["zookeeper.state=SUSPENDED"] != 1 {
		t.Errorf("state transitions %v", transitions)
	}
}
