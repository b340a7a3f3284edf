package leader

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/fence"
	"github.com/zkrecipes/zkrecipes/internal/queue"
	"github.com/zkrecipes/zkrecipes/lock"
)

// selectorOrder is LeaderSelector's order: its nodes are InterProcessMutex nodes.
var selectorOrder = queue.NewOrder("lock-")

// RunSelector is Run for a group of Curator LeaderSelector participants: the election is
// an InterProcessMutex on selectorPath (nodes _c_<uuid>-lock-<seq>, data the participant
// id as UTF-8), built on lock.Mutex, so a Java LeaderSelector on the same path is a fellow
// participant; do not mix it with LeaderLatch ("latch-") nodes. Each time this process
// holds the mutex, RunSelector calls fn with a term and a context that is cancelled the
// moment leadership is in doubt: on SUSPENDED (under the default StandardPolicy), on
// LOST, when the participant's node is deleted, when the client closes, or when ctx ends;
// context.Cause then wraps ErrLeadershipLost (and lock.ErrLockLost) and says why, or is
// ctx's cause. Like Curator's takeLeadership, leadership lasts until fn returns: the node
// is deleted only then, so fn must return promptly once its context is cancelled.
//
// The term's Token is the node's czxid (higher for every later leader of the group, Java
// or Go); term.Multi fences writes as for a latch's term, with the selector path as the
// fence (Java's LeaderSelector never reads its data), and its guard checks only that the
// node exists. An empty id writes Curator's default data (the host's address), as a Java
// LeaderSelector without an id does.
//
// After a term, RunSelector campaigns again with a new node at the back of the queue
// (Curator's autoRequeue) unless WithRequeue(false) was given, and returns as Run does:
// ctx.Err() once ctx ends (after fn returned and the node was released), fn's error when
// fn returns one while still leader, with WithRequeue(false) nil or the cause of the lost
// term after the first one, an error wrapping ErrInvalidOption for bad arguments, and
// zkrecipes.ErrClosed when the client is closed. Options: WithErrorPolicy, WithRequeue,
// WithLogger.
func RunSelector(ctx context.Context, client *zkrecipes.Client, selectorPath, id string,
	fn func(ctx context.Context, term Term) error, opts ...Option) error {
	cfg := newConfig(opts)
	var errs []error
	if fn == nil {
		errs = append(errs, fmt.Errorf("%w: nil function", ErrInvalidOption))
	}
	if !utf8.ValidString(id) {
		errs = append(errs, fmt.Errorf("%w: participant id %q is not valid UTF-8", ErrInvalidOption, id))
	}
	if err := checkArgs(client, selectorPath, &cfg, true); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	lopts := []lock.Option{lock.WithErrorPolicy(lock.StandardPolicy)}
	if cfg.policy == SessionPolicy {
		lopts[0] = lock.WithErrorPolicy(lock.SessionPolicy)
	}
	if id != "" {
		lopts = append(lopts, lock.WithData([]byte(id)))
	}
	mu, err := lock.NewMutex(client, selectorPath, lopts...)
	if err != nil {
		if errors.Is(err, zkrecipes.ErrClosed) {
			return errClientGone
		}
		return fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	log := cfg.logger
	if log == nil {
		log = client.Logger()
	}
	for {
		l, err := mu.Acquire(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, zkrecipes.ErrClosed):
			return errClientGone
		case err != nil:
			return fmt.Errorf("leader: selector %s: %w", selectorPath, err)
		}
		term := Term{Token: l.Token(), Node: l.Node(), ID: id, version: -1, client: client, fence: fence.New(selectorPath)}
		selectorHook(client, selectorPath, term, true)
		fnCtx, cancel := context.WithCancelCause(ctx)
		stop := context.AfterFunc(l.Context(), func() {
			cancel(fmt.Errorf("%w: %w", ErrLeadershipLost, context.Cause(l.Context())))
		})
		fnErr := fn(fnCtx, term)
		stop()
		// Judge the term before the release, which ends it in any case.
		lost := l.Context().Err() != nil
		var lostCause error
		if lost {
			lostCause = fmt.Errorf("%w: %w", ErrLeadershipLost, context.Cause(l.Context()))
		}
		cancel(nil)
		selectorHook(client, selectorPath, term, false)
		// The parent ctx may be over; the node must go anyway. Past the bound the Client
		// keeps deleting it in the background.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), client.SessionTimeout())
		if err := l.Release(rctx); err != nil {
			log.Warn("leader: releasing the selector node", "err", err)
		}
		rcancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case lost && errors.Is(lostCause, zkrecipes.ErrClosed):
			return errClientGone
		case lost && cfg.requeue:
			log.Info("leader: selector term ended; campaigning again", "term", term.String(), "why", lostCause)
		case lost:
			return lostCause
		case fnErr != nil:
			return fnErr
		case !cfg.requeue:
			return nil
		}
	}
}

// selectorHook reports a selector term's start and end to the Client's Leadership hook,
// as a latch does; the end is reported once fn returned, before the node is released.
func selectorHook(c *zkrecipes.Client, path string, term Term, leader bool) {
	if h := c.Hooks().Leadership; h != nil {
		token := term.Token
		if !leader {
			token = 0
		}
		h(context.Background(), zkrecipes.LeadershipEvent{Path: path, ID: term.ID, Node: term.Node, Leader: leader, Token: token, Time: time.Now()})
	}
}

// ListSelectorParticipants is ListParticipants for a LeaderSelector group (Curator's
// LeaderSelector.getParticipants): the nodes in InterProcessMutex's order, the first
// readable one the leader, each with the id its data holds.
func ListSelectorParticipants(ctx context.Context, c *zkrecipes.Client, selectorPath string) ([]Participant, error) {
	return listParticipants(ctx, c, selectorPath, selectorOrder)
}

// CurrentSelectorLeader is CurrentLeader for a LeaderSelector group (Curator's
// LeaderSelector.getLeader): ErrNoLeader when the group is empty.
func CurrentSelectorLeader(ctx context.Context, c *zkrecipes.Client, selectorPath string) (Participant, error) {
	return currentLeader(ctx, c, selectorPath, selectorOrder)
}
