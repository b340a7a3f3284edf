package leader

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/queue"
)

// Participant is one member of an election, as Curator's Participant.
type Participant struct {
	// ID is the participant id stored in the node ("" for Curator's default).
	ID string
	// Node is the name of the participant's node under the latch path.
	Node string
	// IsLeader is true for the leader: the first node whose data could be read.
	IsLeader bool
}

// ListParticipants reads the participants of the election at latchPath
// (relative to c's namespace) in Curator's order, the leader first: the sorted
// children, then each child's data. A child deleted while it is read is left
// out, as Curator does. It needs no Latch, so an observer that does not take
// part can use it; a missing latch path gives an empty list.
func ListParticipants(ctx context.Context, c *zkrecipes.Client, latchPath string) ([]Participant, error) {
	return listParticipants(ctx, c, latchPath, latchOrder)
}

func listParticipants(ctx context.Context, c *zkrecipes.Client, latchPath string, order queue.Order) ([]Participant, error) {
	children, _, err := c.Children(ctx, latchPath)
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("leader: participants of %s: %w", latchPath, err)
	}
	sorted := order.Sort(children)

	// One read per child, pipelined on the one connection rather than one
	// round trip after another.
	type read struct {
		data []byte
		err  error
	}
	reads := make([]read, len(sorted))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, name := range sorted {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			reads[i].data, _, reads[i].err = c.Get(ctx, zkrecipes.JoinPath(latchPath, name))
		}()
	}
	wg.Wait()

	out := make([]Participant, 0, len(sorted))
	for i, name := range sorted {
		r := reads[i]
		if errors.Is(r.err, zk.ErrNoNode) {
			continue
		}
		if r.err != nil {
			return nil, fmt.Errorf("leader: participants of %s: %w", latchPath, r.err)
		}
		out = append(out, Participant{ID: string(r.data), Node: name, IsLeader: len(out) == 0})
	}
	return out, nil
}

// CurrentLeader returns the leader of the election at latchPath (relative to
// c's namespace): the first child in Curator's order whose data can be read.
// With no participant it returns ErrNoLeader. Like ListParticipants it needs
// no Latch. The answer may be stale by the time it arrives; use a Term to act
// on leadership safely.
func CurrentLeader(ctx context.Context, c *zkrecipes.Client, latchPath string) (Participant, error) {
	return currentLeader(ctx, c, latchPath, latchOrder)
}

func currentLeader(ctx context.Context, c *zkrecipes.Client, latchPath string, order queue.Order) (Participant, error) {
	children, _, err := c.Children(ctx, latchPath)
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return Participant{}, fmt.Errorf("leader: leader of %s: %w", latchPath, err)
	}
	for _, name := range order.Sort(children) {
		data, _, err := c.Get(ctx, zkrecipes.JoinPath(latchPath, name))
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return Participant{}, fmt.Errorf("leader: leader of %s: %w", latchPath, err)
		}
		return Participant{ID: string(data), Node: name, IsLeader: true}, nil
	}
	return Participant{}, fmt.Errorf("%w at %s", ErrNoLeader, latchPath)
}
