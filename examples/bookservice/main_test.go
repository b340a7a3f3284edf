package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeMember stands in for the ZooKeeper side, to test the HTTP surface alone (the real one
// runs in examples/e2e against real ZooKeeper).
type fakeMember struct{ leader, healthy bool }

func (f *fakeMember) IsLeader() bool { return f.leader }
func (f *fakeMember) Status() status {
	return status{ID: "node-1", Leader: f.leader, ZooKeeper: "CONNECTED", Registered: f.healthy, Healthy: f.healthy}
}
func (f *fakeMember) Close(context.Context) error { return nil }

func TestHandler(t *testing.T) {
	m := &fakeMember{leader: true, healthy: true}
	srv := httptest.NewServer(handler("node-1", m, nil))
	defer srv.Close()
	do := func(method, path string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b)), resp.Header
	}
	if code, body, h := do("GET", "/microservice/test"); code != 200 || body != "true" || h.Get("X-Leader") != "true" || h.Get("X-Node-Id") != "node-1" {
		t.Errorf("GET /microservice/test: %d %q %v", code, body, h)
	}
	for _, m := range []string{"GET", "POST", "PUT", "DELETE", "PATCH"} {
		if code, body, _ := do(m, "/microservice/test/hello"); code != 200 || body != "node-1" {
			t.Errorf("%s hello: %d %q", m, code, body)
		}
	}
	m.leader, m.healthy = false, false
	if code, body, _ := do("GET", "/microservice/test"); code != 200 || body != "false" {
		t.Errorf("GET /microservice/test as follower: %d %q", code, body)
	}
	if code, body, _ := do("GET", "/health"); code != 503 || !strings.Contains(body, `"healthy":false`) {
		t.Errorf("unhealthy /health: %d %q", code, body)
	}
	if code, _, _ := do("GET", "/metrics"); code != 404 {
		t.Errorf("/metrics without -metrics: %d, want 404", code)
	}
}

// With -metrics, /metrics serves what the client's hooks report, in Prometheus's text
// format (the hooks are fed by hand here; examples/e2e runs the real client).
func TestMetricsEndpoint(t *testing.T) {
	hooks, metrics := metricsHandler()
	srv := httptest.NewServer(handler("node-1", &fakeMember{leader: true, healthy: true}, metrics))
	defer srv.Close()
	ctx := context.Background()
	hooks.StateChange(ctx, zkrecipes.StateChange{State: zkrecipes.StateConnected, NewSession: true})
	hooks.Leadership(ctx, zkrecipes.LeadershipEvent{Path: "/example/leader", Leader: true})
	hooks.Operation(ctx, zkrecipes.OperationEvent{Op: "get", Path: "/x", Attempts: 1})
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	for _, want := range []string{
		`zkrecipes_state_transitions_total{state="CONNECTED"} 1`,
		`zkrecipes_leader{path="/example/leader"} 1`,
		`zkrecipes_operation_duration_seconds_count{op="get",result="ok"} 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if resp.StatusCode != 200 || t.Failed() {
		t.Fatalf("/metrics: %d\n%s", resp.StatusCode, body)
	}
}

func TestParseFlags(t *testing.T) {
	t.Setenv("NODE_ID", "from-env")
	t.Setenv("PORT", "8070")
	c, err := parseFlags([]string{"-port", "8090", "-bind", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.id != "from-env" || c.port != 8090 || c.address != "127.0.0.1" || c.latchPath != "/example/leader" ||
		c.payloadClass != "com.example.InstanceDetails" || c.metrics {
		t.Errorf("config %+v", c)
	}
	t.Setenv("PORT", "eighty")
	if _, err := parseFlags(nil); err == nil || !strings.Contains(err.Error(), "$PORT") {
		t.Errorf("bad $PORT: %v", err)
	}
}
