package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/zkrecipes/zkrecipes/examples/internal/cluster"
)

const (
	latchPath = "/example/leader"
	basePath  = "/service-discovery"
	service   = "bookService"
	hello     = "/microservice/test/hello"
)

// scenario is the story the demo tells; each step checks what it shows.
func (d *demo) scenario(ctx context.Context) error {
	all := append([]*cluster.Node(nil), d.nodes...)
	leader, err := d.whoLeads(ctx, all)
	if err != nil {
		return err
	}
	if err := d.writes(ctx, leader, "2. Writes go to the leader, through the gateway"); err != nil {
		return err
	}
	if err := d.reads(ctx, all, "3. Reads are spread round-robin over every node"); err != nil {
		return err
	}
	next, err := d.failover(ctx, leader)
	if err != nil {
		return err
	}
	survivors := without(all, leader)
	if err := d.writes(ctx, next, "5. Writes now go to "+next.ID); err != nil {
		return err
	}
	if err := d.reads(ctx, survivors, "6. Reads are spread over the survivors"); err != nil {
		return err
	}
	if err := d.rejoin(ctx, leader, next); err != nil {
		return err
	}
	if d.opts.nginx {
		return d.nginxPath(ctx, d.nodes, next)
	}
	return nil
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

func (d *demo) stepCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 3*d.opts.sessionTimeout+60*time.Second)
}

// whoLeads asks every node, shows the election and the registrations in ZooKeeper, and
// waits until the gateway agrees.
func (d *demo) whoLeads(ctx context.Context, nodes []*cluster.Node) (*cluster.Node, error) {
	ctx, cancel := d.stepCtx(ctx)
	defer cancel()
	d.section("1. Who leads? Ask every node: GET /microservice/test")
	leader, err := d.cl.WaitLeader(ctx, nodes...)
	if err != nil {
		return nil, err
	}
	st, err := d.cl.WaitGateway(ctx, leader.ID, ids(nodes)...)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		is, err := d.cl.IsLeader(ctx, n)
		if err != nil {
			return nil, err
		}
		d.printf("  GET %s -> %v\n", n.URL("/microservice/test"), is)
	}
	d.printf("  In ZooKeeper, the latch %s holds one node per participant; the first one leads:\n", latchPath)
	ps, err := d.obs.latch(ctx, latchPath)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		mark := ""
		if p.Leader {
			mark = "   <- leader"
		}
		d.printf("    %s/%s  %q%s\n", latchPath, p.Node, p.ID, mark)
	}
	if len(ps) != len(nodes) || !ps[0].Leader || ps[0].ID != leader.ID {
		return nil, fmt.Errorf("latch participants %+v do not match leader %s", ps, leader.ID)
	}
	reg, err := d.obs.registration(ctx, basePath, service, leader.ID)
	if err != nil {
		return nil, err
	}
	d.printf("  and each node registered itself; the leader's registration, as Java Curator reads it:\n")
	d.printf("    %s/%s/%s\n      %s\n", basePath, service, leader.ID, reg)
	if !strings.Contains(reg, `"leader":true`) {
		return nil, fmt.Errorf("the leader's registration does not say \"leader\":true: %s", reg)
	}
	d.ok("exactly one leader, %s; the gateway sees %v with leader %s", leader.ID, st.IDs(), st.Leader)
	return leader, nil
}

// writes sends 4 POSTs and 2 DELETEs through the gateway; every one must reach leader.
func (d *demo) writes(ctx context.Context, leader *cluster.Node, title string) error {
	ctx, cancel := d.stepCtx(ctx)
	defer cancel()
	d.section(title)
	methods := []string{"POST", "POST", "POST", "POST", "DELETE", "DELETE"}
	for _, m := range methods {
		r, err := d.cl.Hello(ctx, m, d.gw.URL(hello))
		if err != nil {
			return err
		}
		d.printf("  %-6s %s -> %d %s\n", m, d.gw.URL(hello), r.Status, r.Body)
		if r.Status != http.StatusOK || r.Node != leader.ID || !r.Leader {
			return fmt.Errorf("%s answered %d by %q (leader: %v), want 200 by the leader %s", m, r.Status, r.Node, r.Leader, leader.ID)
		}
	}
	d.ok("all %d writes were answered by the leader %s", len(methods), leader.ID)
	return nil
}

