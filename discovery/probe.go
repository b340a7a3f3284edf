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

// probeKeeperIdle waits until the keeper has nothing to do and returns the number of
// registrations whose watch is set.
func (d *Discovery[T]) probeKeeperIdle(ctx context.Context) (int, error) {
	k := &d.keeper
	for {
		ch := k.idle.C()
		k.mu.Lock()
		if !k.busy && len(k.pending) == 0 {
			n := len(k.armed)
			k.mu.Unlock()
			return n, nil
		}
		k.mu.Unlock()
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
