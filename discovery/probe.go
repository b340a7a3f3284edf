package discovery

import (
	"context"
	"fmt"

	"github.com/zkrecipes/zkrecipes/internal/probe"
)

// The integration tests (tests/discovery) see these internals through internal/probe. Cache
// and Discovery are generic, so the probes reach them through these interfaces, which every
// instantiation implements.
type (
	cacheProbe interface {
		reads() int64
		watches() int
		queueHighWater() int
	}
	discoveryProbe interface {
		probePass() <-chan struct{}
		probeDirty(name, id string) bool
		probeDropNode(name, id string, del func(path string) error) error
		probeKeeperIdle(ctx context.Context) (int, error)
	}
)

func init() {
	probe.CacheCounters = func(x any) (int64, int, int) {
		c := x.(cacheProbe)
		return c.reads(), c.watches(), c.queueHighWater()
	}
	probe.DiscoveryPass = func(x any) <-chan struct{} { return x.(discoveryProbe).probePass() }
	probe.DiscoveryDirty = func(x any, name, id string) bool { return x.(discoveryProbe).probeDirty(name, id) }
	probe.DiscoveryDropNode = func(x any, name, id string, del func(string) error) error {
		return x.(discoveryProbe).probeDropNode(name, id, del)
	}
	probe.IsSequentialOf = isSequentialOf
	probe.DiscoveryKeeperIdle = func(x any, ctx context.Context) (int, error) {
		return x.(discoveryProbe).probeKeeperIdle(ctx)
	}
}

// anyDirty reports whether some registration waits for a background rewrite.
func (d *Discovery[T]) anyDirty() bool {
	d.mu.Lock()
	regs := make([]*registration[T], 0, len(d.regs))
	for _, r := range d.regs {
		regs = append(regs, r)
	}
	d.mu.Unlock()
	for _, r := range regs {
		r.mu.Lock()
		dirty := r.dirty && !r.removed
		r.mu.Unlock()
		if dirty {
			return true
		}
	}
	return false
}

// probeWatched counts the registrations whose data watch is set on their current znode.
func (d *Discovery[T]) probeWatched() int {
	d.mu.Lock()
	regs := make([]*registration[T], 0, len(d.regs))
	for _, r := range d.regs {
		regs = append(regs, r)
	}
	d.mu.Unlock()
	n := 0
	for _, r := range regs {
		r.mu.Lock()
		sp := d.serverPath(r.path)
		r.mu.Unlock()
		d.keeper.mu.Lock()
		if d.keeper.armed[sp] == r && r.watched == sp {
			n++
		}
		d.keeper.mu.Unlock()
	}
	return n
}

// probeKeeperIdle waits until the keeper has nothing to do and returns the number of
// registrations whose watch is set.
func (d *Discovery[T]) probeKeeperIdle(ctx context.Context) (int, error) {
	k := &d.keeper
	for {
		ch, pass := k.idle.C(), d.reconnects.C()
		k.mu.Lock()
		idle := !k.busy && len(k.pending) == 0
		k.mu.Unlock()
		if idle {
			// The background rewriter too: a znode it is writing again gets its watch
			// after its pass.
			if d.rewriting.Load() == 0 && !d.anyDirty() {
				return d.probeWatched(), nil
			}
			ch = pass
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

func (d *Discovery[T]) probePass() <-chan struct{} { return d.reconnects.C() }

func (d *Discovery[T]) probeReg(name, id string) *registration[T] {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.regs[key(name, id)]
}

func (d *Discovery[T]) probeDirty(name, id string) bool {
	r := d.probeReg(name, id)
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dirty
}

func (d *Discovery[T]) probeDropNode(name, id string, del func(string) error) error {
	r := d.probeReg(name, id)
	if r == nil {
		return fmt.Errorf("probe: %s/%s is not registered", name, id)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := del(r.path); err != nil {
		return err
	}
	r.path = ""
	return nil
}
