package leader

import (
	"errors"
	"fmt"
	"log/slog"
	"unicode/utf8"
)

// CloseMode says whether closing a latch that leads tells its listeners.
type CloseMode int

const (
	// CloseSilent closes without any callback, even if the latch leads
	// (Curator's SILENT, the default).
	CloseSilent CloseMode = iota
	// CloseNotifyLeader delivers NotLeader on Close if the latch leads, and
	// deletes the node only after the listeners have returned from it
	// (Curator's NOTIFY_LEADER).
	CloseNotifyLeader
)

// String returns Curator's name for the mode.
func (m CloseMode) String() string {
	switch m {
	case CloseSilent:
		return "SILENT"
	case CloseNotifyLeader:
		return "NOTIFY_LEADER"
	}
	return fmt.Sprintf("CloseMode(%d)", int(m))
}

// ErrorPolicy says which connection states end leadership.
type ErrorPolicy int

const (
	// StandardPolicy ends leadership on SUSPENDED and on LOST (Curator's
	// default). A leader steps down as soon as its connection drops, before
	// the server can expire its session and let another participant win.
	StandardPolicy ErrorPolicy = iota
	// SessionPolicy ends leadership only on LOST (Curator's
	// SessionConnectionStateErrorPolicy). A leader keeps leading through a
	// short disconnection, but for a while after the server expired its
	// session it may still believe it leads while another participant
	// already does; use a Term guard for every write that must not overlap.
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

// Option configures a Latch (New) or an election (Run). Each option says
// which of the two it applies to; New and Run reject the others with an
// error, as they reject bad values.
type Option func(*config)

type config struct {
	id        string
	closeMode CloseMode
	policy    ErrorPolicy
	listeners []Listener
	events    []chan<- Event
	logger    *slog.Logger
	requeue   bool

	latchOnly []string // latch-only options given, for Run to reject
	runOnly   []string // Run-only options given, for New to reject
	errs      []error
}

func newConfig(opts []Option) config {
	cfg := config{requeue: true}
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

// validate reports every bad option at once.
func (c *config) validate(forRun bool) error {
	errs := append([]error(nil), c.errs...)
	if forRun {
		for _, name := range c.latchOnly {
			errs = append(errs, fmt.Errorf("%w: %s applies to Latch, not Run", ErrInvalidOption, name))
		}
	} else {
		for _, name := range c.runOnly {
			errs = append(errs, fmt.Errorf("%w: %s applies to Run, not Latch", ErrInvalidOption, name))
		}
	}
	return errors.Join(errs...)
}

// WithID sets the participant id that the latch writes into its node, which
// Participants and Leader report (Curator's participant id). The default is
// "". An id that is not valid UTF-8 is an error, because Java peers decode
// it as UTF-8. Latch only: Run takes the id as an argument.
func WithID(id string) Option {
	return func(c *config) {
		c.latchOnly = append(c.latchOnly, "WithID")
		if !utf8.ValidString(id) {
			c.fail("participant id %q is not valid UTF-8", id)
		}
		c.id = id
	}
}

// WithCloseMode sets what Close tells the listeners; the default is
// CloseSilent. An unknown mode is an error. Latch only.
func WithCloseMode(m CloseMode) Option {
	return func(c *config) {
		c.latchOnly = append(c.latchOnly, "WithCloseMode")
		if m != CloseSilent && m != CloseNotifyLeader {
			c.fail("unknown close mode %d", int(m))
		}
		c.closeMode = m
	}
}

// WithErrorPolicy sets which connection states end leadership; the default
// is StandardPolicy. An unknown policy is an error. Latch and Run.
func WithErrorPolicy(p ErrorPolicy) Option {
	return func(c *config) {
		if p != StandardPolicy && p != SessionPolicy {
			c.fail("unknown error policy %d", int(p))
		}
		c.policy = p
	}
}

// WithListener adds a listener that is told about every change of
// leadership; it may be given several times. A nil listener is an error.
// Latch only.
func WithListener(l Listener) Option {
	return func(c *config) {
		c.latchOnly = append(c.latchOnly, "WithListener")
		if l == nil {
			c.fail("nil listener")
			return
		}
		c.listeners = append(c.listeners, l)
	}
}

// WithEvents adds a channel that receives an Event for every change of
// leadership, in order, after the listeners were called. The latch blocks
// its listener goroutine (never its state machine) until the channel takes
// the event, so give it a buffer or drain it. A nil channel is an error.
// The latch never closes the channel. Latch only.
func WithEvents(ch chan<- Event) Option {
	return func(c *config) {
		c.latchOnly = append(c.latchOnly, "WithEvents")
		if ch == nil {
			c.fail("nil event channel")
			return
		}
		c.events = append(c.events, ch)
	}
}

// WithLogger sets the logger for transitions and for errors that the latch
// retries in the background; nil (the default) means the client's logger.
// Latch and Run.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithRequeue says whether Run campaigns again after a term ends; the default
// is true. With false, Run returns after the first term. Run only.
func WithRequeue(requeue bool) Option {
	return func(c *config) {
		c.runOnly = append(c.runOnly, "WithRequeue")
		c.requeue = requeue
	}
}
