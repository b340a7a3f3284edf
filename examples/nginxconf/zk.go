package main

// This file is the only one that knows the recipes: a discovery Cache of the service.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/discovery"
)

// Payload is bookservice's payload; nil (JSON null) reads as not leader.
type Payload struct {
	Leader bool `json:"leader"`
}

type zkWatcher struct {
	client   *zkrecipes.Client
	disc     *discovery.Discovery[*Payload]
	cache    *discovery.Cache[*Payload]
	unlisten func()
	changed  chan struct{} // capacity 1: changes coalesce until the renderer looks
}

func watch(ctx context.Context, cfg config, log *slog.Logger) (_ watcher, err error) {
	client, err := zkrecipes.Connect(ctx, []string{cfg.zk},
		zkrecipes.WithSessionTimeout(cfg.sessionTimeout),
		zkrecipes.WithLogger(log))
	if err != nil {
		return nil, err
	}
	w := &zkWatcher{client: client, changed: make(chan struct{}, 1)}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = w.Close(cctx)
		}
	}()
	w.disc, err = discovery.New[*Payload](client, cfg.basePath,
		discovery.WithSerializer(discovery.JSON[*Payload](discovery.WithJavaClass(cfg.payloadClass))),
		discovery.WithErrorHandler(func(err error) { log.Warn("discovery", "err", err) }))
	if err != nil {
		return nil, err
	}
	w.cache, err = w.disc.Cache(cfg.service)
	if err != nil {
		return nil, err
	}
	w.unlisten = w.cache.Listen(func(ev discovery.CacheEvent[*Payload]) {
		// Connection states are logged by the client itself.
		if ev.Kind != discovery.CacheChanged {
			return
		}
		log.Info("instances changed", "instances", len(ev.Instances),
			"added", len(ev.Added), "updated", len(ev.Updated), "removed", len(ev.Removed))
		select {
		case w.changed <- struct{}{}:
		default:
		}
	})
	if err := w.cache.Start(ctx); err != nil {
		return nil, fmt.Errorf("start cache of %s/%s: %w", cfg.basePath, cfg.service, err)
	}
	return w, nil
}

func (w *zkWatcher) Instances() []Backend {
	var out []Backend
	for _, in := range w.cache.Instances() {
		if !in.Enabled || in.Port == nil {
			continue
		}
		out = append(out, Backend{ID: in.ID, Address: in.Address, Port: *in.Port, Leader: in.Payload != nil && in.Payload.Leader})
	}
	return out
}

func (w *zkWatcher) Changed() <-chan struct{} { return w.changed }

func (w *zkWatcher) Close(ctx context.Context) error {
	var errs []error
	if w.unlisten != nil {
		w.unlisten()
	}
	if w.cache != nil {
		errs = append(errs, w.cache.Close(ctx))
	}
	if w.disc != nil {
		errs = append(errs, w.disc.Close(ctx))
	}
	errs = append(errs, w.client.Close(ctx))
	return errors.Join(errs...)
}
