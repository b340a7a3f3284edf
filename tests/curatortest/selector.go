package curatortest

import (
	"context"
	"fmt"
	"strings"
)

// SelectorStart starts a Java LeaderSelector called name on path with autoRequeue and
// participant id (empty: Curator's default, the host's address), and returns once its node
// exists. Its takeLeadership emits "selector <name> leader", holds leadership until
// SelectorRelinquish (or until Curator cancels it on SUSPENDED or LOST, or close), then
// emits "selector <name> notLeader"; see WaitSelector.
func (p *Peer) SelectorStart(ctx context.Context, name, path, id string) error {
	if err := word(name); err != nil {
		return err
	}
	if err := word(path); err != nil {
		return err
	}
	if id != strings.TrimSpace(id) || strings.ContainsAny(id, "\r\n") {
		return fmt.Errorf("curatortest: selector id %q cannot go through the line protocol", id)
	}
	line := "selector-start " + name + " " + path
	if id != "" {
		line += " " + id
	}
	_, err := p.Cmd(ctx, line)
	return err
}

// SelectorRelinquish makes the selector's current (or next) takeLeadership return; with
// autoRequeue it then joins the queue again.
func (p *Peer) SelectorRelinquish(ctx context.Context, name string) error {
	if err := word(name); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, "selector-relinquish "+name)
	return err
}

// SelectorClose closes the selector (its node is deleted).
func (p *Peer) SelectorClose(ctx context.Context, name string) error {
	if err := word(name); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, "selector-close "+name)
	return err
}

// SelectorParticipants returns Java's LeaderSelector.getParticipants(), leader first.
func (p *Peer) SelectorParticipants(ctx context.Context, name string) ([]Participant, error) {
	if err := word(name); err != nil {
		return nil, err
	}
	var ps []Participant
	err := p.cmdJSON(ctx, "selector-participants "+name, &ps)
	return ps, err
}

// SelectorLeader returns Java's LeaderSelector.getLeader().
func (p *Peer) SelectorLeader(ctx context.Context, name string) (Participant, error) {
	if err := word(name); err != nil {
		return Participant{}, err
	}
	var l Participant
	err := p.cmdJSON(ctx, "selector-leader "+name, &l)
	return l, err
}

// WaitSelector waits for the selector's next "leader" (leader true) or "notLeader" event
// after the one the previous WaitSelector for it returned.
func (p *Peer) WaitSelector(ctx context.Context, name string, leader bool) error {
	stream := "selector " + name + " "
	want := stream + "notLeader"
	if leader {
		want = stream + "leader"
	}
	_, err := p.waitEvent(ctx,
		func(ev string) bool { return ev == want },
		func(ev string) bool { return strings.HasPrefix(ev, stream) })
	return err
}
