package nodes

import (
	"errors"

	"github.com/zkrecipes/zkrecipes"
)

var (
	// ErrInvalidArgument is matched by the error for a bad path, mode, option or TTL.
	ErrInvalidArgument = errors.New("nodes: invalid argument")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("nodes: closed")
	// ErrStarted is returned by a second Start.
	ErrStarted = errors.New("nodes: already started")
	// ErrTTLUnsupported is matched by the error a TTL node reports when the server refuses
	// TTL nodes: ZooKeeper answers UNIMPLEMENTED unless zoo.cfg sets
	// extendedTypesEnabled=true. It is zkrecipes.ErrTTLUnsupported.
	ErrTTLUnsupported = zkrecipes.ErrTTLUnsupported
)
