package zkrecipes

import (
	"context"
	"errors"
	"time"

	"github.com/go-zookeeper/zk"
)

// Hooks receives events for metrics and tracing, in the shape of pgx's tracers and
// go-redis's hooks: every hook takes a context, and OperationStart may return a derived
// one (carrying a span, say) that the same operation's Retry and Operation hooks receive.
// The core depends on no metrics or tracing library; the adapters in adapters/otel and
// adapters/prometheus (nested modules) fill a Hooks from OpenTelemetry or Prometheus.
//
// Every field is optional and a nil field costs one nil check: no allocation, no time
// taken, no goroutine. Use [JoinHooks] to install more than one set.
//
// The context a hook receives is the context of the call the event belongs to: the
// caller's ctx for an operation (for Retry and Operation, what OperationStart returned),
// a Register's or a lock acquisition's ctx. Events that no call of the user causes (state
// changes, session expiry, the watchdog, leadership changes, background re-registrations,
// cache resyncs) get context.Background(). A hook must not keep the context or rely on it
// being live: it may be cancelled already.
//
// Failure behaviour, common to every hook:
//   - Hooks run synchronously, on the goroutine doing the work (each field says which).
//     A slow hook slows that work down; a hook that blocks stalls it (an operation, the
//     delivery of later state changes, a latch's leadership changes). Hand anything slow
//     to a goroutine of your own.
//   - A hook must not call back into the Client or the recipe that called it (no
//     operations, no Close, no Listen): an Operation hook that runs an operation
//     recurses, and Close waits for the goroutines that run hooks.
//   - A hook must not panic. A panic is not recovered: on the caller's goroutine it
//     unwinds out of the Client call into the caller (skipping what the call would have
//     done after it, such as the clean-up of an unknown-outcome protected create); on a
//     goroutine of the Client or of a recipe it crashes the program.
//   - A Hooks value is copied at Connect; changing its fields afterwards has no effect.
type Hooks struct {
	// OperationStart is called when a Client operation (Get, Set, Create, ...) begins,
	// before its first attempt, on the goroutine that called the operation (a panic
	// propagates out of the operation to its caller; nothing was sent). The context it
	// returns is handed to this operation's Retry and Operation hooks (return ctx itself
	// when there is nothing to add; nil counts as ctx); the operation itself still runs
	// under the caller's ctx, so a hook cannot change its deadline or cancellation. Every
	// OperationStart is followed by exactly one Operation of the same operation (unless a
	// hook panics), also when it fails at once: a span started here can be ended there.
	OperationStart func(ctx context.Context, ev OperationStartEvent) context.Context
	// Operation is called once per operation, after its last attempt and before the call
	// returns, on the goroutine that called it (a panic propagates to the caller, who
	// loses the operation's result, and skips any clean-up the call would have started).
	// For operations the Client runs itself (the background retries of DeleteGuaranteed,
	// the clean-up of an abandoned protected create) it runs on the Client's goroutine,
	// where a panic crashes the program. Operations refused before anything could be sent
	// (an invalid path, data too large) are not reported.
	Operation func(ctx context.Context, ev OperationEvent)
	// Retry is called before each retry's sleep, on the goroutine running the operation
	// (as for Operation, a panic propagates to the caller or crashes the program).
	Retry func(ctx context.Context, ev RetryEvent)
	// StateChange is called for every connection state transition (CONNECTED first,
	// CLOSED last), on one goroutine of the Client that runs StateChange and
	// SessionExpired hooks in order, never on go-zk's. A slow hook delays later calls of
	// these two hooks only; the transitions queue meanwhile. A panic crashes the program.
	StateChange func(ctx context.Context, ev StateChange)
	// SessionExpired is called once per session the Client learns the server expired:
	// when the server answers a reconnect with "session expired" (or, failing that, when
	// a reconnect gets a new session). It follows the LOST transition of that session
	// (LOST may have been the Client's own timer, long before) and precedes the
	// RECONNECTED with NewSession true, on the goroutine that runs StateChange (a panic
	// crashes the program). A LOST decided by the Client's timer alone is not an expiry:
	// the session may come back.
	SessionExpired func(ctx context.Context, ev SessionExpiredEvent)
	// Watchdog is called, on the watchdog's goroutine, each time the Client's watchdog
	// fires: calls were pending, the client connected, and no call returned for the
	// negotiated session timeout, so the Client closes the TCP connection and go-zk
	// reconnects (resuming the session if the server still has it). A firing with Wedged
	// set comes a quarter of that bound after the previous one, when its close did not
	// make go-zk disconnect: the Client replaces the go-zk connection object instead (see
	// StateChange.WatchesLost). The Client also logs a warning (an
	// error when Wedged). The connection is closed, or replaced, after the hook returns: a
	// blocking hook delays the recovery; a panic crashes the program.
	Watchdog func(ctx context.Context, ev WatchdogEvent)
	// Leadership is called by the leader package's latches (and Run) built on this Client
	// whenever one gains or loses leadership, on the latch's own goroutine, before the
	// latch's listeners hear of it: a blocking hook delays the latch (and a handover to
	// the next leader); a panic crashes the program. Every gain is followed by exactly one
	// loss of the same latch (at the latest when it closes).
	Leadership func(ctx context.Context, ev LeadershipEvent)
	// LockAcquired is called by the lock recipes when an acquisition ends, acquired or
	// not (ctx ended, a TryLock found the lock held, an error), on the goroutine that
	// tried to acquire, with the time it waited, before the acquiring call returns (a
	// panic propagates to that caller).
	LockAcquired func(ctx context.Context, ev LockAcquireEvent)
	// LockReleased is called by the lock recipes when a hold ends, released or lost, with
	// how long it was held: on the goroutine that released it (a panic propagates to it),
	// or on the recipe's own goroutine when the hold was lost (the session in doubt, the
	// lock node deleted; a panic crashes the program). Every LockAcquired with Acquired set
	// is followed by exactly one LockReleased.
	LockReleased func(ctx context.Context, ev LockReleaseEvent)
	// CacheSize is called by the caches (the discovery package's Cache included) when the
	// number of nodes they hold changes, first after the initial load, on the cache's own
	// goroutine, after the change is applied and before listeners hear of it: a blocking
	// hook stalls the cache; a panic crashes the program.
	CacheSize func(ctx context.Context, ev CacheSizeEvent)
	// CacheResync is called by the caches when a full read of their subtree ends (the
	// initial load, and the reloads after a reconnect or a new session), on the cache's
	// own goroutine (as for CacheSize).
	CacheResync func(ctx context.Context, ev CacheResyncEvent)
	// Registration is called by the discovery package once per Register, Update and
	// Unregister of a valid instance, on the goroutine of that call, before it returns (a
	// panic propagates to that caller, after the write); and once per background rewrite
	// of a registration (after a new session, after a failed write, or to restore a znode
	// someone deleted), on the Discovery's goroutine, where a panic crashes the program.
	Registration func(ctx context.Context, ev RegistrationEvent)
}

