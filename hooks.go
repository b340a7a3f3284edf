package zkrecipes

import "time"

// Hooks receives metrics events. Every field is optional. Hooks are called synchronously
// on the goroutine doing the work (StateChange on a listener goroutine of its own), so
// they must be fast and must not call back into the Client.
type Hooks struct {
	// Operation is called once per operation, after its last attempt.
	Operation func(OperationEvent)
	// Retry is called before each retry sleep.
	Retry func(RetryEvent)
	// StateChange is called for every connection state transition.
	StateChange func(StateChange)
	// Leadership is called by the leader package's latches (and Run) built on this Client
	// whenever one gains or loses leadership, on the latch's own goroutine.
	Leadership func(LeadershipEvent)
	// Watchdog is called, on the watchdog's goroutine, each time the Client's watchdog
	// fires: calls were pending, the client connected, and no call returned for the
	// negotiated session timeout, so the Client closes the TCP connection and go-zk
	// reconnects (resuming the session if the server still has it). The Client also logs
	// a warning (an error when Wedged).
	Watchdog func(WatchdogEvent)
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

// OperationEvent describes one finished operation.
type OperationEvent struct {
	Op       string        // "create", "get", "set", "delete", "children", "exists", "multi", "sync"
	Path     string        // relative to the namespace
	Duration time.Duration // from the first attempt to the result, retry sleeps included
	Attempts int
	Err      error // nil on success
}

// RetryEvent describes a retry about to happen.
type RetryEvent struct {
	Op      string
	Path    string
	Attempt int           // retries made so far (0 before the first retry)
	Err     error         // the error that caused the retry
	Sleep   time.Duration // how long the client waits before the retry
}
