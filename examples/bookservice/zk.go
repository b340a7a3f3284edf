package main

// This file is the only one that knows the recipes: the client, the latch and discovery.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/leader"
)

// Payload is the instance payload; Java reads it as cfg.payloadClass
// (com.example.InstanceDetails by default), a class with one boolean property.
type Payload struct {
	Leader bool `json:"leader"`
}

type zkMember struct {
	log        *slog.Logger
	client     *zkrecipes.Client
	latch      *leader.Latch
	disc       *discovery.Discovery[Payload]
	inst       discovery.Instance[Payload]
	registered atomic.Bool

	wake chan struct{} // capacity 1: leadership changed, rewrite the payload
	stop chan struct{}
	done chan struct{}
}

// join connects, registers the instance as not leading, and then joins the election: an
// instance is never leader before it is registered. hooks go to the client (metrics).
func join(ctx context.Context, cfg config, log *slog.Logger, hooks zkrecipes.Hooks) (_ member, err error) {
	client, err := zkrecipes.Connect(ctx, []string{cfg.zk},
		zkrecipes.WithSessionTimeout(cfg.sessionTimeout),
		zkrecipes.WithLogger(log),
		zkrecipes.WithHooks(hooks))
	if err != nil {
		return nil, err
	}
	m := &zkMember{
		log:    log,
		client: client,
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = m.closeRecipes(cctx)
		}
	}()
	// The client logs its connection states (CONNECTED, SUSPENDED, LOST, ...) itself.
	m.inst, err = discovery.NewInstance(cfg.service, Payload{Leader: false},
		discovery.WithID(cfg.id),
		discovery.WithAddress(cfg.address),
		discovery.WithPort(cfg.port))
	if err != nil {
		return nil, err
	}
	m.disc, err = discovery.New[Payload](client, cfg.basePath,
		discovery.WithSerializer(discovery.JSON[Payload](discovery.WithJavaClass(cfg.payloadClass))))
	if err != nil {
		return nil, err
	}
	if err := m.disc.Register(ctx, m.inst); err != nil {
		return nil, fmt.Errorf("register %s/%s/%s: %w", cfg.basePath, cfg.service, cfg.id, err)
	}
	m.registered.Store(true)
	log.Info("registered", "path", cfg.basePath+"/"+cfg.service+"/"+cfg.id)

	m.latch, err = leader.New(client, cfg.latchPath,
		leader.WithID(cfg.id),
		leader.WithLogger(log),
		leader.WithListener(leader.ListenerFuncs{
			OnIsLeader:  func() { log.Info("became leader"); m.poke() },
			OnNotLeader: func() { log.Info("no longer leader"); m.poke() },
		}))
	if err != nil {
		return nil, err
	}
	go m.syncPayload()
	if err := m.latch.Start(ctx); err != nil {
		return nil, fmt.Errorf("start latch %s: %w", cfg.latchPath, err)
	}
	return m, nil
}

func (m *zkMember) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// syncPayload keeps the registered payload equal to the latch's leadership. It reads the
// latch rather than trusting the event that woke it, so a burst of changes ends in one
// write of the final state, and it retries a failed write until it lands.
func (m *zkMember) syncPayload() {
	defer close(m.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-m.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	written := false
	backoff := 100 * time.Millisecond
	for {
		want := m.latch.HasLeadership()
		if want != written {
			inst := m.inst
			inst.Payload = Payload{Leader: want}
			if err := m.disc.Update(ctx, inst); err != nil {
				if ctx.Err() != nil {
					return
				}
				m.log.Warn("payload update failed; retrying", "leader", want, "err", err, "in", backoff)
				select {
				case <-m.stop:
					return
				case <-m.wake:
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 2*time.Second)
				continue
			}
			written, backoff = want, 100*time.Millisecond
			m.log.Info("payload updated", "leader", want)
			continue
		}
		select {
		case <-m.stop:
			return
		case <-m.wake:
		}
	}
}

func (m *zkMember) IsLeader() bool { return m.latch.HasLeadership() }

func (m *zkMember) Status() status {
	st := m.client.State()
	return status{
		ID:         m.inst.ID,
		Leader:     m.IsLeader(),
		ZooKeeper:  st.String(),
		Registered: m.registered.Load(),
		Healthy:    st.IsConnected() && m.registered.Load(),
	}
}

// Close unregisters first, so that load balancers stop routing here, then closes the
// latch, which hands leadership to the next instance at once instead of after a session
// timeout, then the client.
func (m *zkMember) Close(ctx context.Context) error {
	return m.closeRecipes(ctx)
}

func (m *zkMember) closeRecipes(ctx context.Context) error {
	var errs []error
	if m.latch != nil {
		select {
		case <-m.stop:
		default:
			close(m.stop)
			<-m.done
		}
	}
	if m.disc != nil && m.registered.Load() {
		if err := m.disc.Unregister(ctx, m.inst); err != nil {
			errs = append(errs, fmt.Errorf("unregister: %w", err))
		} else {
			m.log.Info("unregistered")
		}
		m.registered.Store(false)
	}
	if m.latch != nil {
		if err := m.latch.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close latch: %w", err))
		}
	}
	if m.disc != nil {
		if err := m.disc.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("close discovery: %w", err))
		}
	}
	if err := m.client.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close client: %w", err))
	}
	return errors.Join(errs...)
}