// Outcome classifies how a write (or a read) ended. Its String is a short label.
type Outcome uint8

const (
	// OutcomeOK: the operation succeeded.
	OutcomeOK Outcome = iota
	// OutcomeFailed: the operation failed and, for a write, was not applied (or the
	// server refused it).
	OutcomeFailed
	// OutcomeUnknown: the operation failed with an error matching ErrOutcomeUnknown: a
	// write that may or may not have been applied.
	OutcomeUnknown
)

var outcomeNames = [...]string{"ok", "error", "unknown"}

// String returns "ok", "error" or "unknown".
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "invalid"
}

// OutcomeOf classifies err: nil is OutcomeOK, an error matching ErrOutcomeUnknown is
// OutcomeUnknown, anything else OutcomeFailed.
func OutcomeOf(err error) Outcome {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, ErrOutcomeUnknown):
		return OutcomeUnknown
	}
	return OutcomeFailed
}

// errorCodes are the labels of ErrorCode, most specific first.
var errorCodes = []struct {
	err  error
	code string
}{
	{ErrClosed, "closed"},
	{zk.ErrClosing, "closed"},
	{context.Canceled, "canceled"},
	{context.DeadlineExceeded, "deadline_exceeded"},
	{zk.ErrNoNode, "no_node"},
	{zk.ErrNodeExists, "node_exists"},
	{zk.ErrBadVersion, "bad_version"},
	{zk.ErrNotEmpty, "not_empty"},
	{zk.ErrNoChildrenForEphemerals, "no_children_for_ephemerals"},
	{zk.ErrNoAuth, "no_auth"},
	{zk.ErrAuthFailed, "auth_failed"},
	{zk.ErrInvalidACL, "invalid_acl"},
	{zk.ErrBadArguments, "bad_arguments"},
	{zk.ErrSessionExpired, "session_expired"},
	{zk.ErrSessionMoved, "session_moved"},
	{zk.ErrConnectionClosed, "connection_loss"},
	{zk.ErrNoServer, "no_server"},
	{zk.ErrInvalidFlags, "invalid_flags"},
	{zk.ErrAPIError, "api_error"},
	{ErrInvalidPath, "invalid_path"},
	{zk.ErrInvalidPath, "invalid_path"},
	{ErrDataTooLarge, "data_too_large"},
	{ErrInvalidArgument, "invalid_argument"},
	{ErrSessionLost, "session_lost"},
}

