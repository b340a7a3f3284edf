package chaos

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// play runs one round: updates every payload, injects the faults, heals each when its hold
// ends, and waits for the system to settle. It reports whether the campaign may go on.
func (c *campaign) play(r round) bool {
	t := c.t
	t.Logf("chaos: %s", r)
	ctx, cancel := context.WithTimeout(context.Background(), 3*patience)
	defer cancel()

	faults := slices.Clone(r.faults)
	sort.SliceStable(faults, func(i, j int) bool { return faults[i].hold < faults[j].hold })
	struck := map[int]bool{} // members a fault of this round holds
	var heals []func(context.Context) error
	for _, f := range faults {
		heal, what, err := c.inject(ctx, f, struck)
		if err != nil {
			t.Errorf("%s: inject %s: %v", r, f, err)
			heal = func(context.Context) error { return nil }
		} else {
			t.Logf("chaos:   %s", what)
		}
		heals = append(heals, heal)
	}
	injected := time.Now()

	// Every participant updates its payload while the faults hold; an update that fails
	// must still reach ZooKeeper once the faults are healed.
	var updates sync.WaitGroup
	for _, p := range c.parts {
		p.inst.Payload.Round = r.n
		inst := p.inst
		updates.Go(func() {
			uctx, cancel := context.WithTimeout(ctx, 2*sessionTimeout)
			defer cancel()
			if err := p.disco.Update(uctx, inst); err != nil {
				t.Logf("chaos:   %s: update to round %d: %v", p.id, r.n, err)
			}
		})
	}

	// The holds are the fault schedule: fixed lengths, not waits for a condition.
	for i, f := range faults {
		hold := time.Duration(f.hold * float64(sessionTimeout))
		timer := time.NewTimer(time.Until(injected.Add(hold)))
		<-timer.C
		if err := heals[i](ctx); err != nil {
			t.Errorf("%s: heal %s: %v", r, f, err)
		}
	}
	healed := c.h.now()
	updates.Wait()
	if err := c.settle(ctx, healed); err != nil {
		t.Errorf("after %s: %v", r, err)
		return false
	}
	return true
}

// inject starts fault f and returns what undoes it. struck holds the members that this
// round's faults already hold, so that two faults never take the same member.
func (c *campaign) inject(ctx context.Context, f fault, struck map[int]bool) (heal func(context.Context) error, what string, err error) {
	who := func() *participant {
		if f.target == anyone {
			if l := c.leader(); l >= 0 {
				return c.parts[l]
			}
		}
		return c.parts[f.fallback]
	}
	switch f.kind {
	case cutShort, cutLong:
		p := who()
		p.dialer.Cut()
		return func(context.Context) error { p.dialer.Heal(); return nil }, "cut " + p.id, nil
	case blackHoleShort, blackHoleLong:
		p := who()
		p.dialer.BlackHole()
		return func(context.Context) error { p.dialer.Heal(); return nil }, "black-hole " + p.id, nil
	case loseReply:
		for _, p := range c.parts {
			p.dialer.LoseNextReply(func(op int32, _ string) bool { return op == zktest.OpMulti })
		}
		return func(context.Context) error {
			for _, p := range c.parts {
				p.dialer.LoseNextReply(func(int32, string) bool { return false })
			}
			return nil
		}, "lose the reply to every participant's next multi", nil
	}

	var m int
	switch f.kind {
	case killZKLeader:
		m = c.zkLeader(ctx, f.fallback, struck)
	case killConnected:
		p := who()
		m = -1
		server := p.client.Conn().Server()
		for i, n := range c.e.Nodes {
			if n.Addr() == server && !struck[i] {
				m = i
			}
		}
		if m < 0 {
			m = free(f.fallback, struck)
		}
		what = fmt.Sprintf("(%s is connected to %s) ", p.id, server)
	default:
		m = f.target
		if m == anyone {
			m = c.zkLeader(ctx, f.fallback, struck)
		}
		m = free(m, struck)
	}
	if m < 0 {
		return nil, "", errors.New("no member left to fault")
	}
	struck[m] = true
	n := c.e.Nodes[m]
	switch f.kind {
	case killZKLeader, killConnected:
		what += "kill " + n.Name
		return n.Start, what, n.Kill(ctx)
	case partitionNode:
		return n.Heal, "partition " + n.Name, n.Partition(ctx)
	default:
		return n.Unpause, "pause " + n.Name, n.Pause(ctx)
	}
}

// zkLeader returns the index of ZooKeeper's leader, or when there is none within a few
// seconds (a fault of this round took it), a free member from fallback on.
func (c *campaign) zkLeader(ctx context.Context, fallback int, struck map[int]bool) int {
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if n, err := c.e.Leader(lctx); err == nil && !struck[n.ID-1] {
		return n.ID - 1
	}
	return free(fallback, struck)
}

