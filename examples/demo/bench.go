package main

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// benchFailover kills the leader n times; each time it measures the time from the kill to
// the first write that the gateway gets answered by the new leader, then restarts the
// killed node so that every round starts with all nodes.
func (d *demo) benchFailover(ctx context.Context, n int) error {
	d.section(fmt.Sprintf("Failover benchmark: %d leader kills (kill -9), session timeout %v, tickTime %s", n, d.opts.sessionTimeout, d.zk.tick))
	d.printf("  A write is POSTed through the gateway every 20ms after each kill; none may fail.\n\n")
	d.printf("  %-5s %-8s %-10s %-14s %-7s %s\n", "kill", "killed", "new leader", "kill -> first", "writes", "longest write")
	var times []time.Duration
	for i := 1; i <= n; i++ {
		sctx, cancel := d.stepCtx(ctx)
		leader, err := d.cl.WaitLeader(sctx, d.nodes...)
		if err == nil {
			_, err = d.cl.WaitGateway(sctx, leader.ID, ids(d.nodes)...)
		}
		var res failoverResult
		if err == nil {
			res, err = d.killAndWrite(sctx, leader, 20*time.Millisecond)
			if err == nil && len(res.failed) > 0 {
				err = fmt.Errorf("%d of %d writes failed across the kill, first: %s", len(res.failed), res.writes, res.failed[0])
			}
		}
		if err == nil {
			var node = leader
			node, err = d.cl.StartNode(sctx, leader.ID, leader.Port)
			for j, m := range d.nodes {
				if m == leader {
					d.nodes[j] = node
				}
			}
		}
		cancel()
		if err != nil {
			return fmt.Errorf("kill %d: %w", i, err)
		}
		times = append(times, res.elapsed)
		d.printf("  %-5d %-8s %-10s %-14v %-7d %v\n", i, leader.ID, res.newLeader, res.elapsed.Round(time.Millisecond), res.writes, res.longest.Round(time.Millisecond))
	}
	slices.Sort(times)
	median := times[len(times)/2]
	if len(times)%2 == 0 {
		median = (times[len(times)/2-1] + times[len(times)/2]) / 2
	}
	d.printf("\n  median %v   min %v   max %v   (session timeout %v)\n",
		median.Round(time.Millisecond), times[0].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond), d.opts.sessionTimeout)
	return nil
}
