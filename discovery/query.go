package discovery

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/go-zookeeper/zk"
)

// Names returns the names of the services under the base path, sorted (none when the
// base path does not exist).
func (d *Discovery[T]) Names(ctx context.Context) ([]string, error) {
	names, _, err := d.client.Children(ctx, d.base)
	if isNoNode(err) {
		return []string{}, nil
	}
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// Instances reads every instance of the named service, sorted by znode name. A znode
// whose data cannot be decoded, or that the Client may not read, is skipped and reported
// (a *NodeError wrapping ErrMalformed or zk.ErrNoAuth, through the error handler and the
// logger); Curator's query would fail for the whole service instead. A missing service has no instances.
func (d *Discovery[T]) Instances(ctx context.Context, name string) ([]Instance[T], error) {
	if err := validNodeName("name", name); err != nil {
		return nil, err
	}
	dir := d.servicePath(name)
	kids, _, err := d.client.Children(ctx, dir)
	if isNoNode(err) {
		return []Instance[T]{}, nil
	}
	if err != nil {
		return nil, err
	}
	sort.Strings(kids)
	type result struct {
		inst Instance[T]
		ok   bool
		err  error
	}
	results := make([]result, len(kids))
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(16, len(kids)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				path := dir + "/" + kids[i]
				data, _, err := d.client.Get(ctx, path)
				switch {
				case isNoNode(err):
				case errors.Is(err, zk.ErrNoAuth):
					d.opts.report("skipping a znode this client may not read", &NodeError{Path: path, Err: err})
				case err != nil:
					results[i].err = err
				default:
					results[i].inst, err = d.decode(path, data)
					results[i].ok = err == nil
				}
			}
		}()
	}
	for i := range kids {
		work <- i
	}
	close(work)
	wg.Wait()
	out := make([]Instance[T], 0, len(kids))
	for _, r := range results {
		if r.err != nil {
			return nil, r.err
		}
		if r.ok {
			out = append(out, r.inst)
		}
	}
	return out, nil
}

// decode deserializes a znode's data; bad data is reported and returned as a *NodeError.
func (d *Discovery[T]) decode(path string, data []byte) (Instance[T], error) {
	inst, err := d.ser.Deserialize(data)
	if err != nil {
		err = &NodeError{Path: path, Err: err}
		d.opts.report("skipping a znode that is not a valid instance", err)
		return inst, err
	}
	return inst, nil
}

// Instance reads one instance by service name and id. For a DynamicSequential instance,
// whose znode name carries a sequence number, the id may be either. It fails with
// ErrNotFound when there is no such instance and with a *NodeError wrapping ErrMalformed
// when its data cannot be decoded.
func (d *Discovery[T]) Instance(ctx context.Context, name, id string) (Instance[T], error) {
	var zero Instance[T]
	if err := validNodeName("name", name); err != nil {
		return zero, err
	}
	if err := validNodeName("id", id); err != nil {
		return zero, err
	}
	path := d.instancePath(name, id)
	data, _, err := d.client.Get(ctx, path)
	if isNoNode(err) {
		kids, _, kerr := d.client.Children(ctx, d.servicePath(name))
		if kerr != nil && !isNoNode(kerr) {
			return zero, kerr
		}
		sort.Strings(kids)
		for _, k := range kids {
			if isSequentialOf(k, id) {
				path = d.servicePath(name) + "/" + k
				if data, _, err = d.client.Get(ctx, path); !isNoNode(err) {
					break
				}
			}
		}
	}
	if isNoNode(err) {
		return zero, fmt.Errorf("%w: %s", ErrNotFound, d.instancePath(name, id))
	}
	if err != nil {
		return zero, err
	}
	inst, err := d.ser.Deserialize(data)
	if err != nil {
		return zero, &NodeError{Path: path, Err: err}
	}
	return inst, nil
}