// reads sends two GETs per node through the gateway; each node must answer some.
func (d *demo) reads(ctx context.Context, nodes []*cluster.Node, title string) error {
	ctx, cancel := d.stepCtx(ctx)
	defer cancel()
	d.section(title)
	count := map[string]int{}
	for range 2 * len(nodes) {
		r, err := d.cl.Hello(ctx, "GET", d.gw.URL(hello))
		if err != nil {
			return err
		}
		d.printf("  GET    %s -> %d %s\n", d.gw.URL(hello), r.Status, r.Body)
		if r.Status != http.StatusOK {
			return fmt.Errorf("GET answered %d: %s", r.Status, r.Body)
		}
		count[r.Node]++
	}
	var parts []string
	for _, n := range nodes {
		if count[n.ID] == 0 {
			return fmt.Errorf("%s answered no GET (%v)", n.ID, count)
		}
		parts = append(parts, fmt.Sprintf("%s ×%d", n.ID, count[n.ID]))
	}
	d.ok("%d reads answered by %s", 2*len(nodes), strings.Join(parts, ", "))
	return nil
}

// failover kills the leader and writes through the gateway until the new leader answers.
func (d *demo) failover(ctx context.Context, leader *cluster.Node) (*cluster.Node, error) {
	ctx, cancel := d.stepCtx(ctx)
	defer cancel()
	d.section(fmt.Sprintf("4. Crash the leader: kill -9 %s (pid %d)", leader.ID, leader.Proc.PID()))
	d.printf("  A crashed process cannot say goodbye: ZooKeeper keeps its session, its latch node and\n")
	d.printf("  its registration until the session timeout (%v) expires. Then the next node in line\n", d.opts.sessionTimeout)
	d.printf("  wins the latch and flips its payload to {\"leader\":true}, and the gateway follows.\n")
	d.printf("  Meanwhile the gateway holds every write (-write-wait %v: the session timeout plus 2s)\n", d.opts.sessionTimeout+2*time.Second)
	d.printf("  and sends it to the new leader. Writing through the gateway every 100ms:\n")
	res, err := d.killAndWrite(ctx, leader, 100*time.Millisecond)
	if err != nil {
		return nil, err
	}
	d.printf("    %d writes sent from the kill on, %d failed; %d held by the gateway while there was no leader;\n",
		res.writes, len(res.failed), res.held)
	d.printf("    the longest took %v\n", res.longest.Round(10*time.Millisecond))
	for _, f := range res.failed {
		d.printf("    failed: %s\n", f)
	}
	if len(res.failed) > 0 {
		return nil, fmt.Errorf("%d of %d writes failed across the kill", len(res.failed), res.writes)
	}
	next := d.cl.Node(res.newLeader)
	survivors := without(d.nodes, leader)
	st, err := d.cl.WaitGateway(ctx, next.ID, ids(survivors)...)
	if err != nil {
		return nil, err
	}
	d.ok("0 failed writes across kill -9: they moved to %s %s after the kill (session timeout %v); the gateway now sees %v",
		next.ID, res.elapsed.Round(10*time.Millisecond), d.opts.sessionTimeout, st.IDs())
	for _, n := range survivors {
		is, err := d.cl.IsLeader(ctx, n)
		if err != nil {
			return nil, err
		}
		d.printf("  GET %s -> %v\n", n.URL("/microservice/test"), is)
	}
	return next, nil
}

type failoverResult struct {
	newLeader string
	elapsed   time.Duration // from the kill to the first write the new leader answered
	writes    int           // writes sent from the kill on
	failed    []string      // the answers that were not a 200 from a leader
	held      int           // writes the gateway held while there was no leader
	longest   time.Duration // the slowest write, from its sending to its answer
}

