package leader

import (
	"errors"
	"fmt"

	"github.com/zkrecipes/zkrecipes"
)

var (
	// ErrClosed is returned by Start after Close, and by Await when the latch
	// is closed while waiting.
	ErrClosed = errors.New("leader: latch closed")
	// ErrStarted is returned by a second Start.
	ErrStarted = errors.New("leader: latch already started")
	// ErrInvalidOption wraps every error about a bad option or argument of
	// New or Run.
	ErrInvalidOption = errors.New("leader: invalid option")
	// ErrNoLeader is returned by Latch.Leader and CurrentLeader when the
	// latch path has no participant.
	ErrNoLeader = errors.New("leader: no leader")
	// ErrNotLeader is returned by Term.Multi when the term no longer holds.
	ErrNotLeader = errors.New("leader: not leader")
	// ErrLeadershipLost is the cause (context.Cause) of the cancellation of a
	// term's context in Run; the wrapping error says why leadership ended.
	ErrLeadershipLost = errors.New("leader: leadership lost")
)

// Why leadership ends; each wraps ErrLeadershipLost.
var (
	errSuspended    = fmt.Errorf("%w: connection suspended", ErrLeadershipLost)
	errSessionLost  = fmt.Errorf("%w: session lost", ErrLeadershipLost)
	errNodeGone     = fmt.Errorf("%w: own node deleted", ErrLeadershipLost)
	errPathGone     = fmt.Errorf("%w: latch path deleted", ErrLeadershipLost)
	errNotFirst     = fmt.Errorf("%w: another node is ahead", ErrLeadershipLost)
	errStaleSession = fmt.Errorf("%w: own node belongs to an old session", ErrLeadershipLost)
	errClientClosed = fmt.Errorf("%w: client closed", ErrLeadershipLost)
	errLatchClosed  = fmt.Errorf("%w: latch closed", ErrLeadershipLost)
	errClientGone   = fmt.Errorf("leader: client closed: %w", zkrecipes.ErrClosed)
)
