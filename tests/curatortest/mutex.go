package curatortest

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// MutexNew makes an InterProcessMutex handle called name on path, with a thread of its own
// (Curator's mutex belongs to the thread that acquired it). With revocable, the handle
// calls makeRevocable: a revoke request emits "mutex <name> revoke", and with autoRelease
// the listener also releases the lock (on the handle's thread).
func (p *Peer) MutexNew(ctx context.Context, name, path string, revocable, autoRelease bool) error {
	if err := word(name); err != nil {
		return err
	}
	if err := word(path); err != nil {
		return err
	}
	line := "mutex-new " + name + " " + path
	if revocable {
		line += " revocable"
	}
	if autoRelease {
		line += " autorelease"
	}
	_, err := p.Cmd(ctx, line)
	return err
}

// MutexAcquire starts an acquire of the handle on its thread (timeout < 0: acquire();
// otherwise acquire(timeout)) and returns once the acquire's node exists, with the node's
// name, without its path ("" when a timed acquire gave up before the peer saw its node). The outcome comes
// as an event: see WaitMutex.
func (p *Peer) MutexAcquire(ctx context.Context, name string, timeout time.Duration) (string, error) {
	if err := word(name); err != nil {
		return "", err
	}
	ms := int64(-1)
	if timeout >= 0 {
		ms = timeout.Milliseconds()
	}
	var node *string
	if err := p.cmdJSON(ctx, fmt.Sprintf("mutex-acquire %s %d", name, ms), &node); err != nil || node == nil {
		return "", err
	}
	return *node, nil
}

// MutexRelease releases the handle's lock on its thread (nothing if it does not hold it)
// and returns once release() returned.
func (p *Peer) MutexRelease(ctx context.Context, name string) error {
	if err := word(name); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, "mutex-release "+name)
	return err
}

// MutexHeld returns the handle's isAcquiredInThisProcess().
func (p *Peer) MutexHeld(ctx context.Context, name string) (bool, error) {
	if err := word(name); err != nil {
		return false, err
	}
	var held bool
	err := p.cmdJSON(ctx, "mutex-held "+name, &held)
	return held, err
}

// MutexNodes returns getParticipantNodes() of an InterProcessMutex on path: the node
// names (without the path) in Curator's order, the holder first.
func (p *Peer) MutexNodes(ctx context.Context, path string) ([]string, error) {
	if err := word(path); err != nil {
		return nil, err
	}
	var nodes []string
	err := p.cmdJSON(ctx, "mutex-nodes "+path, &nodes)
	return nodes, err
}

// Revoke runs Revoker.attemptRevoke on the lock node at path.
func (p *Peer) Revoke(ctx context.Context, path string) error {
	if err := word(path); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, "revoke "+path)
	return err
}

// MutexBench runs n uncontended acquire+release cycles of one InterProcessMutex on path
// and returns the duration of each cycle.
func (p *Peer) MutexBench(ctx context.Context, path string, n int) ([]time.Duration, error) {
	if err := word(path); err != nil {
		return nil, err
	}
	var nanos []int64
	if err := p.cmdJSON(ctx, fmt.Sprintf("mutex-bench %s %d", path, n), &nanos); err != nil {
		return nil, err
	}
	out := make([]time.Duration, len(nanos))
	for i, n := range nanos {
		out[i] = time.Duration(n)
	}
	return out, nil
}

// WaitMutex waits for the handle's next event of the given kind ("acquired", "timeout",
// "released", "revoke") after the one the previous WaitMutex for the handle returned; an
// "error" event of the handle fails the wait.
func (p *Peer) WaitMutex(ctx context.Context, name, kind string) error {
	stream := "mutex " + name + " "
	ev, err := p.waitEvent(ctx,
		func(ev string) bool { return ev == stream+kind || strings.HasPrefix(ev, stream+"error ") },
		func(ev string) bool { return strings.HasPrefix(ev, stream) && !strings.HasSuffix(ev, " revoke") })
	if err != nil {
		return err
	}
	if msg, ok := strings.CutPrefix(ev, stream+"error "); ok {
		return fmt.Errorf("curatortest: mutex %s: %s", name, msg)
	}
	return nil
}
