package group_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/group"
	"github.com/zkrecipes/zkrecipes/tests/curatortest"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// Run it on one server, e.g.
//
//	go test -run '^$' -bench DropExpired -benchtime 5x ./group/
//
// As in tests/lock: the raw go-zk floor, this package and Curator 5.4 (a Java peer) measured
// in the same iteration, so that all three see the same server, the same load and the same
// expiry. ns/op means nothing on its own (it includes the victim's rejoin).

// The victim's session timeout: short, so that an iteration takes a few seconds, and a
// whole number of the harness server's 200 ms ticks.
const victimSession = 2 * time.Second

// goView is one Go member's view of the victim: whether it lists it, and when it saw it
// leave (the Left event's arrival).
type goView struct {
	mu      sync.Mutex
	present bool
	leftAt  time.Time
	signal  chan struct{}
	victim  string
}

func newGoView(m *group.Member, victim string) *goView {
	v := &goView{signal: make(chan struct{}, 1), victim: victim}
	m.Listen(func(ev group.Event) {
		if ev.ID != v.victim {
			return
		}
		now := time.Now()
		v.mu.Lock()
		switch ev.Type {
		case group.Joined:
			v.present = true
		case group.Left:
			v.present = false
			if v.leftAt.IsZero() {
				v.leftAt = now
			}
		}
		v.mu.Unlock()
		select {
		case v.signal <- struct{}{}:
		default:
		}
	})
	return v
}

// await waits until cond (called with v.mu held) holds.
func (v *goView) await(b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.NewTimer(patience)
	defer deadline.Stop()
	for {
		v.mu.Lock()
		ok := cond()
		v.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-v.signal:
		case <-deadline.C:
			b.Fatalf("%s: not after %v", what, patience)
		}
	}
}