// ErrorCode returns a short, stable label for err, from a fixed set, fit for a metric
// label or a span attribute: "ok" for nil; for the sentinels of this package, of go-zk
// and of context that err matches, their snake_case name ("no_node", "node_exists",
// "bad_version", "connection_loss", "session_expired", "closed", "canceled",
// "deadline_exceeded", ...); "error" for anything else. An unknown outcome gets its
// cause's label (see OutcomeOf to tell it apart).
func ErrorCode(err error) string {
	if err == nil {
		return "ok"
	}
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "error"
}

// OperationStartEvent describes an operation about to make its first attempt.
type OperationStartEvent struct {
	Op   string    // as in OperationEvent
	Path string    // relative to the namespace
	Time time.Time // when the operation began
}

// OperationEvent describes one finished operation.
type OperationEvent struct {
	// Op is the operation: "create", "get", "getw", "set", "delete", "exists", "existsw",
	// "children", "childrenw", "multi", "sync", "ensure".
	Op string
	// Path is the operation's path relative to the namespace (a multi's first path).
	Path string
	// Duration is from the first attempt to the result, retry sleeps included.
	Duration time.Duration
	// Attempts counts the requests sent or tried (0 when the Client was closed already).
	Attempts int
	// Err is nil on success, else the cause the returned *OpError wraps.
	Err error
	// Outcome is OutcomeOf(Err): whether the operation succeeded, failed, or (a write)
	// has an unknown outcome.
	Outcome Outcome
	// SessionID is the Client's session when the operation ended (0 before the first).
	SessionID int64
}

// RetryEvent describes a retry about to happen.
type RetryEvent struct {
	Op      string
	Path    string
	Attempt int           // retries made so far (0 before the first retry)
	Err     error         // the error that caused the retry
	Sleep   time.Duration // how long the client waits before the retry
}

// SessionExpiredEvent describes a session that the server expired (see Hooks.SessionExpired).
type SessionExpiredEvent struct {
	SessionID int64     // the session that expired
	Time      time.Time // when the Client learnt it
}

// LeadershipEvent describes a leadership change of one latch.
type LeadershipEvent struct {
	Path   string // the latch path, relative to the namespace
	ID     string // the participant id
	Node   string // the latch's node
	Leader bool   // true when leadership was gained, false when it ended
	Token  int64  // the fencing token of the term gained (0 when leadership ended)
	Time   time.Time
}

// LockAcquireEvent describes the end of one acquisition of a lock (see Hooks.LockAcquired).
type LockAcquireEvent struct {
	Path string // the lock path, relative to the namespace
	// Kind names the recipe: "mutex", "read", "write", "semaphore", "semaphore-mutex".
	Kind string
	// Node is the lock node the acquisition made ("" when it made none).
	Node string
	// Acquired is set when the lock is now held.
	Acquired bool
	// Wait is how long the acquisition took, from the call to held or given up.
	Wait time.Duration
	// Err says why the lock was not acquired: ctx's error, or the operation's; nil when
	// acquired, and for a try that found the lock held.
	Err  error
	Time time.Time
}

// LockReleaseEvent describes the end of a hold of a lock (see Hooks.LockReleased).
type LockReleaseEvent struct {
	Path string // as in LockAcquireEvent
	Kind string
	Node string
	// Hold is how long the lock was held, from acquired to released or lost.
	Hold time.Duration
	// Lost is set when the hold ended because it was in doubt (SUSPENDED or LOST, the
	// lock node deleted), not because of an Unlock.
	Lost bool
	// Err is the release's error, if any (for example a delete of the lock node that
	// goes on in the background).
	Err  error
	Time time.Time
}

// CacheSizeEvent describes the number of nodes a cache holds (see Hooks.CacheSize).
type CacheSizeEvent struct {
	Path string // the cache's root path, relative to the namespace
	// Kind names the cache: "node", "children", "tree", "curator", "discovery".
	Kind string
	Size int // nodes held after the change
	Time time.Time
}

