package zkrecipes

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed is returned by operations on a Client that has been closed.
	ErrClosed = errors.New("zkrecipes: client is closed")
	// ErrInvalidPath is returned for a path ZooKeeper would reject: empty, relative,
	// with a trailing slash, an empty, "." or ".." element, or a NUL character.
	ErrInvalidPath = errors.New("zkrecipes: invalid path")
	// ErrDataTooLarge is returned, before anything is sent, when node data exceeds the
	// client's maximum data size (see WithMaxDataSize). ZooKeeper would otherwise drop the
	// connection, which looks like a connection loss and would be retried in vain.
	ErrDataTooLarge = errors.New("zkrecipes: node data too large")
	// ErrConnectTimeout is returned by Connect when no session is established within the
	// connection timeout. When a connection attempt failed (a refused dial, a TLS handshake,
	// a server that closed the connection before the session handshake), the error also
	// wraps the last such failure, which names the server.
	ErrConnectTimeout = errors.New("zkrecipes: timed out establishing a ZooKeeper session")
	// ErrInvalidArgument is returned for a bad option or argument value; the message names it.
	ErrInvalidArgument = errors.New("zkrecipes: invalid argument")
	// ErrSessionLost is the cause (context.Cause) of a Session context that ended because
	// its session was lost (expired on the server, or suspended for the session timeout)
	// or replaced by a new session. The message names the session and which it was.
	ErrSessionLost = errors.New("zkrecipes: session lost")
)

// OpError describes a failed operation: which one, on which path (relative to the
// namespace), after how many attempts, and why. Unwrap returns the cause, so errors.Is
// matches go-zk's sentinels (zk.ErrNoNode, zk.ErrNodeExists, ...) and this package's.
type OpError struct {
	Op       string // operation name, e.g. "create", "get", "delete"
	Path     string // path as the caller gave it (relative to the namespace)
	Attempts int    // attempts made, including the first
	Err      error  // the cause

	inflight <-chan struct{} // closed when an abandoned attempt returned; nil when none was
}

// Error formats the operation, the path and the cause.
func (e *OpError) Error() string {
	if e.Attempts > 1 {
		return fmt.Sprintf("zkrecipes: %s %s (after %d attempts): %v", e.Op, e.Path, e.Attempts, e.Err)
	}
	return fmt.Sprintf("zkrecipes: %s %s: %v", e.Op, e.Path, e.Err)
}

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

// ErrOutcomeUnknown marks a write whose outcome the Client could not determine: an attempt
// reached (or may have reached) the server, and then the reply was lost to a connection
// failure, or ctx ended while the attempt was in flight. The write may have been applied or
// not; it was not retried, because a retry could apply it a second time. The error also
// matches the cause (zk.ErrConnectionClosed, context.DeadlineExceeded, ...) with errors.Is.
// Use [Settled] to wait until the abandoned attempt has returned before looking at the
// server to find out, or before cleaning up after it.
var ErrOutcomeUnknown = errors.New("zkrecipes: outcome unknown (the write may or may not have been applied)")

// Settled returns a channel that is closed once every attempt of the failed operation that
// returned err has returned, so that what the server holds no longer changes because of it.
// An operation whose ctx ended while an attempt was in flight returns before that attempt
// does (go-zk calls cannot be cancelled); the attempt returns when its reply arrives or when
// its connection fails, within about a session timeout. For any other error, for nil, and
// for errors that are not from a Client operation, the channel is already closed.
func Settled(err error) <-chan struct{} {
	var oe *OpError
	if errors.As(err, &oe) && oe.inflight != nil {
		return oe.inflight
	}
	return closedChan
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()
