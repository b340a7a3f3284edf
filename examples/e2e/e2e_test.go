package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/examples/internal/cluster"
	"github.com/zkrecipes/zkrecipes/examples/internal/procs"
	"github.com/zkrecipes/zkrecipes/tests/curatortest"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// sessionTimeout of every process. The harness's server ticks every 200 ms, so it allows
// sessions of 400 ms to 4 s.
const sessionTimeout = 3 * time.Second

// deadline for waiting on events: generous, for a loaded 2-core machine.
const deadline = 2 * time.Minute

const hello = "/microservice/test/hello"

type env struct {
	srv   *zktest.Server
	base  string
	cl    *cluster.Cluster
	nodes []*cluster.Node
}

// start runs n bookservice nodes under a base path of this test's own; every process the
// test starts is stopped by PID when it ends, whatever happened.
func start(t testing.TB, ctx context.Context, n int) *env {
	t.Helper()
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	cl := cluster.New(cluster.Options{
		BinDir:         binDir,
		ZK:             srv.ConnectString(),
		SessionTimeout: sessionTimeout,
		LatchPath:      base + "/example/leader",
		BasePath:       base + "/service-discovery",
	})
	t.Cleanup(func() {
		if err := cl.Close(15 * time.Second); err != nil {
			t.Errorf("stopping the processes: %v", err)
		}
		if t.Failed() {
			for _, p := range cl.Processes() {
				t.Logf("output of %s (pid %d):\n%s", p.Name, p.PID(), p.Output())
			}
		}
	})
	e := &env{srv: srv, base: base, cl: cl}
	for i := 1; i <= n; i++ {
		port := freePort(t)
		node, err := cl.StartNode(ctx, fmt.Sprintf("node-%d", i), port)
		if err != nil {
			t.Fatal(err)
		}
		e.nodes = append(e.nodes, node)
	}
	return e
}

func freePort(t testing.TB) int {
	p, err := procs.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ids(ns []*cluster.Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.ID)
	}
	return out
}

func without(ns []*cluster.Node, x *cluster.Node) []*cluster.Node {
	var out []*cluster.Node
	for _, n := range ns {
		if n != x {
			out = append(out, n)
		}
	}
	return out
}

// checkWrites sends 4 POSTs and 2 DELETEs to url; the leader must answer every one.
func checkWrites(t *testing.T, ctx context.Context, cl *cluster.Cluster, url, leader string) {
	t.Helper()
	for _, m := range []string{"POST", "POST", "POST", "POST", "DELETE", "DELETE"} {
		r, err := cl.Hello(ctx, m, url)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusOK || r.Node != leader || !r.Leader {
			t.Fatalf("%s %s: %d %q from %q (leader %v); want 200 from the leader %s", m, url, r.Status, r.Body, r.Node, r.Leader, leader)
		}
	}
}

// checkReads sends two GETs per node to url; round-robin must give each node two.
func checkReads(t *testing.T, ctx context.Context, cl *cluster.Cluster, url string, nodes []*cluster.Node) {
	t.Helper()
	count := map[string]int{}
	for range 2 * len(nodes) {
		r, err := cl.Hello(ctx, "GET", url)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d %q", url, r.Status, r.Body)
		}
		count[r.Node]++
	}
	for _, n := range nodes {
		if count[n.ID] != 2 {
			t.Fatalf("GETs answered %v; want 2 by each of %v", count, ids(nodes))
		}
	}
}

