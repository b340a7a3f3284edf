package curatortest

import (
	"context"
	"testing"
)

// The event buffer's rules, without a JVM: earliest unconsumed match first, each event once,
// and a stream wait never goes back before the event it last returned.
func TestWaitEventRules(t *testing.T) {
	p := &Peer{signal: make(chan struct{}), stderr: &tailBuffer{max: 1}}
	for _, ev := range []string{
		"latch l isLeader", "cache c changed [1]", "latch l notLeader", "cache c changed [1,2]",
		"latch l isLeader", "cache c changed [2]",
	} {
		p.events = append(p.events, ev)
		p.taken = append(p.taken, false)
	}
	p.eof = true // nothing more will come: a failed wait returns at once
	ctx := context.Background()

	if err := p.WaitLeadership(ctx, "l", false); err != nil {
		t.Fatal(err)
	}
	// The isLeader before the notLeader is superseded; the one after it is found.
	if err := p.WaitLeadership(ctx, "l", true); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitLeadership(ctx, "l", true); err == nil {
		t.Fatal("third WaitLeadership found an event; want none left")
	}

	ev, err := p.WaitEvent(ctx, func(ev string) bool { return ev == "cache c changed [1,2]" })
	if err != nil || ev != "cache c changed [1,2]" {
		t.Fatalf("WaitEvent = %q, %v", ev, err)
	}
	// Plain WaitEvent does not consume other events.
	if _, err := p.WaitEvent(ctx, func(ev string) bool { return ev == "cache c changed [1]" }); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitEvent(ctx, func(ev string) bool { return ev == "cache c changed [1]" }); err == nil {
		t.Fatal("an event was returned twice")
	}
}