// Time for every member's view of a group to drop a member whose session expired: several
// Go Members (each on a Client of its own), as many Java Curator GroupMembers (each on a
// Curator client of its own) and a raw go-zk exists watch all watch one victim member, a
// Go Member on a Client whose connection the harness's fault dialer cuts.
//
// The clock starts at the cut. Just before it, the victim makes a request, so the server's
// session clock for it restarts then: the server expires the session victimSession after
// the cut, rounded up to its next 200 ms tick, and deletes the victim's node in the same
// step. The cut is an instant this process sees directly, and "session timeout after the
// cut" is what a member that crashes or is partitioned away costs its group in production;
// an expiry forced at the server (a second connection on the victim's session closing it)
// would measure only the propagation, which the *-after-raw metrics report anyway.
//
// Per iteration: raw = cut -> the raw watch's NodeDeleted; zkrecipes = cut -> the last Go
// view's Left event; curator = cut -> the instant Java's last view no longer listed the
// victim (a listener on each GroupMember's cache, which runs after the cache applied the
// change; Java's Instant.now(), compared with the cut's time.Now() on the host's one
// realtime clock: both read CLOCK_REALTIME, so the difference is good to well under a
// millisecond over seconds). The *-after-raw metrics are the same instants minus the raw
// NodeDeleted: the recipes' own share. Then the network heals, the victim joins again with
// a new session, and the next iteration waits until every view lists it.
func BenchmarkDropExpiredMember(b *testing.B) {
	const views = 3
	const victim = "victim"
	srv := zktest.Start(b)
	ns := namespace(b)
	ctx := testCtx(b)
	full := "/" + ns + "/grp"

	var gv []*goView
	for i := range views {
		c := connect(b, srv.Servers(), ns, zkrecipes.WithSessionTimeout(4*time.Second))
		m, err := group.New(c, "/grp", fmt.Sprintf("go-%d", i), nil)
		if err != nil {
			b.Fatal(err)
		}
		v := newGoView(m, victim)
		if err := m.Start(ctx); err != nil {
			b.Fatal(err)
		}
		closeAtEnd(b, m)
		gv = append(gv, v)
	}
	var peer *curatortest.Peer
	if err := curatortest.Available(); err != nil {
		b.Logf("no Curator side: %v", err)
	} else {
		peer = curatortest.Start(b, srv.ConnectString(), curatortest.WithNamespace(ns))
		if err := peer.GroupViewsStart(ctx, "jv", srv.ConnectString(), full, views, 4*time.Second); err != nil {
			b.Fatal(err)
		}
	}
	fd := zktest.NewFaultDialer()
	vc := connect(b, srv.Servers(), ns, zkrecipes.WithDialer(fd.Dial), zkrecipes.WithSessionTimeout(victimSession))
	vm, err := group.New(vc, "/grp", victim, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := vm.Start(ctx); err != nil {
		b.Fatal(err)
	}
	closeAtEnd(b, vm)
	raw, _ := zktest.Connect(b, srv.Servers(), 4*time.Second)

	s := sampleSet{}
	iteration := func(record bool) {
		for i, v := range gv {
			v.await(b, fmt.Sprintf("Go view %d lists the victim", i), func() bool { return v.present })
		}
		if peer != nil {
			if err := peer.GroupViewsAwait(ctx, "jv", victim, patience); err != nil {
				b.Fatal(err)
			}
		}
		ok, st, gone, err := raw.ExistsW(full + "/" + victim)
		if err != nil || !ok || st.EphemeralOwner != vc.SessionID() {
			b.Fatalf("the victim's node: exists %v, %v (want it owned by its current session)", ok, err)
		}
		for _, v := range gv {
			v.mu.Lock()
			v.leftAt = time.Time{}
			v.mu.Unlock()
		}
		if peer != nil {
			if err := peer.GroupViewsArm(ctx, "jv", victim); err != nil {
				b.Fatal(err)
			}
		}
		if _, _, err := vc.Exists(ctx, "/grp"); err != nil { // restarts the server's session clock
			b.Fatal(err)
		}
		t0 := time.Now()
		fd.Cut()
		var rawAt time.Time
		select {
		case ev := <-gone:
			rawAt = time.Now()
			if ev.Err != nil {
				b.Fatalf("raw watch: %v", ev.Err)
			}
		case <-time.After(patience):
			b.Fatal("the server did not expire the cut session")
		}
		var goAt time.Time
		for i, v := range gv {
			v.await(b, fmt.Sprintf("Go view %d drops the victim", i), func() bool { return !v.leftAt.IsZero() })
			v.mu.Lock()
			if v.leftAt.After(goAt) {
				goAt = v.leftAt
			}
			v.mu.Unlock()
		}
		var javaAt time.Time
		if peer != nil {
			if javaAt, err = peer.GroupViewsDropped(ctx, "jv"); err != nil {
				b.Fatal(err)
			}
		}
		fd.Heal()
		if !record {
			return
		}
		s.add("raw", rawAt.Sub(t0))
		s.add("zkrecipes", goAt.Sub(t0))
		s.add("zkrecipes-after-raw", goAt.Sub(rawAt))
		if peer != nil {
			// javaAt has no monotonic reading: Sub compares the wall clocks.
			s.add("curator", javaAt.Sub(t0))
			s.add("curator-after-raw", javaAt.Sub(rawAt))
		}
	}
	iteration(false) // warm-up: Java's code paths are compiled, every view has seen one drop
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		iteration(true)
	}
	b.StopTimer()
	s.report(b, "ms", "raw", "zkrecipes", "curator")
	s.report(b, "µs", "zkrecipes-after-raw", "curator-after-raw")
	s.ratio(b, "zkrecipes", "curator")
	s.ratio(b, "zkrecipes", "raw")
	s.ratio(b, "zkrecipes-after-raw", "curator-after-raw")
	if st := vc.SessionTimeout(); st > 0 && s.p50("zkrecipes") > 0 {
		b.ReportMetric(float64(s.p50("zkrecipes"))/float64(st), "zkrecipes/session-timeout")
		if s.p50("curator") > 0 {
			b.ReportMetric(float64(s.p50("curator"))/float64(st), "curator/session-timeout")
		}
	}
}

// sampleSet holds each side's durations, one per iteration.
type sampleSet map[string][]time.Duration

func (s sampleSet) add(side string, d time.Duration) { s[side] = append(s[side], d) }

func (s sampleSet) p50(side string) time.Duration {
	v := slices.Clone(s[side])
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// report gives each side's p50 and mean as <side>-p50-<unit> and <side>-mean-<unit>
// (unit "ms" or "µs").
func (s sampleSet) report(b *testing.B, unit string, sides ...string) {
	scale := 1e3
	if unit == "ms" {
		scale = 1e6
	}
	for _, side := range sides {
		v := s[side]
		if len(v) == 0 {
			continue
		}
		var sum time.Duration
		for _, d := range v {
			sum += d
		}
		b.ReportMetric(float64(s.p50(side).Nanoseconds())/scale, side+"-p50-"+unit)
		b.ReportMetric(float64(sum.Nanoseconds())/float64(len(v))/scale, side+"-mean-"+unit)
	}
}

func (s sampleSet) ratio(b *testing.B, a, over string) {
	if s.p50(a) > 0 && s.p50(over) > 0 {
		b.ReportMetric(float64(s.p50(a))/float64(s.p50(over)), a+"/"+over)
	}
}
