package curatortest

import (
	"context"
	"fmt"
	"strings"
)

// Participant is one entry of Java's LeaderLatch.getParticipants() / getLeader().
type Participant struct {
	ID       string `json:"id"`
	IsLeader bool   `json:"isLeader"`
}

// LatchStart starts a Java LeaderLatch called name (a handle for later commands) on path with
// participant id (may be empty, Curator's default; must not start or end with whitespace) and
// waits until its node exists, so participants join in the order of the calls. It returns the
// latch's node path. Leadership changes arrive as events; see WaitLeadership.
func (p *Peer) LatchStart(ctx context.Context, name, path, id string) (string, error) {
	if err := word(name); err != nil {
		return "", err
	}
	if err := word(path); err != nil {
		return "", err
	}
	if id != strings.TrimSpace(id) || strings.ContainsAny(id, "\r\n") {
		return "", fmt.Errorf("curatortest: latch id %q cannot go through the line protocol", id)
	}
	line := "latch-start " + name + " " + path
	if id != "" {
		line += " " + id
	}
	var node string
	err := p.cmdJSON(ctx, line, &node)
	return node, err
}

// LatchClose closes the latch with Curator's default CloseMode.SILENT (no notLeader callback)
// and deletes its node.
func (p *Peer) LatchClose(ctx context.Context, name string) error {
	return p.latchClose(ctx, name, "silent")
}

// LatchCloseNotify closes the latch with CloseMode.NOTIFY_LEADER: a leader gets notLeader.
func (p *Peer) LatchCloseNotify(ctx context.Context, name string) error {
	return p.latchClose(ctx, name, "notify")
}

func (p *Peer) latchClose(ctx context.Context, name, mode string) error {
	if err := word(name); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, "latch-close "+name+" "+mode)
	return err
}

// LatchHas returns Java's hasLeadership().
func (p *Peer) LatchHas(ctx context.Context, name string) (bool, error) {
	if err := word(name); err != nil {
		return false, err
	}
	var has bool
	err := p.cmdJSON(ctx, "latch-has "+name, &has)
	return has, err
}

// LatchParticipants returns Java's getParticipants(), in Curator's order (leader first).
func (p *Peer) LatchParticipants(ctx context.Context, name string) ([]Participant, error) {
	if err := word(name); err != nil {
		return nil, err
	}
	var ps []Participant
	err := p.cmdJSON(ctx, "latch-participants "+name, &ps)
	return ps, err
}

// LatchLeader returns Java's getLeader(): {"" false} when there are no participants.
func (p *Peer) LatchLeader(ctx context.Context, name string) (Participant, error) {
	if err := word(name); err != nil {
		return Participant{}, err
	}
	var l Participant
	err := p.cmdJSON(ctx, "latch-leader "+name, &l)
	return l, err
}

// LatchPath returns the latch's current node path (getOurPath()), "" if it has none.
func (p *Peer) LatchPath(ctx context.Context, name string) (string, error) {
	if err := word(name); err != nil {
		return "", err
	}
	var path *string
	if err := p.cmdJSON(ctx, "latch-ourpath "+name, &path); err != nil || path == nil {
		return "", err
	}
	return *path, nil
}

// WaitLeadership waits for an isLeader (leader true) or notLeader (leader false) callback of
// the latch that comes after the callback the previous WaitLeadership for it returned (the
// callbacks alternate, so waiting for true twice skips the notLeader in between).
func (p *Peer) WaitLeadership(ctx context.Context, name string, leader bool) error {
	stream := "latch " + name + " "
	want := stream + "notLeader"
	if leader {
		want = stream + "isLeader"
	}
	_, err := p.waitEvent(ctx,
		func(ev string) bool { return ev == want },
		func(ev string) bool { return strings.HasPrefix(ev, stream) })
	return err
}
