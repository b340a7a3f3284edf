package retry

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-zookeeper/zk"
)

// go-zk has no sentinels for the server codes ConnectionLoss (-4) and OperationTimeout
// (-7): it builds these errors with fmt.Errorf("unknown error: %v", code), so only their
// text identifies them.
const (
	connectionLossText   = "unknown error: -4"
	operationTimeoutText = "unknown error: -7"
)

// IsRetriable reports whether err belongs to Curator's connection-loss class, the only
// errors worth retrying because the operation may succeed once the client reconnects:
// zk.ErrConnectionClosed, zk.ErrNoServer, zk.ErrSessionMoved, zk.ErrSessionExpired, and
// the errors go-zk returns for the server codes ConnectionLoss and OperationTimeout
// ("unknown error: -4" and "unknown error: -7"). Transport errors count too: go-zk hands
// a request the raw error of a write that failed on a breaking connection (*net.OpError,
// net.ErrClosed, io.EOF, ECONNRESET, EPIPE, a deadline), which is a connection loss by
// another name. It looks through %w wrapping and errors.Join.
//
// Everything else is final, notably zk.ErrNoNode, zk.ErrNodeExists, zk.ErrBadVersion,
// zk.ErrNoAuth, zk.ErrInvalidACL, zk.ErrBadArguments and zk.ErrClosing. An error that
// also carries context.Canceled or context.DeadlineExceeded is never retriable, because
// the caller has given up; nor is one marked with backoff.Permanent, so operations
// written for cenkalti/backoff keep their meaning. Nor is an error that reports a write
// whose outcome is unknown (zkrecipes.ErrOutcomeUnknown, recognised by an
// OutcomeUnknown() bool method): the write may have been applied, and a blind retry
// could apply it twice. IsRetriable(nil) is false.
func IsRetriable(err error) bool {
	if err == nil ||
		errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, &backoff.PermanentError{}) ||
		inTree(err, func(e error) bool {
			u, ok := e.(interface{ OutcomeUnknown() bool })
			return ok && u.OutcomeUnknown()
		}) {
		return false
	}
	if errors.Is(err, zk.ErrConnectionClosed) ||
		errors.Is(err, zk.ErrNoServer) ||
		errors.Is(err, zk.ErrSessionMoved) ||
		errors.Is(err, zk.ErrSessionExpired) {
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) ||
		errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	return inTree(err, func(e error) bool {
		s := e.Error()
		return s == connectionLossText || s == operationTimeoutText
	})
}

// inTree reports whether match holds for err or any error it wraps, following the same
// Unwrap() error and Unwrap() []error methods as errors.Is.
func inTree(err error, match func(error) bool) bool {
	if err == nil {
		return false
	}
	if match(err) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return inTree(u.Unwrap(), match)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if inTree(e, match) {
				return true
			}
		}
	}
	return false
}

// Classifier is an optional interface of a [Policy] that decides for itself which errors
// it retries, like Curator's RetryPolicy.allowRetry(Throwable). A policy that does not
// implement it retries exactly the errors [IsRetriable] accepts.
//
// Retry loops should not ask a Classifier directly but call [Retriable], which supplies
// the default; [Do] does so, and so must any other loop that runs a Policy, such as the
// zkrecipes Client's.
type Classifier interface {
	// Retriable reports whether an operation that failed with the non-nil err may be
	// retried. Next is asked only when it returns true.
	Retriable(err error) bool
}

// Retriable reports whether p allows retrying an operation that failed with err:
// p.Retriable(err) when p is a [Classifier], otherwise [IsRetriable](err). A nil err is
// never retriable; a nil p uses IsRetriable.
func Retriable(p Policy, err error) bool {
	if err == nil {
		return false
	}
	if c, ok := p.(Classifier); ok {
		return c.Retriable(err)
	}
	return IsRetriable(err)
}

// SessionFailed returns Curator's SessionFailedRetryPolicy(delegate): it never retries
// an error that matches zk.ErrSessionExpired, and otherwise decides like delegate, both
// which errors to retry ([Retriable]) and when ([Policy.Next]). Use it when an operation
// must not silently continue in a new session, for example one that relies on
// ephemeral nodes of the old one. A nil delegate never retries.
func SessionFailed(delegate Policy) Policy {
	if delegate == nil {
		delegate = NTimes(0, 0)
	}
	return sessionFailed{delegate: delegate}
}

type sessionFailed struct {
	delegate Policy
}

func (p sessionFailed) Next(attempt int, elapsed time.Duration) (time.Duration, bool) {
	return p.delegate.Next(attempt, elapsed)
}

func (p sessionFailed) Retriable(err error) bool {
	return !errors.Is(err, zk.ErrSessionExpired) && Retriable(p.delegate, err)
}