// free returns the first member from i on (cyclically) that no fault holds, or -1.
func free(i int, struck map[int]bool) int {
	for k := range 3 {
		if m := (i + k) % 3; !struck[m] {
			return m
		}
	}
	return -1
}

// settle waits, after a heal at healed (0: at the start), until every member serves, a
// leader applies an increment it began after the heal, and discovery shows the live set.
func (c *campaign) settle(ctx context.Context, healed int64) error {
	ctx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	if err := c.e.WaitReady(ctx); err != nil {
		return fmt.Errorf("members not serving: %w", err)
	}
	for {
		ok, next := c.h.appliedSince(healed)
		if ok {
			break
		}
		select {
		case <-next:
		case <-ctx.Done():
			return fmt.Errorf("no leader applied an increment within %v of the heal (leading: p%d; %s; %s): %w",
				patience, c.leader(), c.h.summary(), c.describe(), ctx.Err())
		}
	}
	var why []string
	for {
		changed := c.changed.C()
		var watches []<-chan zk.Event
		why, watches = c.checkDiscovery(ctx)
		if len(why) == 0 {
			return nil
		}
		cases := []reflect.SelectCase{
			{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(changed)},
			{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		}
		for _, w := range watches {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w)})
		}
		if i, _, _ := reflect.Select(cases); i == 1 {
			return fmt.Errorf("discovery did not converge within %v: %s", patience, strings.Join(why, "; "))
		}
	}
}

// checkDiscovery compares ZooKeeper and the cache with what the participants registered,
// and returns what differs and watches that fire when ZooKeeper changes.
func (c *campaign) checkDiscovery(ctx context.Context) (why []string, watches []<-chan zk.Event) {
	svc := discoBase + "/" + service
	names, _, w, err := c.observer.ChildrenW(ctx, svc)
	if err != nil {
		return []string{fmt.Sprintf("list %s: %v", svc, err)}, nil
	}
	watches = append(watches, w)
	var want []string
	for _, p := range c.parts {
		want = append(want, p.id)
	}
	slices.Sort(names)
	if !slices.Equal(names, want) {
		why = append(why, fmt.Sprintf("%s holds %v, want %v", svc, names, want))
	}
	ser := discovery.JSON[payload]()
	for _, p := range c.parts {
		path := svc + "/" + p.id
		data, stat, w, err := c.observer.GetW(ctx, path)
		if errors.Is(err, zk.ErrNoNode) {
			_, _, w, err = c.observer.ExistsW(ctx, path)
			if err == nil {
				watches = append(watches, w)
			}
			continue
		}
		if err != nil {
			why = append(why, fmt.Sprintf("get %s: %v", path, err))
			continue
		}
		watches = append(watches, w)
		if sid := p.client.SessionID(); stat.EphemeralOwner != sid {
			why = append(why, fmt.Sprintf("%s is owned by session %#x, not by %s's current session %#x", path, stat.EphemeralOwner, p.id, sid))
		}
		inst, err := ser.Deserialize(data)
		switch {
		case err != nil:
			why = append(why, fmt.Sprintf("%s: %v", path, err))
		case inst.ID != p.id || inst.Payload != p.inst.Payload:
			why = append(why, fmt.Sprintf("%s holds %s with %+v, want %+v", path, inst.ID, inst.Payload, p.inst.Payload))
		}
	}
	var cached []string
	for _, in := range c.cache.Instances() {
		cached = append(cached, fmt.Sprintf("%s:%d", in.ID, in.Payload.Round))
	}
	var live []string
	for _, p := range c.parts {
		live = append(live, fmt.Sprintf("%s:%d", p.id, p.inst.Payload.Round))
	}
	if !slices.Equal(cached, live) {
		why = append(why, fmt.Sprintf("the cache holds %v, want %v", cached, live))
	}
	return why, watches
}

// describe says, for a report, where each client is and what it reads of the latch path
// and the counter, next to what the observer reads after a sync.
func (c *campaign) describe() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b strings.Builder
	stat := func(cl interface {
		Get(context.Context, string) ([]byte, *zk.Stat, error)
	}, path string) string {
		_, st, err := cl.Get(ctx, path)
		if err != nil {
			return err.Error()
		}
		return fmt.Sprintf("version %d mzxid %#x", st.Version, st.Mzxid)
	}
	if err := c.observer.Sync(ctx, latchPath); err != nil {
		fmt.Fprintf(&b, "observer sync: %v; ", err)
	}
	fmt.Fprintf(&b, "observer (on %s) reads %s: %s, %s: %s", c.observer.Conn().Server(),
		latchPath, stat(c.observer, latchPath), counterPath, stat(c.observer, counterPath))
	for _, p := range c.parts {
		fmt.Fprintf(&b, "; %s (session %#x, %s, on %s) reads %s: %s, %s: %s", p.id, p.client.SessionID(),
			p.client.State(), p.client.Conn().Server(), latchPath, stat(p.client, latchPath), counterPath, stat(p.client, counterPath))
	}
	return b.String()
}