// killAndWrite kills leader and, from then on, POSTs through the gateway every interval
// without waiting for the earlier writes, until a node other than leader has answered one
// (the gateway holds the writes while there is no leader); then it waits for the writes
// still in flight. Any write answered by a node that was not leader fails it; other
// failures are counted in the result.
func (d *demo) killAndWrite(ctx context.Context, leader *cluster.Node, interval time.Duration) (failoverResult, error) {
	if err := leader.Proc.Kill(); err != nil {
		return failoverResult{}, err
	}
	t0 := time.Now()
	type answer struct {
		r     cluster.Reply
		err   error
		took  time.Duration
		doneT time.Duration
	}
	answers := make(chan answer, 1024)
	var wg sync.WaitGroup
	send := func() {
		defer wg.Done()
		start := time.Now()
		r, err := d.cl.Hello(ctx, "POST", d.gw.URL(hello))
		answers <- answer{r: r, err: err, took: time.Since(start), doneT: time.Since(t0)}
	}
	var res failoverResult
	var wrong error
	note := func(a answer) {
		res.longest = max(res.longest, a.took)
		switch {
		case a.err != nil:
			res.failed = append(res.failed, "error: "+a.err.Error())
		case a.r.Status != http.StatusOK:
			res.failed = append(res.failed, fmt.Sprintf("%d %s", a.r.Status, strings.TrimSpace(a.r.Body)))
		case !a.r.Leader:
			wrong = fmt.Errorf("a write was answered by %s, which was not leader", a.r.Node)
		default:
			if a.r.Held > 0 {
				res.held++
			}
			if a.r.Node != leader.ID && res.newLeader == "" {
				res.newLeader, res.elapsed = a.r.Node, a.doneT
			}
		}
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for res.newLeader == "" && wrong == nil && ctx.Err() == nil {
		wg.Add(1)
		res.writes++
		go send()
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
		if err := d.cl.CheckAlive(); err != nil {
			wrong = err
		}
	}
	go func() { wg.Wait(); close(answers) }()
	for a := range answers {
		note(a)
	}
	switch {
	case wrong != nil:
		return res, wrong
	case res.newLeader == "":
		return res, fmt.Errorf("no new leader took writes within %v of the kill: %w", time.Since(t0).Round(time.Second), ctx.Err())
	}
	return res, nil
}

// rejoin restarts the killed node: it registers, joins the latch at the back of the line,
// and takes reads again while the leader stays.
func (d *demo) rejoin(ctx context.Context, killed, leader *cluster.Node) error {
	ctx, cancel := d.stepCtx(ctx)
	defer cancel()
	d.section(fmt.Sprintf("7. Restart %s: it rejoins behind the others, as a follower", killed.ID))
	n, err := d.cl.StartNode(ctx, killed.ID, killed.Port)
	if err != nil {
		return fmt.Errorf("restart %s: %w", killed.ID, err)
	}
	for i, m := range d.nodes {
		if m == killed {
			d.nodes[i] = n
		}
	}
	d.printf("  %-7s pid %-7d %s\n", n.ID, n.Proc.PID(), n.URL(""))
	if st, err := d.cl.GatewayStatus(ctx); err == nil && len(st.Down) > 0 {
		d.printf("  The gateway marked %v down when requests to it failed (its -down-window is 5s); the\n", st.Down)
		d.printf("  mark outlives the crash, so %s gets requests again once the window has passed.\n", n.ID)
	}
	if _, err := d.cl.WaitGateway(ctx, leader.ID, ids(d.nodes)...); err != nil {
		return err
	}
	ps, err := d.obs.latch(ctx, latchPath)
	if err != nil {
		return err
	}
	var order []string
	for _, p := range ps {
		order = append(order, p.ID)
	}
	d.printf("  latch order now: %s\n", strings.Join(order, ", "))
	if len(order) == 0 || order[0] != leader.ID || order[len(order)-1] != n.ID {
		return fmt.Errorf("latch order %v: want %s first and %s last", order, leader.ID, n.ID)
	}
	if is, err := d.cl.IsLeader(ctx, n); err != nil || is {
		return fmt.Errorf("%s after restart: leader=%v err=%v, want a follower", n.ID, is, err)
	}
	d.ok("%s is back as a follower; %s still leads", n.ID, leader.ID)
	return d.reads(ctx, d.nodes, "8. Reads are spread over all nodes again")
}
