package discovery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Provider hands out instances of one service from a Cache, like Curator's
// ServiceProvider: the cached instances go through the user's filters, then the
// down-instance policy, then the enabled flag, and a Strategy picks among the rest.
// A Provider starts no goroutine and needs no Close; it is safe for concurrent use.
type Provider[T any] struct {
	instances func(ctx context.Context) ([]Instance[T], error)
	filters   []func(Instance[T]) bool
	strategy  Strategy
	down      *downInstances
}

// ProviderOption configures a Provider.
type ProviderOption func(*providerOptions)

type providerOptions struct {
	filters   []any
	strategy  Strategy
	threshold int
	window    time.Duration
	errs      []error
}

// WithStrategy sets how an instance is picked (default RoundRobin). nil makes NewProvider
// fail.
func WithStrategy(s Strategy) ProviderOption {
	return func(o *providerOptions) {
		if s == nil {
			o.errs = append(o.errs, fmt.Errorf("%w: nil strategy", ErrInvalidOption))
		}
		o.strategy = s
	}
}

// WithFilter adds a filter: only instances for which keep returns true are handed out.
// Filters run in the order given, before the down-instance policy. The filter's payload
// type must be the Provider's, or NewProvider fails.
func WithFilter[T any](keep func(Instance[T]) bool) ProviderOption {
	return func(o *providerOptions) {
		if keep == nil {
			o.errs = append(o.errs, fmt.Errorf("%w: nil filter", ErrInvalidOption))
			return
		}
		o.filters = append(o.filters, keep)
	}
}

// WithDownInstancePolicy sets when an instance is considered down: after errors calls of
// NoteError within window of the first one, it is skipped until that window ends.
// Default: 2 errors in 30 s, as in Curator. errors < 1 or window <= 0 makes NewProvider
// fail.
func WithDownInstancePolicy(errors int, window time.Duration) ProviderOption {
	return func(o *providerOptions) {
		if errors < 1 || window <= 0 {
			o.errs = append(o.errs, fmt.Errorf("%w: down-instance policy of %d errors in %v", ErrInvalidOption, errors, window))
		}
		o.threshold, o.window = errors, window
	}
}

// NewProvider returns a Provider over cache, which may be started later. Calls made
// while the cache's Start is loading wait for its initial load (or their ctx); calls on a
// cache whose Start was never called fail at once with ErrNotStarted, and on a closed
// cache with ErrClosed. Bad options fail with ErrInvalidOption.
func NewProvider[T any](cache *Cache[T], opts ...ProviderOption) (*Provider[T], error) {
	if cache == nil {
		return nil, fmt.Errorf("%w: nil cache", ErrInvalidOption)
	}
	return newProvider(func(ctx context.Context) ([]Instance[T], error) {
		if err := cache.ready(ctx); err != nil {
			return nil, err
		}
		return cache.Instances(), nil
	}, opts...)
}

func newProvider[T any](instances func(context.Context) ([]Instance[T], error), opts ...ProviderOption) (*Provider[T], error) {
	o := providerOptions{strategy: RoundRobin(), threshold: DefaultDownErrors, window: DefaultDownWindow}
	for _, opt := range opts {
		opt(&o)
	}
	p := &Provider[T]{instances: instances, strategy: o.strategy, down: newDownInstances(o.threshold, o.window)}
	for _, f := range o.filters {
		typed, ok := f.(func(Instance[T]) bool)
		if !ok {
			o.errs = append(o.errs, fmt.Errorf("%w: filter %T does not take an Instance[%T]", ErrInvalidOption, f, *new(T)))
			continue
		}
		p.filters = append(p.filters, typed)
	}
	if len(o.errs) > 0 {
		return nil, errors.Join(o.errs...)
	}
	return p, nil
}

// All returns every instance that passes the filters, the down-instance policy and the
// enabled flag, in the cache's order. It waits for the cache's initial load or ctx.
func (p *Provider[T]) All(ctx context.Context) ([]Instance[T], error) {
	all, err := p.instances(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Instance[T], 0, len(all))
next:
	for _, in := range all {
		for _, f := range p.filters {
			if !f(in) {
				continue next
			}
		}
		if p.down.up(downKey(in)) && in.Enabled {
			out = append(out, in)
		}
	}
	return out, nil
}

// Instance returns one instance picked by the strategy among those All returns, or
// ErrNoInstances when there is none.
func (p *Provider[T]) Instance(ctx context.Context) (Instance[T], error) {
	all, err := p.All(ctx)
	if err != nil {
		return Instance[T]{}, err
	}
	if len(all) == 0 {
		return Instance[T]{}, ErrNoInstances
	}
	ids := make([]string, len(all))
	for i, in := range all {
		ids[i] = in.ID
	}
	i := p.strategy.Pick(ids)
	if i < 0 || i >= len(all) {
		return Instance[T]{}, fmt.Errorf("discovery: strategy %T picked %d of %d instances", p.strategy, i, len(all))
	}
	return all[i], nil
}

// NoteError records that a call to inst failed; per the down-instance policy, enough of
// them take it out of rotation for a while.
func (p *Provider[T]) NoteError(inst Instance[T]) { p.down.add(downKey(inst)) }

// downKey identifies one registration of an instance: Curator keys down marks by the whole
// instance, so an instance that re-registers (same id, new registration time) starts clean.
func downKey[T any](in Instance[T]) string {
	return in.ID + "@" + strconv.FormatInt(in.RegistrationTimeUTC, 10)
}
