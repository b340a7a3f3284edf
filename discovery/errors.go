package discovery

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidInstance is returned, before anything is written, for an instance that
	// could not be stored or read back: an empty or unusable name or id, an unknown service
	// type, a port outside 0..65535, or a payload that cannot be encoded.
	ErrInvalidInstance = errors.New("discovery: invalid instance")
	// ErrMalformed is wrapped by every error about data that is not a valid serialized
	// instance: empty, not JSON, a wrong type for a property, an unknown serviceType, a
	// payload of an unexpected Java class.
	ErrMalformed = errors.New("discovery: malformed instance data")
	// ErrUnexpectedClass is wrapped (together with ErrMalformed) when a payload names a
	// Java class other than the one the serializer was configured with.
	ErrUnexpectedClass = errors.New("discovery: unexpected payload class")
	// ErrNotFound is returned when an instance does not exist.
	ErrNotFound = errors.New("discovery: instance not found")
	// ErrNotRegistered is returned by Update for an instance this Discovery did not register.
	ErrNotRegistered = errors.New("discovery: instance not registered here")
	// ErrNoInstances is returned by a Provider when no instance passes its filters.
	ErrNoInstances = errors.New("discovery: no instance available")
	// ErrClosed is returned by operations on a closed Discovery or Cache.
	ErrClosed = errors.New("discovery: closed")
	// ErrNotStarted is returned by a Provider whose Cache was never started.
	ErrNotStarted = errors.New("discovery: cache not started")
	// ErrInvalidURISpec is wrapped by the errors of ParseURISpec.
	ErrInvalidURISpec = errors.New("discovery: invalid URISpec template")
	// ErrInvalidOption is returned by constructors given a bad option value.
	ErrInvalidOption = errors.New("discovery: invalid option")
)

// NodeError is data in ZooKeeper that could not be used, with the znode it came from.
// Caches and Discovery.Instances skip such nodes and report a *NodeError through the
// error handler (see WithErrorHandler). errors.Is(err, ErrMalformed) holds for bad data,
// errors.Is(err, zk.ErrNoAuth) for a znode the Client may not read.
type NodeError struct {
	Path string // znode path, relative to the client's namespace
	Err  error
}

// Error names the znode and the problem.
func (e *NodeError) Error() string { return fmt.Sprintf("discovery: %s: %v", e.Path, e.Err) }

// Unwrap returns the cause.
func (e *NodeError) Unwrap() error { return e.Err }

func malformedf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidInstance}, args...)...)
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
