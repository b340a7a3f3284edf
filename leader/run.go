package leader

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/zkrecipes/zkrecipes"
)

// Run makes "do this work only while leader" a function call: it campaigns
// for leadership of latchPath (relative to client's namespace) as participant
// id, and each time it is elected calls fn with the term and a context that
// is cancelled the moment leadership is in doubt: on SUSPENDED (under the
// default StandardPolicy), on LOST, when the participant's node is deleted,
// when the client closes, or when ctx ends. context.Cause of fn's context
// then wraps ErrLeadershipLost and says why (or is ctx's cause).
//
// Run deletes the participant's node only after fn has returned, so a
// successor cannot start before fn stopped; fn must therefore return
// promptly once its context is cancelled. A term's writes to ZooKeeper that
// must not outlive it should go through term.Multi.
//
// After a term ends Run campaigns again with a new node, at the back of the
// queue (like Curator's LeaderSelector with autoRequeue), unless
// WithRequeue(false) was given. Run returns:
//   - ctx.Err() once ctx ends (after fn returned and the node was released);
//   - fn's error when fn returns one while still leader (the node is
//     released, and Run does not campaign again);
//   - with WithRequeue(false), after the first term: nil if fn returned nil
//     while leader, or the cause wrapping ErrLeadershipLost if leadership was
//     lost first;
//   - an error wrapping ErrInvalidOption for bad arguments, and
//     zkrecipes.ErrClosed when the client is closed.
//
// The nodes are those of Latch: a Java LeaderLatch in the same path is a
// fellow participant. Options: WithErrorPolicy, WithRequeue, WithLogger.
func Run(ctx context.Context, client *zkrecipes.Client, latchPath, id string,
	fn func(ctx context.Context, term Term) error, opts ...Option) error {
	cfg := newConfig(opts)
	var errs []error
	if fn == nil {
		errs = append(errs, fmt.Errorf("%w: nil function", ErrInvalidOption))
	}
	if !utf8.ValidString(id) {
		errs = append(errs, fmt.Errorf("%w: participant id %q is not valid UTF-8", ErrInvalidOption, id))
	}
	if err := checkArgs(client, latchPath, &cfg, true); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	cfg.id = id
	for {
		again, err := runTerm(ctx, client, latchPath, cfg, fn)
		if !again {
			return err
		}
	}
}

// runTerm campaigns with a fresh latch, runs fn for the one term it wins,
// and releases the node. It reports whether Run should campaign again.
func runTerm(ctx context.Context, client *zkrecipes.Client, latchPath string, cfg config,
	fn func(context.Context, Term) error) (again bool, err error) {
	l := newLatch(client, latchPath, cfg)
	if err := l.Start(ctx); err != nil {
		return false, err
	}
	release := func() {
		// The parent ctx may be over; the node must go anyway. Past the
		// bound the Client keeps deleting it in the background.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), client.SessionTimeout())
		defer cancel()
		if err := l.Close(rctx); err != nil {
			l.log.Warn("leader: releasing the node", "err", err)
		}
	}

	var term Term
	var termCtx context.Context
	for {
		if err := l.Await(ctx); err != nil {
			release()
			return false, err
		}
		if t, tctx, ok := l.currentTerm(); ok {
			term, termCtx = t, tctx
			break
		}
	}

	fnCtx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(termCtx, func() { cancel(context.Cause(termCtx)) })
	fnErr := fn(fnCtx, term)
	stop()
	// Judge the term before release, which ends it in any case.
	lost := termCtx.Err() != nil
	lostCause := context.Cause(termCtx)
	cancel(nil)
	release()

	switch {
	case ctx.Err() != nil:
		return false, ctx.Err()
	case errors.Is(lostCause, errClientClosed):
		return false, errClientGone
	case lost:
		if cfg.requeue {
			l.log.Info("leader: term ended; campaigning again", "term", term.String(), "why", lostCause)
			return true, nil
		}
		return false, lostCause
	case fnErr != nil:
		return false, fnErr
	default:
		return cfg.requeue, nil
	}
}
