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
	// connection timeout.
	ErrConnectTimeout = errors.New("zkrecipes: timed out establishing a ZooKeeper session")
	// ErrInvalidArgument is returned for a bad option or argument value; the message names it.
	ErrInvalidArgument = errors.New("zkrecipes: invalid argument")
)

// OpError describes a failed operation: which one, on which path (relative to the
// namespace), after how many attempts, and why. Unwrap returns the cause, so errors.Is
// matches go-zk's sentinels (zk.ErrNoNode, zk.ErrNodeExists, ...) and this package's.
type OpError struct {
	Op       string // operation name, e.g. "create", "get", "delete"
	Path     string // path as the caller gave it (relative to the namespace)
	Attempts int    // attempts made, including the first
	Err      error  // the cause
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
