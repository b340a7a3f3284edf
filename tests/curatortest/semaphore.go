package curatortest

import (
	"context"
	"fmt"
	"strings"
)

// SemNew makes an InterProcessSemaphoreV2 participant called name on path, with a thread
// of its own: with maxLeases > 0 a local count, otherwise the count is read from the
// SharedCount node countPath (which the handle starts with seed 0: it creates the node if
// it is missing).
func (p *Peer) SemNew(ctx context.Context, name, path string, maxLeases int, countPath string) error {
	if err := word(name); err != nil {
		return err
	}
	if err := word(path); err != nil {
		return err
	}
	max := fmt.Sprint(maxLeases)
	if maxLeases <= 0 {
		if err := word(countPath); err != nil {
			return err
		}
		max = "count:" + countPath
	}
	_, err := p.Cmd(ctx, "sem-new "+name+" "+path+" "+max)
	return err
}

// SemAcquire starts acquire() of one lease on the handle's thread; "sem <name> acquired"
// follows (see WaitSem).
func (p *Peer) SemAcquire(ctx context.Context, name string) error {
	if err := word(name); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, "sem-acquire "+name)
	return err
}

// SemRelease returns the handle's lease (returnLease) and returns once it did.
func (p *Peer) SemRelease(ctx context.Context, name string) error {
	if err := word(name); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, "sem-release "+name)
	return err
}

// SemWork starts, on the handle's thread, rounds of: acquire a lease, create a persistent
// sequential node logPath/e- holding "start <name>", hold for holdMs, create one holding
// "end <name>", return the lease. "sem <name> done" follows.
func (p *Peer) SemWork(ctx context.Context, name string, rounds, holdMs int, logPath string) error {
	if err := word(name); err != nil {
		return err
	}
	if err := word(logPath); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, fmt.Sprintf("sem-work %s %d %d %s", name, rounds, holdMs, logPath))
	return err
}

// SemLeases returns getParticipantNodes() of the handle's semaphore: the lease node names.
func (p *Peer) SemLeases(ctx context.Context, name string) ([]string, error) {
	if err := word(name); err != nil {
		return nil, err
	}
	var nodes []string
	err := p.cmdJSON(ctx, "sem-leases "+name, &nodes)
	return nodes, err
}

// CountSet sets a SharedCount node to value with SharedCount.setCount.
func (p *Peer) CountSet(ctx context.Context, path string, value int32) error {
	if err := word(path); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, fmt.Sprintf("count-set %s %d", path, value))
	return err
}

// WaitSem waits for the handle's next event of the given kind ("acquired", "released",
// "done") after the one the previous WaitSem for it returned; an "error" event fails it.
func (p *Peer) WaitSem(ctx context.Context, name, kind string) error {
	stream := "sem " + name + " "
	ev, err := p.waitEvent(ctx,
		func(ev string) bool { return ev == stream+kind || strings.HasPrefix(ev, stream+"error ") },
		func(ev string) bool { return strings.HasPrefix(ev, stream) })
	if err != nil {
		return err
	}
	if msg, ok := strings.CutPrefix(ev, stream+"error "); ok {
		return fmt.Errorf("curatortest: semaphore %s: %s", name, msg)
	}
	return nil
}