// CacheResyncEvent describes a full read of a cache's subtree (see Hooks.CacheResync).
type CacheResyncEvent struct {
	Path string // as in CacheSizeEvent
	Kind string
	// Reason is "start" (the initial load), "reconnect" (after RECONNECTED on the same
	// session, when watch events may have been missed) or "session" (after a new
	// session, or a LOST).
	Reason   string
	Duration time.Duration // from the first read to the last
	Size     int           // nodes held afterwards
	Err      error         // nil when the subtree was read; else the cache retries later
	Time     time.Time
}

// RegistrationEvent describes one write of a discovery registration (see Hooks.Registration).
type RegistrationEvent struct {
	// Action is "register", "update", "unregister", or "rewrite" for a write the
	// Discovery makes on its own: the re-registration after a new session, the retry of
	// a failed write, the restoration of a deleted znode.
	Action  string
	Service string // the service name
	ID      string // the instance id
	// Path is the instance's znode path relative to the namespace (for a
	// DynamicSequential instance, with its sequence suffix once it has one).
	Path     string
	Duration time.Duration
	// Err is nil when the write succeeded. An Update's failed write is still redone in
	// the background; a Register that failed left nothing registered (see
	// discovery.Discovery.Register).
	Err error
	// Outcome is OutcomeOf(Err).
	Outcome Outcome
	Time    time.Time
}

// JoinHooks returns Hooks that call each of hooks in turn, in the order given. A field
// is nil when it is nil in every one of hooks, so it still costs nothing. The joined
// OperationStart passes the context each OperationStart returns on to the next, and the
// Retry and Operation hooks all receive the last one's. The failure behaviour of each
// hook is as documented on Hooks: a panic in one skips the hooks after it.
func JoinHooks(hooks ...Hooks) Hooks {
	var j Hooks
	j.OperationStart = joinStart(hooks)
	j.Operation = join(hooks, func(h *Hooks) func(context.Context, OperationEvent) { return h.Operation })
	j.Retry = join(hooks, func(h *Hooks) func(context.Context, RetryEvent) { return h.Retry })
	j.StateChange = join(hooks, func(h *Hooks) func(context.Context, StateChange) { return h.StateChange })
	j.SessionExpired = join(hooks, func(h *Hooks) func(context.Context, SessionExpiredEvent) { return h.SessionExpired })
	j.Watchdog = join(hooks, func(h *Hooks) func(context.Context, WatchdogEvent) { return h.Watchdog })
	j.Leadership = join(hooks, func(h *Hooks) func(context.Context, LeadershipEvent) { return h.Leadership })
	j.LockAcquired = join(hooks, func(h *Hooks) func(context.Context, LockAcquireEvent) { return h.LockAcquired })
	j.LockReleased = join(hooks, func(h *Hooks) func(context.Context, LockReleaseEvent) { return h.LockReleased })
	j.CacheSize = join(hooks, func(h *Hooks) func(context.Context, CacheSizeEvent) { return h.CacheSize })
	j.CacheResync = join(hooks, func(h *Hooks) func(context.Context, CacheResyncEvent) { return h.CacheResync })
	j.Registration = join(hooks, func(h *Hooks) func(context.Context, RegistrationEvent) { return h.Registration })
	return j
}

func join[E any](hooks []Hooks, field func(*Hooks) func(context.Context, E)) func(context.Context, E) {
	var fns []func(context.Context, E)
	for i := range hooks {
		if f := field(&hooks[i]); f != nil {
			fns = append(fns, f)
		}
	}
	switch len(fns) {
	case 0:
		return nil
	case 1:
		return fns[0]
	}
	return func(ctx context.Context, ev E) {
		for _, f := range fns {
			f(ctx, ev)
		}
	}
}

func joinStart(hooks []Hooks) func(context.Context, OperationStartEvent) context.Context {
	var fns []func(context.Context, OperationStartEvent) context.Context
	for _, h := range hooks {
		if h.OperationStart != nil {
			fns = append(fns, h.OperationStart)
		}
	}
	switch len(fns) {
	case 0:
		return nil
	case 1:
		return fns[0]
	}
	return func(ctx context.Context, ev OperationStartEvent) context.Context {
		for _, f := range fns {
			if next := f(ctx, ev); next != nil {
				ctx = next
			}
		}
		return ctx
	}
}