// writeAcrossFailover kills leader and POSTs to url every 50 ms from then on, without
// waiting for the earlier writes, until a node other than leader has answered one; then it
// waits for the writes in flight. Every write must be answered 200 by a node that led at
// that moment: the gateway holds writes while there is no leader. It returns the new
// leader, the time from the kill to its first answer, the number of writes, how many the
// gateway held and the longest.
func writeAcrossFailover(t *testing.T, ctx context.Context, cl *cluster.Cluster, url string, leader *cluster.Node) (next string, took time.Duration, writes, held int, longest time.Duration) {
	t.Helper()
	if err := leader.Proc.Kill(); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	type answer struct {
		r          cluster.Reply
		err        error
		took, done time.Duration
	}
	answers := make(chan answer, 4096)
	var wg sync.WaitGroup
	var failed []string
	note := func(a answer) {
		longest = max(longest, a.took)
		switch {
		case a.err != nil:
			failed = append(failed, a.err.Error())
		case a.r.Status != http.StatusOK:
			failed = append(failed, fmt.Sprintf("%d %s", a.r.Status, strings.TrimSpace(a.r.Body)))
		case !a.r.Leader:
			failed = append(failed, fmt.Sprintf("answered by %s, which was not leader", a.r.Node))
		case a.r.Node == leader.ID:
			failed = append(failed, "answered by the killed "+leader.ID)
		default:
			if a.r.Held > 0 {
				held++
			}
			if next == "" {
				next, took = a.r.Node, a.done
			}
		}
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for next == "" && ctx.Err() == nil {
		if err := cl.CheckAlive(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		writes++
		go func() {
			defer wg.Done()
			start := time.Now()
			r, err := cl.Hello(ctx, "POST", url)
			answers <- answer{r, err, time.Since(start), time.Since(t0)}
		}()
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		for drained := false; !drained; {
			select {
			case a := <-answers:
				note(a)
			default:
				drained = true
			}
		}
	}
	go func() { wg.Wait(); close(answers) }()
	for a := range answers {
		note(a)
	}
	if len(failed) > 0 {
		t.Errorf("%d of %d writes failed across the kill of %s; first: %s", len(failed), writes, leader.ID, failed[0])
	}
	if next == "" {
		t.Fatalf("no new leader answered a write: %v", ctx.Err())
	}
	return next, took, writes, held, longest
}

// TestGatewayFailover plays the scenario through the gateway: reads round-robin,
// writes to the leader, and after the leader is killed, no write fails: the gateway holds
// them and they reach the new leader within the session timeout + 2 s, never a node that
// does not lead. With no instance left, a write is answered 503 once the gateway's write
// wait has run out.
func TestGatewayFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*deadline)
	defer cancel()
	e := start(t, ctx, 3)
	gw, err := e.cl.StartGateway(ctx, freePort(t))
	if err != nil {
		t.Fatal(err)
	}
	leader, err := e.cl.WaitLeader(ctx, e.nodes...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cl.WaitGateway(ctx, leader.ID, ids(e.nodes)...); err != nil {
		t.Fatal(err)
	}
	checkWrites(t, ctx, e.cl, gw.URL(hello), leader.ID)
	checkReads(t, ctx, e.cl, gw.URL(hello), e.nodes)

	next, took, writes, held, longest := writeAcrossFailover(t, ctx, e.cl, gw.URL(hello), leader)
	t.Logf("kill -9 %s: writes reached %s after %v; %d writes, none failed, %d held by the gateway, the longest %v",
		leader.ID, next, took, writes, held, longest)
	if limit := sessionTimeout + 2*time.Second; took > limit {
		t.Errorf("writes reached the new leader %v after the kill; want within the session timeout + 2 s = %v", took, limit)
	}
	survivors := without(e.nodes, leader)
	if _, err := e.cl.WaitGateway(ctx, next, ids(survivors)...); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		checkWrites(t, ctx, e.cl, gw.URL(hello), next)
	}
	checkReads(t, ctx, e.cl, gw.URL(hello), survivors)

	// The gateway answers 503 with a reason when it cannot route.
	for _, n := range survivors {
		if err := n.Proc.Stop(15 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.cl.WaitGateway(ctx, ""); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"GET", "POST"} {
		r, err := e.cl.Hello(ctx, m, gw.URL(hello))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, "no instance") ||
			m == "POST" && !strings.Contains(r.Body, "no leader took the write within") {
			t.Errorf("%s with no instance: %d %q; want 503 saying there is no instance (for the write: after the wait)", m, r.Status, r.Body)
		}
	}
}

const nginxBin = "/usr/sbin/nginx"

func requireNginx(t *testing.T) {
	if _, err := os.Stat(nginxBin); err != nil {
		if v := os.Getenv(zktest.EnvRequire); v == "1" || v == "true" {
			t.Fatalf("%s is missing and %s is set: apt-get install -y nginx", nginxBin, zktest.EnvRequire)
		}
		t.Skipf("%s is missing: apt-get install -y nginx", nginxBin)
	}
}

