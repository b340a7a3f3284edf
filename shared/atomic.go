package shared

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/retry"
)

// AtomicValue is the result of an AtomicLong operation, in the shape of Curator's
// AtomicValue: whether it succeeded, the value before (PreValue) and after (PostValue).
// When Succeeded is false nothing was written (or, with an error matching
// zkrecipes.ErrOutcomeUnknown, nothing is known to have been written); PreValue is then
// the last value read and PostValue is meaningless.
type AtomicValue struct {
	Succeeded bool
	PreValue  int64
	PostValue int64
}

// AtomicLong is Curator's DistributedAtomicLong: an int64 in a PERSISTENT node, 8 bytes
// big-endian (empty data reads as 0), updated by optimistic compare-and-set: read the
// value and its version, write the new value conditional on that version (or create the
// node when it is missing, with container parents), and try again under the retry policy
// when another writer came first. It keeps no watch and starts no goroutine, so it needs
// no Start or Close; it is safe for concurrent use. Curator's PromotedToLock mode is not
// offered: the version check alone keeps it correct next to Java peers in either mode.
//
// Every method that writes reports an unknown outcome as an error matching
// zkrecipes.ErrOutcomeUnknown with Succeeded false, and never tries again after one: a
// second attempt could apply the same increment twice (Curator 5.4 retries a setData whose
// reply was lost and can do exactly that). See Add for how to find out what happened.
// Cancelling ctx ends any method early: with ctx.Err() and nothing written when no write
// was in flight, with ErrOutcomeUnknown when one was. On SUSPENDED the Client holds
// attempts back until it reconnects (or its retry policy gives up: a connection error,
// nothing written); an AtomicLong has no session state, so LOST and new sessions change
// nothing for it.
type AtomicLong struct {
	client *zkrecipes.Client
	path   string
	policy retry.Policy
}

// AtomicOption configures an AtomicLong.
type AtomicOption func(*AtomicLong)

// WithRetryPolicy sets the policy for optimistic attempts that lost to another writer
// (default: the Client's retry policy, as Curator takes one at construction). When it
// allows no more attempts the operation returns Succeeded false and no error. A nil
// policy keeps the default.
func WithRetryPolicy(p retry.Policy) AtomicOption {
	return func(a *AtomicLong) {
		if p != nil {
			a.policy = p
		}
	}
}

// NewAtomicLong returns an AtomicLong for the node at path (relative to the Client's
// namespace). Nothing is sent; the node is created by the first update. A bad path gives
// an error matching ErrInvalidArgument.
func NewAtomicLong(client *zkrecipes.Client, path string, opts ...AtomicOption) (*AtomicLong, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidArgument)
	}
	if err := zkrecipes.ValidatePath(path); err != nil || path == "/" {
		return nil, fmt.Errorf("%w: path %q: %v", ErrInvalidArgument, path, err)
	}
	a := &AtomicLong{client: client, path: path, policy: client.RetryPolicy()}
	for _, o := range opts {
		o(a)
	}
	return a, nil
}

// Path returns the node's path, relative to the Client's namespace.
func (a *AtomicLong) Path() string { return a.path }

// Get reads the current value (0 when the node does not exist): Succeeded true with
// PreValue and PostValue both the value. A node that is not 8 bytes or empty gives an
// error matching ErrMalformed.
func (a *AtomicLong) Get(ctx context.Context) (AtomicValue, error) {
	n, _, err := a.read(ctx)
	if err != nil {
		return AtomicValue{}, err
	}
	return AtomicValue{Succeeded: true, PreValue: n, PostValue: n}, nil
}

// Increment adds 1; see Add.
func (a *AtomicLong) Increment(ctx context.Context) (AtomicValue, error) { return a.Add(ctx, 1) }

// Decrement subtracts 1; see Add.
func (a *AtomicLong) Decrement(ctx context.Context) (AtomicValue, error) { return a.Add(ctx, -1) }

// Subtract subtracts delta; see Add.
func (a *AtomicLong) Subtract(ctx context.Context, delta int64) (AtomicValue, error) {
	return a.Add(ctx, -delta)
}

// Add adds delta (wrapping around like Java's long) with optimistic attempts, each
// conditional on the version it read, until one applies (Succeeded true, PreValue and
// PostValue the values it replaced and wrote) or the retry policy gives up under
// contention (Succeeded false, no error: nothing was written).
//
// Errors: ErrMalformed when the node holds something else than a long; the Client's
// errors (connection-class ones after its own retries, ctx.Err()) with nothing written;
// and an error matching zkrecipes.ErrOutcomeUnknown when an attempt's reply was lost or
// ctx ended while it was in flight. Then the addition may or may not have been applied,
// and Add does not try again, so it is never applied twice. To find out, wait for
// zkrecipes.Settled(err) and read the node (Client.Get, with its stat): a version that
// moved by one to a value other than PostValue, or did not move, proves it was not
// applied; PostValue at one version past PreValue's means it landed, unless another
// writer made the same change from the same value at the same moment, which the node
// cannot tell apart. Count such outcomes as doubtful rather than retry.
func (a *AtomicLong) Add(ctx context.Context, delta int64) (AtomicValue, error) {
	return a.update(ctx, func(old int64) int64 { return old + delta })
}

