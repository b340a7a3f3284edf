package client_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// BenchmarkReconnect measures how long a Client takes to get its session back after a
// fault, with go-zk's DNSHostProvider (which pauses 1 s whenever it has gone once round the
// server list) and with the Client's own provider, side by side in one run:
//
//   - restart: the only server is stopped and started on the same address; the time runs
//     from the moment it serves again (`srvr` answers) to RECONNECTED.
//   - ensemble-kill: the member of a 3-node ensemble the client is connected to is killed;
//     the time runs from the kill to RECONNECTED, reported separately for a killed follower
//     (another member accepts the session at once) and a killed leader (the others accept
//     it once they have elected a new leader: leader-kill-elected is when a survivor first
//     reports Mode leader, polled every 5 ms, the floor for that case; leader-kill-after-
//     elected is the client's own share, from then to RECONNECTED).
//
// A server that is starting accepts TCP connections a little before it serves, and a
// connect request sent in that window may get no answer: the attempt then waits out the
// Client's handshake bound (500 ms for a first attempt, doubling up to the session timeout
// divided by the number of servers), which shows in the restart maxima.
//
// Each iteration is one fault; run it with e.g. -benchtime=10x. Both need a backend that
// restarts a server on the same address (ZK_TEST_BACKEND=local); otherwise they skip.
func BenchmarkReconnect(b *testing.B) {
	providers := []struct {
		name string
		opts func() []zkrecipes.Option
	}{
		{"go-zk-dns", func() []zkrecipes.Option {
			return []zkrecipes.Option{zkrecipes.WithHostProvider(zk.NewDNSHostProvider())}
		}},
		{"zkrecipes", func() []zkrecipes.Option { return nil }},
	}
	for _, p := range providers {
		b.Run("restart/"+p.name, func(b *testing.B) { benchRestart(b, p.opts()) })
	}
	for _, p := range providers {
		b.Run("ensemble-kill/"+p.name, func(b *testing.B) { benchEnsembleKill(b, p.opts()) })
	}
}

// reconnects delivers the time of every RECONNECTED of c.
func reconnects(c *zkrecipes.Client) <-chan time.Time {
	ch := make(chan time.Time, 16)
	c.Listen(func(sc zkrecipes.StateChange) {
		if sc.State == zkrecipes.StateReconnected {
			ch <- sc.Time
		}
	})
	return ch
}

func awaitReconnect(b *testing.B, ctx context.Context, ch <-chan time.Time) time.Time {
	b.Helper()
	select {
	case at := <-ch:
		return at
	case <-ctx.Done():
		b.Fatal("no RECONNECTED")
		return time.Time{}
	}
}

func benchRestart(b *testing.B, opts []zkrecipes.Option) {
	srv := zktest.StartDedicated(b)
	node := srv.Node()
	if node == nil {
		b.Skip("this backend cannot restart servers")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := connect(b, srv.Servers(), append(opts, zkrecipes.WithSessionTimeout(4*time.Second))...)
	ch := reconnects(c)
	addr := srv.Addr()
	var d []time.Duration
	b.ResetTimer()
	for range b.N {
		if err := node.Stop(ctx); err != nil {
			b.Fatal(err)
		}
		if err := node.Start(ctx); err != nil {
			b.Fatal(err)
		}
		if srv.Addr() != addr {
			b.Skipf("the server came back on a new address (%s, was %s); run with %s=local", srv.Addr(), addr, zktest.EnvBackend)
		}
		if err := node.WaitReady(ctx); err != nil {
			b.Fatal(err)
		}
		ready := time.Now()
		at := awaitReconnect(b, ctx, ch)
		d = append(d, max(at.Sub(ready), 0))
		if err := c.Sync(ctx, "/"); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	report(b, "ready-to-reconnected", d)
}

func benchEnsembleKill(b *testing.B, opts []zkrecipes.Option) {
	ens := zktest.StartEnsemble(b, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	addrs := ens.Servers()
	c := connect(b, addrs, append(opts, zkrecipes.WithSessionTimeout(4*time.Second))...)
	ch := reconnects(c)
	var follower, leader, floor, gap []time.Duration
	b.ResetTimer()
	for range b.N {
		lead, err := ens.Leader(ctx)
		if err != nil {
			b.Fatal(err)
		}
		var victim *zktest.Node
		for _, n := range ens.Nodes {
			if n.Addr() == c.Conn().Server() {
				victim = n
			}
		}
		if victim == nil {
			b.Fatalf("connected to %q, not one of %v", c.Conn().Server(), addrs)
		}
		if err := victim.Kill(ctx); err != nil {
			b.Fatal(err)
		}
		killed := time.Now()
		var elected chan time.Time
		if victim == lead {
			elected = make(chan time.Time, 1)
			go func() { elected <- newLeaderAt(ctx, ens, victim) }()
		}
		at := awaitReconnect(b, ctx, ch)
		if victim == lead {
			leader = append(leader, at.Sub(killed))
			e := <-elected
			floor = append(floor, e.Sub(killed))
			gap = append(gap, max(at.Sub(e), 0))
		} else {
			follower = append(follower, at.Sub(killed))
		}
		// Not timed: bring the victim back before the next fault.
		b.StopTimer()
		if err := victim.Start(ctx); err != nil {
			b.Fatal(err)
		}
		if !slices.Equal(ens.Servers(), addrs) {
			b.Skipf("the member came back on a new address; run with %s=local", zktest.EnvBackend)
		}
		if err := ens.WaitReady(ctx); err != nil {
			b.Fatal(err)
		}
		if err := c.Sync(ctx, "/"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	report(b, "follower-kill", follower)
	report(b, "leader-kill", leader)
	report(b, "leader-kill-elected", floor)
	report(b, "leader-kill-after-elected", gap)
}

// newLeaderAt polls the members other than old every 5 ms and returns when one of them
// first reports Mode leader: the earliest a session can be accepted after old, the leader,
// died (a follower serves only once it has synced with the new leader).
func newLeaderAt(ctx context.Context, ens *zktest.Ensemble, old *zktest.Node) time.Time {
	for ctx.Err() == nil {
		for _, n := range ens.Nodes {
			if n == old {
				continue
			}
			if m, err := n.Mode(ctx); err == nil && m == zktest.ModeLeader {
				return time.Now()
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
	return time.Now()
}

// report adds the median and the maximum of d, in milliseconds, as metrics named after what.
func report(b *testing.B, what string, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x) / float64(time.Millisecond) }
	b.ReportMetric(ms(d[len(d)/2]), what+"-p50-ms")
	b.ReportMetric(ms(d[len(d)-1]), what+"-max-ms")
	b.ReportMetric(float64(len(d)), what+"-n")
}