// TestNginxRouting runs nginxconf against Debian's real nginx: GET round-robin, writes to
// the leader, and after the leader is killed and nginxconf reloaded nginx, writes to the
// new leader.
func TestNginxRouting(t *testing.T) {
	requireNginx(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*deadline)
	defer cancel()
	e := start(t, ctx, 3)
	dir := t.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	port := freePort(t)
	if _, err := e.cl.StartNginxconf(
		"-out", conf,
		"-listen", fmt.Sprintf("127.0.0.1:%d", port),
		"-worker-processes", "1",
		"-runtime-dir", filepath.Join(dir, "run"),
		"-check", nginxBin+` -t -q -c "$NGINXCONF_FILE"`,
		// nginx starts below, once the first config is there; until then there is nothing
		// to reload (and a failed reload would be retried, racing with the start).
		"-reload", fmt.Sprintf(`[ ! -s %s ] || %s -s reload -c "$NGINXCONF_FILE"`, filepath.Join(dir, "run", "nginx.pid"), nginxBin),
		"-retry", "500ms",
		"-wait", "50ms",
	); err != nil {
		t.Fatal(err)
	}
	leader, err := e.cl.WaitLeader(ctx, e.nodes...)
	if err != nil {
		t.Fatal(err)
	}
	waitConfig := func(leader string, nodes []*cluster.Node) {
		t.Helper()
		err := procs.Poll(ctx, 50*time.Millisecond, "nginx config with leader "+leader, func(context.Context) (bool, error) {
			if err := e.cl.CheckAlive(); err != nil {
				return false, &procs.Permanent{Err: err}
			}
			b, err := os.ReadFile(conf)
			if err != nil {
				return false, err
			}
			s := string(b)
			if !strings.Contains(s, fmt.Sprintf("%d instance(s), leader %s.", len(nodes), leader)) {
				return false, fmt.Errorf("config says %q", strings.SplitN(s, "\n", 3)[1])
			}
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	waitConfig(leader.ID, e.nodes)

	nginx, err := procs.Start("nginx", nginxBin, []string{"-c", conf, "-g", "daemon off;"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nginx.Stop(15 * time.Second); err != nil {
			t.Errorf("stopping nginx: %v", err)
		}
		if t.Failed() {
			t.Logf("nginx output:\n%s", nginx.Output())
			if b, err := os.ReadFile(filepath.Join(dir, "run", "error.log")); err == nil {
				t.Logf("nginx error.log:\n%s", b)
			}
		}
	})
	url := procs.URL(port, hello)
	// nginx serves the config it was started with; wait until it answers at all.
	err = procs.Poll(ctx, 50*time.Millisecond, "nginx serving", func(ctx context.Context) (bool, error) {
		if exited, err := nginx.Exited(); exited {
			return false, &procs.Permanent{Err: fmt.Errorf("nginx exited: %v\n%s", err, nginx.Output())}
		}
		r, err := e.cl.Hello(ctx, "GET", url)
		return err == nil && r.Status == http.StatusOK, err
	})
	if err != nil {
		t.Fatal(err)
	}
	waitOneWorker(t, ctx, nginx)
	checkReads(t, ctx, e.cl, url, e.nodes)
	checkWrites(t, ctx, e.cl, url, leader.ID)

	if err := leader.Proc.Kill(); err != nil {
		t.Fatal(err)
	}
	survivors := without(e.nodes, leader)
	var next string
	err = procs.Poll(ctx, 50*time.Millisecond, "nginx routing writes to a new leader", func(ctx context.Context) (bool, error) {
		if err := e.cl.CheckAlive(); err != nil {
			return false, &procs.Permanent{Err: err}
		}
		r, err := e.cl.Hello(ctx, "POST", url)
		if err != nil {
			return false, err
		}
		if r.Status != http.StatusOK || r.Node == leader.ID {
			return false, fmt.Errorf("%d %s", r.Status, r.Body)
		}
		if !r.Leader {
			return false, &procs.Permanent{Err: fmt.Errorf("nginx sent a write to %s, which was not leader", r.Node)}
		}
		next = r.Node
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitConfig(next, survivors)
	// The config that sends writes to next is live, and nothing changes any more. After a
	// reload the old worker keeps accepting connections for a moment, with the old
	// config; once it is gone, every write must reach next.
	waitOneWorker(t, ctx, nginx)
	checkWrites(t, ctx, e.cl, url, next)
}

// waitOneWorker waits until the nginx master has a single worker: the old generations of
// workers have finished.
func waitOneWorker(t *testing.T, ctx context.Context, nginx *procs.Process) {
	t.Helper()
	file := fmt.Sprintf("/proc/%d/task/%d/children", nginx.PID(), nginx.PID())
	err := procs.Poll(ctx, 50*time.Millisecond, "nginx down to one worker", func(context.Context) (bool, error) {
		b, err := os.ReadFile(file)
		if err != nil {
			return false, &procs.Permanent{Err: err}
		}
		if n := len(strings.Fields(string(b))); n != 1 {
			return false, fmt.Errorf("%d workers", n)
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCuratorReadsBookservice has a Java Curator ServiceDiscovery (Debian's Curator 5.4)
// list the three bookservice instances and decode their payload's leader flag.
func TestCuratorReadsBookservice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*deadline)
	defer cancel()
	e := start(t, ctx, 3)
	leader, err := e.cl.WaitLeader(ctx, e.nodes...)
	if err != nil {
		t.Fatal(err)
	}
	peer := curatortest.Start(t, e.srv.ConnectString())
	if err := peer.SDStart(ctx, e.base+"/service-discovery"); err != nil {
		t.Fatal(err)
	}
	// The leader flips its payload after it wins, so wait for Java to see the flag.
	var got []curatortest.Instance
	err = procs.Poll(ctx, 100*time.Millisecond, "Java sees three instances and the leader flag", func(ctx context.Context) (bool, error) {
		var err error
		got, err = peer.SDQuery(ctx, "bookService")
		if err != nil {
			return false, &procs.Permanent{Err: err}
		}
		var leaders []string
		for _, in := range got {
			if in.Payload != nil && in.Payload.Leader {
				leaders = append(leaders, in.ID)
			}
		}
		if len(got) != 3 || len(leaders) != 1 || leaders[0] != leader.ID {
			return false, fmt.Errorf("Java sees %d instances, leaders %v", len(got), leaders)
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range got {
		n := e.nodes[i] // both sorted by id
		if in.ID != n.ID || in.Name != "bookService" || in.Address != "127.0.0.1" || in.Port == nil || *in.Port != n.Port ||
			in.PayloadClass != curatortest.PayloadClass || in.ServiceType != "DYNAMIC" || !in.Enabled {
			t.Errorf("Java decoded %+v; want %s at 127.0.0.1:%d with a %s payload", in, n.ID, n.Port, curatortest.PayloadClass)
		}
	}
}
