package shared

import (
	"context"

	"github.com/zkrecipes/zkrecipes"
)

// Count is Curator's SharedCount: a [Value] holding a 4-byte big-endian int32, so that Go
// and Java processes share one counter. Make one with NewCount and Start it; it is safe
// for concurrent use. Everything Value says about the local copy, connection states and
// unknown outcomes holds here.
//
// A node that does not hold exactly 4 bytes (written by something other than a shared
// count) makes Get and listeners report an error matching ErrMalformed, naming the path
// and showing the data; TrySet refuses to build on it.
type Count struct {
	v *Value
}

// NewCount returns a Count for the node at path that Start creates holding seed when it
// does not exist. A bad path gives an error matching ErrInvalidArgument.
func NewCount(client *zkrecipes.Client, path string, seed int32) (*Count, error) {
	v, err := NewValue(client, path, EncodeCount(seed))
	if err != nil {
		return nil, err
	}
	return &Count{v: v}, nil
}

// Path returns the node's path, relative to the Client's namespace.
func (c *Count) Path() string { return c.v.path }

// Start is Value.Start: it creates the node holding the seed if absent (an existing
// count keeps its value), reads it and starts keeping the local copy current.
func (c *Count) Start(ctx context.Context) error { return c.v.Start(ctx) }

// Get returns the local copy of the count with its version (see Value.Get), or an error
// matching ErrMalformed when the node does not hold 4 bytes; the Versioned then still
// carries the node's version. Before Start it gives ErrNotStarted. After Close it keeps
// returning the last copy.
func (c *Count) Get() (Versioned[int32], error) {
	c.v.mu.Lock()
	started := c.v.started
	c.v.mu.Unlock()
	if !started {
		return Versioned[int32]{}, ErrNotStarted
	}
	raw := c.v.Get()
	n, err := DecodeCount(c.v.path, raw.Value)
	return Versioned[int32]{Value: n, Version: raw.Version}, err
}

// Listen registers fn to be called after every change of the local copy, as Value.Listen
// does; err is non-nil (ErrMalformed) when the new data is not a count.
func (c *Count) Listen(fn func(n Versioned[int32], err error)) (stop func()) {
	return c.v.Listen(func(raw Versioned[[]byte]) {
		n, err := DecodeCount(c.v.path, raw.Value)
		fn(Versioned[int32]{Value: n, Version: raw.Version}, err)
	})
}

// Set writes n unconditionally (Curator's setCount); failures as Value.Set.
func (c *Count) Set(ctx context.Context, n int32) error { return c.v.Set(ctx, EncodeCount(n)) }

// TrySet writes n only if the node still holds prev (its version and value), as
// Value.TrySet: false without an error when another write came first (the local copy is
// then refreshed, so a loop of Get and TrySet converges); false and an error matching
// zkrecipes.ErrOutcomeUnknown when the write's reply was lost or ctx ended while it was in
// flight, never true. After an unknown outcome, a read (once zkrecipes.Settled(err) is
// closed) that shows prev.Version, or another value than n at a newer version, proves it
// was not applied; n at prev.Version+1 is this write or an identical one of another
// contender, which cannot be told apart. An increment loop that must count exactly must
// therefore stop (or record the doubt) on ErrOutcomeUnknown rather than retry.
func (c *Count) TrySet(ctx context.Context, prev Versioned[int32], n int32) (bool, error) {
	return c.v.TrySet(ctx, Versioned[[]byte]{Value: EncodeCount(prev.Value), Version: prev.Version}, EncodeCount(n))
}

// Close stops the Count as Value.Close does; it deletes nothing.
func (c *Count) Close(ctx context.Context) error { return c.v.Close(ctx) }
