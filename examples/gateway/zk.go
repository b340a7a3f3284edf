package main

// This file is the only one that knows the recipes: a discovery Cache of the service, a
// round-robin Provider for reads, and the cache's snapshot for the leader.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/discovery"
)

// Payload is bookservice's payload. A pointer, so that an instance registered without
// payload (JSON null) reads as nil: not a leader.
type Payload struct {
	Leader bool `json:"leader"`
}

type zkPool struct {
	service  string
	log      *slog.Logger
	client   *zkrecipes.Client
	disc     *discovery.Discovery[*Payload]
	cache    *discovery.Cache[*Payload]
	reads    *discovery.Provider[*Payload]
	unlisten func()

	mu      sync.Mutex
	changed chan struct{} // closed at the next change of the cache
}

// Changed returns a channel closed at the cache's next change.
func (p *zkPool) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

func (p *zkPool) fireChanged() {
	p.mu.Lock()
	defer p.mu.Unlock()
	close(p.changed)
	p.changed = make(chan struct{})
}

// watch connects and starts the cache; it returns once the cache holds the instances.
func watch(ctx context.Context, cfg config, log *slog.Logger) (_ *zkPool, err error) {
	client, err := zkrecipes.Connect(ctx, []string{cfg.zk},
		zkrecipes.WithSessionTimeout(cfg.sessionTimeout),
		zkrecipes.WithLogger(log))
	if err != nil {
		return nil, err
	}
	p := &zkPool{service: cfg.service, log: log, client: client, changed: make(chan struct{})}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = p.Close(cctx)
		}
	}()
	p.disc, err = discovery.New[*Payload](client, cfg.basePath,
		discovery.WithSerializer(discovery.JSON[*Payload](discovery.WithJavaClass(cfg.payloadClass))),
		discovery.WithErrorHandler(func(err error) { log.Warn("discovery", "err", err) }))
	if err != nil {
		return nil, err
	}
	p.cache, err = p.disc.Cache(cfg.service)
	if err != nil {
		return nil, err
	}
	p.reads, err = discovery.NewProvider(p.cache,
		discovery.WithStrategy(discovery.RoundRobin()),
		discovery.WithDownInstancePolicy(cfg.downErrors, cfg.downWindow))
	if err != nil {
		return nil, err
	}
	p.unlisten = p.cache.Listen(func(ev discovery.CacheEvent[*Payload]) {
		// Connection states are logged by the client itself.
		if ev.Kind == discovery.CacheChanged {
			p.fireChanged()
			st := p.Status()
			log.Info("instances changed", "instances", strings.Join(idsOf(st.Instances), ","), "leader", st.Leader,
				"added", len(ev.Added), "updated", len(ev.Updated), "removed", len(ev.Removed))
		}
	})
	if err := p.cache.Start(ctx); err != nil {
		return nil, fmt.Errorf("start cache of %s/%s: %w", cfg.basePath, cfg.service, err)
	}
	return p, nil
}

func idsOf(bs []Backend) []string {
	ids := make([]string, len(bs))
	for i, b := range bs {
		ids[i] = b.ID
	}
	return ids
}

func backendOf(in discovery.Instance[*Payload]) Backend {
	b := Backend{ID: in.ID, Address: in.Address, Leader: in.Payload != nil && in.Payload.Leader}
	if in.Port != nil {
		b.Port = *in.Port
	}
	return b
}

// enabled returns the cache's enabled instances that have a port to send requests to.
func (p *zkPool) enabled() []Backend {
	var out []Backend
	for _, in := range p.cache.Instances() {
		if in.Enabled && in.Port != nil {
			out = append(out, backendOf(in))
		}
	}
	return out
}

func (p *zkPool) Reader() (Backend, error) {
	in, err := p.reads.Instance(context.Background())
	if err == nil {
		return backendOf(in), nil
	}
	all := p.enabled()
	if len(all) == 0 {
		return Backend{}, &Unavailable{Reason: fmt.Sprintf("no instance of %s is registered", p.service)}
	}
	if errors.Is(err, discovery.ErrNoInstances) {
		return Backend{}, &Unavailable{Reason: fmt.Sprintf("all %d instances of %s (%s) are marked down after failing",
			len(all), p.service, strings.Join(idsOf(all), ", "))}
	}
	return Backend{}, &Unavailable{Reason: err.Error()}
}

// Writer returns the one instance whose payload says it leads. Two claiming leadership
// (possible for a moment with a hand-written payload) means no writes at all: a 503 is
// better than a write to the wrong instance.
func (p *zkPool) Writer() (Backend, error) {
	all := p.enabled()
	var leaders []Backend
	for _, b := range all {
		if b.Leader {
			leaders = append(leaders, b)
		}
	}
	switch {
	case len(leaders) == 1:
		return leaders[0], nil
	case len(all) == 0:
		return Backend{}, &Unavailable{Reason: fmt.Sprintf("no instance of %s is registered", p.service)}
	case len(leaders) == 0:
		return Backend{}, &Unavailable{Reason: fmt.Sprintf("no leader among the %d instances of %s (%s); waiting for the election",
			len(all), p.service, strings.Join(idsOf(all), ", "))}
	default:
		return Backend{}, &Unavailable{Reason: fmt.Sprintf("%d instances of %s claim leadership (%s); refusing writes until one remains",
			len(leaders), p.service, strings.Join(idsOf(leaders), ", "))}
	}
}

func (p *zkPool) NoteError(b Backend) {
	for _, in := range p.cache.Instances() {
		if in.ID == b.ID {
			p.reads.NoteError(in)
			return
		}
	}
}

func (p *zkPool) Status() PoolStatus {
	st := PoolStatus{Service: p.service, Instances: p.enabled(), Down: []string{}}
	if st.Instances == nil {
		st.Instances = []Backend{}
	}
	if w, err := p.Writer(); err == nil {
		st.Leader = w.ID
	}
	up := map[string]bool{}
	if ins, err := p.reads.All(context.Background()); err == nil {
		for _, in := range ins {
			up[in.ID] = true
		}
	}
	for _, b := range st.Instances {
		if !up[b.ID] {
			st.Down = append(st.Down, b.ID)
		}
	}
	return st
}

// Close stops the cache, then the client.
func (p *zkPool) Close(ctx context.Context) error {
	var errs []error
	if p.unlisten != nil {
		p.unlisten()
	}
	if p.cache != nil {
		errs = append(errs, p.cache.Close(ctx))
	}
	if p.disc != nil {
		errs = append(errs, p.disc.Close(ctx))
	}
	errs = append(errs, p.client.Close(ctx))
	return errors.Join(errs...)
}
