package retry

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Option configures one call of [Do].
type Option func(*doConfig)

type doConfig struct {
	onRetry func(attempt int, err error, sleep time.Duration)
}

// OnRetry makes Do call fn before each sleep, with the retry's number (the attempt that
// was passed to [Policy.Next]), the error being retried and the sleep granted. Meant for
// metrics and logging: fn runs on Do's goroutine and delays the retry while it runs.
// Do does not call it when it gives up. A nil fn is ignored.
func OnRetry(fn func(attempt int, err error, sleep time.Duration)) Option {
	return func(c *doConfig) {
		if fn != nil {
			c.onRetry = fn
		}
	}
}

// Do calls fn until it succeeds, fails with an error that p does not retry, p refuses
// another retry, or ctx is done. Between attempts it sleeps as p says, on a timer that
// ctx interrupts. Which errors are retried is decided by [Retriable]: [IsRetriable]
// unless p is a [Classifier]. A nil p never retries.
//
// Do returns nil on success, and otherwise fn's last error unchanged, except when ctx
// ends the loop: then it returns an error that matches ctx.Err() with errors.Is and,
// if fn had failed, also fn's last error (which may be a connection-loss error whose
// operation did reach the server). If ctx is already done, fn is not called. An error
// that fn returns after ctx is done is returned unchanged when it is final or already
// matches ctx.Err().
//
// fn receives ctx unchanged and should pass it to whatever it blocks on.
func Do(ctx context.Context, p Policy, fn func(ctx context.Context) error, opts ...Option) error {
	var cfg doConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if p == nil {
		p = NTimes(0, 0)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	for attempt := 0; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if !Retriable(p, err) {
			return err
		}
		if ctx.Err() != nil {
			return interrupted(ctx, err)
		}
		sleep, ok := p.Next(attempt, time.Since(start))
		if !ok {
			return err
		}
		sleep = max(sleep, 0)
		if cfg.onRetry != nil {
			cfg.onRetry(attempt, err, sleep)
		}
		if !wait(ctx, sleep) {
			return interrupted(ctx, err)
		}
	}
}

// wait sleeps for d and reports whether ctx is still live afterwards.
func wait(ctx context.Context, d time.Duration) bool {
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return ctx.Err() == nil
}

// interrupted keeps both causes visible: the caller learns that it gave up, and that the
// operation had failed with last (so it may or may not have been applied).
func interrupted(ctx context.Context, last error) error {
	cerr := ctx.Err()
	if errors.Is(last, cerr) {
		return last
	}
	return fmt.Errorf("%w (last error: %w)", cerr, last)
}
