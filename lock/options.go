package lock

import (
	"bytes"
	"fmt"

	"github.com/zkrecipes/zkrecipes/internal/queue"
)

// ErrorPolicy says which connection states put a held lock in doubt.
type ErrorPolicy int

const (
	// StandardPolicy cancels a held lock's Context on SUSPENDED and on LOST (Curator's
	// default error policy). The holder stops as soon as its connection drops, before the
	// server can expire its session and let another process acquire.
	StandardPolicy ErrorPolicy = iota
	// SessionPolicy cancels it only on LOST (Curator's SessionConnectionStateErrorPolicy):
	// a holder keeps its Context through a short disconnection, but for a while after the
	// server expired its session it may still believe it holds while another process
	// already does; make every write that must not overlap through Lock.Multi.
	SessionPolicy
)

// String returns a short name for the policy.
func (p ErrorPolicy) String() string {
	switch p {
	case StandardPolicy:
		return "standard"
	case SessionPolicy:
		return "session"
	}
	return fmt.Sprintf("ErrorPolicy(%d)", int(p))
}

// Option configures a lock recipe.
type Option func(*config)

type config struct {
	data      []byte
	dataSet   bool
	policy    ErrorPolicy
	revocable bool
	errs      []error
}

func newConfig(opts []Option) config {
	var cfg config
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	return cfg
}

func (c *config) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOption}, args...)...))
}

// nodeData is what the recipe writes into its nodes: the caller's data, else empty for
// a revocable lock and Curator's default data (the host's address) otherwise, as Curator
// does.
func (c *config) nodeData() []byte {
	switch {
	case c.dataSet:
		return c.data
	case c.revocable:
		return []byte{}
	}
	return defaultData()
}

// WithData sets the data written into the recipe's nodes (Curator's lockData; a
// LeaderSelector peer reads it as the participant id). The default is Curator's: the
// host's address as text (as Java's InetAddress.getLocalHost().getHostAddress() gives
// it), or empty data with WithRevocable. Data equal to the revoke request "__REVOKE__"
// is an error: the holder would take it for one.
func WithData(data []byte) Option {
	return func(c *config) {
		if queue.IsRevoke(data) {
			c.fail("node data %q is the revoke request", data)
		}
		c.data, c.dataSet = bytes.Clone(data), true
		if c.data == nil {
			c.data = []byte{}
		}
	}
}

// WithErrorPolicy sets which connection states cancel a held lock's Context; the
// default is StandardPolicy. An unknown policy is an error.
func WithErrorPolicy(p ErrorPolicy) Option {
	return func(c *config) {
		if p != StandardPolicy && p != SessionPolicy {
			c.fail("unknown error policy %d", int(p))
		}
		c.policy = p
	}
}

// WithRevocable makes held locks act on revoke requests (Curator's makeRevocable): when
// another process writes "__REVOKE__" into the holder's node (Revoke, or Java's
// Revoker.attemptRevoke), the held lock's Context is cancelled with a cause matching
// ErrRevoked. Nothing is released by itself: the holder decides, and should Release. A
// request that arrives while the Acquire still waits cancels the Context as soon as the
// lock is held. Without this option revoke requests are ignored, as by a Java holder
// that did not ask for them (its Context still ends when its node is deleted).
func WithRevocable() Option {
	return func(c *config) { c.revocable = true }
}
