package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/zkrecipes/zkrecipes"
	zkprom "github.com/zkrecipes/zkrecipes/adapters/prometheus"
	"github.com/zkrecipes/zkrecipes/adapters/prometheus/promtest"
	"github.com/zkrecipes/zkrecipes/adapters/tests/internal/adaptertest"
	"github.com/zkrecipes/zkrecipes/retry"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

func TestMain(m *testing.M) { zktest.Main(m) }

// sampleCounts returns a histogram's sample counts by label values ("v1,v2").
func sampleCounts(t *testing.T, reg *prometheus.Registry, name string) map[string]uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var vals []string
			for _, lp := range m.GetLabel() {
				vals = append(vals, lp.GetName()+"="+lp.GetValue())
			}
			sort.Strings(vals)
			out[strings.Join(vals, ",")] = m.GetHistogram().GetSampleCount()
		}
	}
	return out
}

// Scripted operations on real ZooKeeper, a leadership change, a discovery registration
// and a server-side session expiry, read back through the registry.
func TestCollectorOnZooKeeper(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	col := zkprom.NewCollector()
	reg.MustRegister(col)
	sig := adaptertest.NewSignals()
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	fd := zktest.NewFaultDialer()
	c := adaptertest.Connect(t, srv, zkrecipes.WithSessionTimeout(time.Second), zkrecipes.WithDialer(fd.Dial),
		zkrecipes.WithNamespace(strings.TrimPrefix(base, "/")),
		zkrecipes.WithRetryPolicy(retry.NTimes(50, 100*time.Millisecond)),
		zkrecipes.WithHooks(zkrecipes.JoinHooks(col.Hooks(), sig.Hooks())))
	observer := adaptertest.Connect(t, srv, zkrecipes.WithSessionTimeout(4*time.Second))
	sig.AwaitState(t, zkrecipes.StateConnected)
	ctx, cancel := context.WithTimeout(context.Background(), adaptertest.Patience)
	defer cancel()

	if _, err := c.Create(ctx, "/n", []byte("a"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, "/n"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, "/missing"); err == nil {
		t.Fatal("get of a missing node succeeded")
	}
	lost := fd.LoseNextReply(func(op int32, p string) bool { return op == zktest.OpGetData && p == base+"/n" })
	if _, _, err := c.Get(ctx, "/n"); err != nil {
		t.Fatal(err)
	}
	adaptertest.MustFire(t, lost)
	sig.AwaitState(t, zkrecipes.StateReconnected)
	lost = fd.LoseNextReply(func(op int32, p string) bool {
		return (op == zktest.OpCreate || op == zktest.OpCreate2) && strings.HasPrefix(p, base+"/seq-")
	})
	if _, err := c.Create(ctx, "/seq-", nil, zkrecipes.ModePersistentSequential); !errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
		t.Fatalf("create with a lost reply: %v", err)
	}
	adaptertest.MustFire(t, lost)
	sig.AwaitState(t, zkrecipes.StateReconnected)

	got := sampleCounts(t, reg, "zkrecipes_operation_duration_seconds")
	want := map[string]uint64{
		"op=create,result=ok":      1,
		"op=create,result=unknown": 1,
		"op=get,result=no_node":    1,
		"op=get,result=ok":         2,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("operation samples %v, want %v", got, want)
	}
	if n := testutil.CollectAndCount(col, "zkrecipes_operation_duration_seconds"); n != 4 {
		t.Errorf("%d operation series, want 4", n)
	}

	l := adaptertest.StartLatch(t, ctx, c, "/latch", "a")
	sig.AwaitLeadership(t, true)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP zkrecipes_leader Latches of this process that lead, by latch path (0 or 1).
# TYPE zkrecipes_leader gauge
zkrecipes_leader{path="/latch"} 1
`), "zkrecipes_leader"); err != nil {
		t.Error(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	sig.AwaitLeadership(t, false)

	d, inst := adaptertest.Registration(t, c)
	if err := d.Register(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if err := d.Update(ctx, inst); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// The server expires the session.
	if _, err := c.Create(ctx, "/eph", nil, zkrecipes.ModeEphemeral); err != nil {
		t.Fatal(err)
	}
	sig.Expire(t, ctx, observer, fd, base+"/eph")

	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP zkrecipes_leader Latches of this process that lead, by latch path (0 or 1).
# TYPE zkrecipes_leader gauge
zkrecipes_leader{path="/latch"} 0
# HELP zkrecipes_registrations_total Discovery registration writes, by action and result.
# TYPE zkrecipes_registrations_total counter
zkrecipes_registrations_total{action="register",result="ok",service="svc"} 1
zkrecipes_registrations_total{action="unregister",result="ok",service="svc"} 1
zkrecipes_registrations_total{action="update",result="ok",service="svc"} 1
# HELP zkrecipes_retries_total Retries of ZooKeeper operations after a connection-class failure, by the failure's code.
# TYPE zkrecipes_retries_total counter
zkrecipes_retries_total{op="get",result="connection_loss"} 1
# HELP zkrecipes_session_expirations_total Sessions the server expired.
# TYPE zkrecipes_session_expirations_total counter
zkrecipes_session_expirations_total 1
# HELP zkrecipes_state_transitions_total Connection state transitions (Curator's states), by the state entered.
# TYPE zkrecipes_state_transitions_total counter
zkrecipes_state_transitions_total{state="CONNECTED"} 1
zkrecipes_state_transitions_total{state="LOST"} 1
zkrecipes_state_transitions_total{state="RECONNECTED"} 3
zkrecipes_state_transitions_total{state="SUSPENDED"} 3
`), "zkrecipes_leader", "zkrecipes_registrations_total", "zkrecipes_retries_total",
		"zkrecipes_session_expirations_total", "zkrecipes_state_transitions_total"); err != nil {
		t.Error(err)
	}
	if got := sampleCounts(t, reg, "zkrecipes_outage_duration_seconds"); got[""] != 3 {
		t.Errorf("outage samples %v, want 3 (one per RECONNECTED)", got)
	}
	promtest.Lint(t, reg)
}