// CompareAndSet writes newValue only if the node holds expected, with one attempt, as
// Curator's compareAndSet: Succeeded false and no error when the value differs, when
// another writer changed it between the read and the write, or when the node does not
// exist (it is not created). PreValue is the value read. Unknown outcomes as in Add.
func (a *AtomicLong) CompareAndSet(ctx context.Context, expected, newValue int64) (AtomicValue, error) {
	n, st, err := a.read(ctx)
	if err != nil {
		return AtomicValue{}, err
	}
	res := AtomicValue{PreValue: n}
	if st == nil || n != expected {
		return res, nil
	}
	_, err = a.client.Set(ctx, a.path, EncodeLong(newValue), st.Version)
	switch {
	case err == nil:
		res.Succeeded, res.PostValue = true, newValue
		return res, nil
	case errors.Is(err, zkrecipes.ErrOutcomeUnknown):
		return res, fmt.Errorf("shared: compare and set %s: %w", a.path, err)
	case errors.Is(err, zk.ErrBadVersion), errors.Is(err, zk.ErrNoNode):
		return res, nil
	}
	return res, fmt.Errorf("shared: compare and set %s: %w", a.path, err)
}

// TrySet writes newValue with optimistic attempts (creating the node if absent) under the
// retry policy, as Curator's trySet: Succeeded false and no error when the policy gave up
// under contention. Unknown outcomes as in Add.
func (a *AtomicLong) TrySet(ctx context.Context, newValue int64) (AtomicValue, error) {
	return a.update(ctx, func(int64) int64 { return newValue })
}

// ForceSet writes newValue unconditionally, creating the node (and container parents) if
// absent, as Curator's forceSet. A connection loss is retried by the Client (writing the
// same value twice is harmless); the error matches zkrecipes.ErrOutcomeUnknown when the
// outcome stayed unknown.
func (a *AtomicLong) ForceSet(ctx context.Context, newValue int64) error {
	data := EncodeLong(newValue)
	for {
		_, err := a.client.Set(ctx, a.path, data, -1)
		if !errors.Is(err, zk.ErrNoNode) || errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
			if err != nil {
				return fmt.Errorf("shared: force set %s: %w", a.path, err)
			}
			return nil
		}
		_, err = a.client.Create(ctx, a.path, data, zkrecipes.ModePersistent, zkrecipes.WithParents())
		if err == nil {
			return nil
		}
		if !errors.Is(err, zk.ErrNodeExists) || errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
			return fmt.Errorf("shared: force set %s: %w", a.path, err)
		}
	}
}

// Initialize creates the node holding seed if it does not exist and reports whether it
// did (false: the node existed and keeps its value), as Curator's initialize. Unknown
// outcomes give false and an error matching zkrecipes.ErrOutcomeUnknown.
func (a *AtomicLong) Initialize(ctx context.Context, seed int64) (bool, error) {
	err := a.create(ctx, EncodeLong(seed))
	if errors.Is(err, zk.ErrNodeExists) && !errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("shared: initialize %s: %w", a.path, err)
	}
	return true, nil
}

// read returns the value and the node's stat (nil when the node does not exist: 0).
func (a *AtomicLong) read(ctx context.Context) (int64, *zk.Stat, error) {
	data, st, err := a.client.Get(ctx, a.path)
	if errors.Is(err, zk.ErrNoNode) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("shared: read %s: %w", a.path, err)
	}
	n, err := DecodeLong(a.path, data)
	return n, st, err
}

// create makes the node holding data in one transaction, which the Client never retries
// once it may have reached the server: a plain Create's retry would adopt a node holding
// the same bytes that another writer created meanwhile, and report that as ours. Missing
// parents are created as containers and the create tried again.
func (a *AtomicLong) create(ctx context.Context, data []byte) error {
	for range 3 {
		_, err := a.client.Multi(ctx, &zk.CreateRequest{Path: a.path, Data: data, Flags: zk.FlagPersistent})
		if !errors.Is(err, zk.ErrNoNode) || errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
			return err
		}
		parent, _ := zkrecipes.SplitPath(a.path)
		if err := a.client.EnsurePath(ctx, parent); err != nil {
			return err
		}
	}
	return fmt.Errorf("shared: create %s: its parent keeps disappearing: %w", a.path, zk.ErrNoNode)
}

// update runs optimistic attempts of next until one applies or the policy gives up.
func (a *AtomicLong) update(ctx context.Context, next func(old int64) int64) (AtomicValue, error) {
	start := time.Now()
	var res AtomicValue
	for attempt := 0; ; attempt++ {
		old, st, err := a.read(ctx)
		if err != nil {
			return AtomicValue{PreValue: res.PreValue}, err
		}
		res.PreValue = old
		n := next(old)
		data := EncodeLong(n)
		if st == nil {
			err = a.create(ctx, data)
		} else {
			_, err = a.client.Set(ctx, a.path, data, st.Version)
		}
		switch {
		case err == nil:
			return AtomicValue{Succeeded: true, PreValue: old, PostValue: n}, nil
		case errors.Is(err, zkrecipes.ErrOutcomeUnknown):
			return AtomicValue{PreValue: old}, fmt.Errorf("shared: update %s: %w", a.path, err)
		case errors.Is(err, zk.ErrBadVersion), errors.Is(err, zk.ErrNoNode), errors.Is(err, zk.ErrNodeExists):
			// Another writer came first: nothing of ours was applied.
		default:
			return AtomicValue{PreValue: old}, fmt.Errorf("shared: update %s: %w", a.path, err)
		}
		sleep, ok := a.policy.Next(attempt, time.Since(start))
		if !ok {
			return AtomicValue{PreValue: old}, nil
		}
		if err := pause(ctx, sleep); err != nil {
			return AtomicValue{PreValue: old}, err
		}
	}
}

func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
