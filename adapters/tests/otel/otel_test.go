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
	"github.com/zkrecipes/zkrecipes/adapters/otel/oteltest"
	"github.com/zkrecipes/zkrecipes/adapters/tests/internal/adaptertest"
	"github.com/zkrecipes/zkrecipes/retry"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
)

func TestMain(m *testing.M) { zktest.Main(m) }

// Scripted operations under a caller's span: each is a client span under it with the
// operation's attributes; a retried one carries a retry event, failures have status Error
// (an unknown outcome says so); the latency histogram, the retries and the state
// transitions count them.
func TestOperationSpansAndMetrics(t *testing.T) {
	tel := oteltest.New(t)
	sig := adaptertest.NewSignals()
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	fd := zktest.NewFaultDialer()
	c := adaptertest.Connect(t, srv, zkrecipes.WithSessionTimeout(4*time.Second), zkrecipes.WithDialer(fd.Dial),
		zkrecipes.WithRetryPolicy(retry.NTimes(50, 100*time.Millisecond)),
		zkrecipes.WithHooks(zkrecipes.JoinHooks(tel.Hooks, sig.Hooks())))
	sig.AwaitState(t, zkrecipes.StateConnected)
	bg, cancel := context.WithTimeout(context.Background(), adaptertest.Patience)
	defer cancel()
	ctx, parent := tel.TP.Tracer("test").Start(bg, "request")

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
	adaptertest.MustFire(t, lost)
	sig.AwaitState(t, zkrecipes.StateReconnected)
	lost = fd.LoseNextReply(func(op int32, p string) bool {
		return (op == zktest.OpCreate || op == zktest.OpCreate2) && strings.HasPrefix(p, base+"/seq-")
	})
	if _, err := c.Create(ctx, base+"/seq-", nil, zkrecipes.ModePersistentSequential); !errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
		t.Fatalf("create with a lost reply: %v", err)
	}
	adaptertest.MustFire(t, lost)
	sig.AwaitState(t, zkrecipes.StateReconnected)
	parent.End()

	spans := tel.Ended("zookeeper.")
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
		a := oteltest.Attrs(s)
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

	tel.ExpectCounts(t, "zkrecipes.operation.duration", map[string]float64{
		"zookeeper.operation=create,zookeeper.result=ok":      1,
		"zookeeper.operation=create,zookeeper.result=unknown": 1,
		"zookeeper.operation=get,zookeeper.result=no_node":    1,
		"zookeeper.operation=get,zookeeper.result=ok":         2,
	})
	tel.ExpectCounts(t, "zkrecipes.retries", map[string]float64{
		"zookeeper.operation=get,zookeeper.result=connection_loss": 1,
	})
	tel.ExpectCounts(t, "zkrecipes.state.transitions", map[string]float64{
		"zookeeper.state=CONNECTED":   1,
		"zookeeper.state=RECONNECTED": 2,
		"zookeeper.state=SUSPENDED":   2,
	})
	tel.ExpectCounts(t, "zkrecipes.outage.duration", map[string]float64{"": 2})
	if h, ok := tel.Metric(t, "zkrecipes.operation.duration").(metricdata.Histogram[float64]); !ok || len(h.DataPoints) == 0 ||
		!slices.Equal(h.DataPoints[0].Bounds, zkotel.OperationBuckets) {
		t.Errorf("operation histogram %+v: want buckets %v", h, zkotel.OperationBuckets)
	}
}

// A session the server expires counts once, with its LOST; a latch's leadership moves the
// gauge of its path up and back down; a discovery registration is a span under the
// caller's and counts by action and outcome.
func TestExpiryLeadershipRegistration(t *testing.T) {
	tel := oteltest.New(t)
	sig := adaptertest.NewSignals()
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	fd := zktest.NewFaultDialer()
	c := adaptertest.Connect(t, srv, zkrecipes.WithSessionTimeout(time.Second), zkrecipes.WithDialer(fd.Dial),
		zkrecipes.WithNamespace(strings.TrimPrefix(base, "/")),
		zkrecipes.WithHooks(zkrecipes.JoinHooks(tel.Hooks, sig.Hooks())))
	observer := adaptertest.Connect(t, srv, zkrecipes.WithSessionTimeout(4*time.Second))
	bg, cancel := context.WithTimeout(context.Background(), adaptertest.Patience)
	defer cancel()

	l := adaptertest.StartLatch(t, bg, c, "/latch", "a")
	sig.AwaitLeadership(t, true)
	tel.ExpectCounts(t, "zkrecipes.leader", map[string]float64{"zookeeper.latch.path=/latch": 1})
	if err := l.Close(bg); err != nil {
		t.Fatal(err)
	}
	sig.AwaitLeadership(t, false)
	tel.ExpectCounts(t, "zkrecipes.leader", map[string]float64{"zookeeper.latch.path=/latch": 0})

	d, inst := adaptertest.Registration(t, c)
	ctx, parent := tel.TP.Tracer("test").Start(bg, "request")
	if err := d.Register(ctx, inst); err != nil {
		t.Fatal(err)
	}
	parent.End()
	regs := tel.Ended("zookeeper.discovery.")
	if len(regs) != 1 || regs[0].Name() != "zookeeper.discovery.register" || regs[0].Parent().SpanID() != parent.SpanContext().SpanID() ||
		oteltest.Attrs(regs[0])["zookeeper.path"] != "/services/svc/i1" || oteltest.Attrs(regs[0])["zookeeper.outcome"] != "ok" {
		t.Fatalf("registration spans %v", regs)
	}
	if !regs[0].EndTime().After(regs[0].StartTime()) && !regs[0].EndTime().Equal(regs[0].StartTime()) {
		t.Errorf("registration span ends before it starts")
	}

	// The server expires the session (the instance's ephemeral goes); the heal brings a
	// new session and the Discovery writes the instance again.
	sig.Expire(t, bg, observer, fd, base+"/services/svc/i1")
	tel.ExpectCounts(t, "zkrecipes.session.expirations", map[string]float64{"": 1})
	if err := d.Close(bg); err != nil {
		t.Fatal(err)
	}
	got := tel.Counts(t, "zkrecipes.registrations")
	for _, k := range []string{
		"zookeeper.outcome=ok,zookeeper.registration.action=register,zookeeper.service=svc",
		"zookeeper.outcome=ok,zookeeper.registration.action=unregister,zookeeper.service=svc",
	} {
		if got[k] != 1 {
			t.Errorf("registrations %s = %v, want 1 (all: %v)", k, got[k], got)
		}
	}
	transitions := tel.Counts(t, "zkrecipes.state.transitions")
	if transitions["zookeeper.state=LOST"] != 1 || transitions["zookeeper.state=SUSPENDED"] != 1 {
		t.Errorf("state transitions %v", transitions)
	}
}
