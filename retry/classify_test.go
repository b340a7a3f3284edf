package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-zookeeper/zk"
)

// serverCodeError builds the error exactly as go-zk does for a server code that has no
// sentinel.
func serverCodeError(code zk.ErrCode) error {
	return fmt.Errorf("unknown error: %v", code)
}

func TestIsRetriable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"ErrConnectionClosed", zk.ErrConnectionClosed, true},
		{"ErrNoServer", zk.ErrNoServer, true},
		{"ErrSessionMoved", zk.ErrSessionMoved, true},
		{"ErrSessionExpired", zk.ErrSessionExpired, true},
		{"ConnectionLoss -4", serverCodeError(-4), true},
		{"OperationTimeout -7", serverCodeError(-7), true},

		// go-zk passes on the raw error of a write on a breaking connection.
		{"write on a closed conn", &net.OpError{Op: "write", Net: "tcp", Err: net.ErrClosed}, true},
		{"net.ErrClosed", net.ErrClosed, true},
		{"io.EOF", io.EOF, true},
		{"ECONNRESET", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"EPIPE", os.NewSyscallError("write", syscall.EPIPE), true},
		{"write deadline", os.ErrDeadlineExceeded, true},

		{"ErrNoNode", zk.ErrNoNode, false},
		{"ErrNodeExists", zk.ErrNodeExists, false},
		{"ErrBadVersion", zk.ErrBadVersion, false},
		{"ErrNoAuth", zk.ErrNoAuth, false},
		{"ErrInvalidACL", zk.ErrInvalidACL, false},
		{"ErrBadArguments", zk.ErrBadArguments, false},
		{"ErrClosing", zk.ErrClosing, false},
		{"ErrNotEmpty", zk.ErrNotEmpty, false},
		{"ErrAuthFailed", zk.ErrAuthFailed, false},
		{"ErrUnknown", zk.ErrUnknown, false},
		{"ErrInvalidPath", zk.ErrInvalidPath, false},
		{"MarshallingError -5", serverCodeError(-5), false},
		{"SystemError -1", serverCodeError(-1), false},
		{"code -42 is not -4", serverCodeError(-42), false},
		{"code -70 is not -7", serverCodeError(-70), false},
		{"text inside a longer message", errors.New("not an unknown error: -4 at all"), false},
		{"context.Canceled", context.Canceled, false},
		{"context.DeadlineExceeded", context.DeadlineExceeded, false},
		{"plain error", errors.New("boom"), false},

		{"wrapped ErrConnectionClosed", fmt.Errorf("get /a: %w", zk.ErrConnectionClosed), true},
		{"twice wrapped ErrSessionExpired", fmt.Errorf("op: %w", fmt.Errorf("get /a: %w", zk.ErrSessionExpired)), true},
		{"wrapped -4", fmt.Errorf("create /a: %w", serverCodeError(-4)), true},
		{"twice wrapped -7", fmt.Errorf("op: %w", fmt.Errorf("set /a: %w", serverCodeError(-7))), true},
		{"joined -4", errors.Join(errors.New("first"), serverCodeError(-4)), true},
		{"multi-%w with -7", fmt.Errorf("%w; %w", errors.New("x"), serverCodeError(-7)), true},
		{"wrapped ErrNoNode", fmt.Errorf("get /a: %w", zk.ErrNoNode), false},
		{"-4 wrapped with %v loses identity", fmt.Errorf("get /a: %v", serverCodeError(-4)), false},

		{"canceled with connection loss", fmt.Errorf("%w (last error: %w)", context.Canceled, zk.ErrConnectionClosed), false},
		{"deadline joined with -4", errors.Join(context.DeadlineExceeded, serverCodeError(-4)), false},
		{"backoff.Permanent", backoff.Permanent(zk.ErrConnectionClosed), false},
		{"wrapped backoff.Permanent", fmt.Errorf("op: %w", backoff.Permanent(serverCodeError(-4))), false},
	}
	for _, tt := range tests {
		if got := IsRetriable(tt.err); got != tt.want {
			t.Errorf("%s: IsRetriable(%v) = %t, want %t", tt.name, tt.err, got, tt.want)
		}
	}
}

// The text match relies on go-zk's formatting; pin it so an upgrade that changes it fails here.
func TestServerCodeErrorText(t *testing.T) {
	if got := serverCodeError(-4).Error(); got != connectionLossText {
		t.Errorf("go-zk style error for -4 reads %q, want %q", got, connectionLossText)
	}
	if got := serverCodeError(-7).Error(); got != operationTimeoutText {
		t.Errorf("go-zk style error for -7 reads %q, want %q", got, operationTimeoutText)
	}
}

type onlyNoNode struct{ Policy }

func (onlyNoNode) Retriable(err error) bool { return errors.Is(err, zk.ErrNoNode) }

func TestRetriable(t *testing.T) {
	plain := NTimes(3, 0)
	custom := onlyNoNode{plain}
	tests := []struct {
		name string
		p    Policy
		err  error
		want bool
	}{
		{"default class, retriable", plain, zk.ErrConnectionClosed, true},
		{"default class, final", plain, zk.ErrNoNode, false},
		{"nil policy uses default", nil, zk.ErrConnectionClosed, true},
		{"nil error", plain, nil, false},
		{"classifier overrides: NoNode", custom, zk.ErrNoNode, true},
		{"classifier overrides: connection loss", custom, zk.ErrConnectionClosed, false},
		{"classifier never sees nil", custom, nil, false},
	}
	for _, tt := range tests {
		if got := Retriable(tt.p, tt.err); got != tt.want {
			t.Errorf("%s: Retriable = %t, want %t", tt.name, got, tt.want)
		}
	}
}

func TestSessionFailed(t *testing.T) {
	const s = 3 * time.Millisecond
	p := SessionFailed(NTimes(2, s))
	checkDecisions(t, "SessionFailed(NTimes(2))", p, []decision{
		{0, 0, s, true},
		{1, time.Hour, s, true},
		{2, 0, 0, false},
	})
	tests := []struct {
		err  error
		want bool
	}{
		{zk.ErrSessionExpired, false},
		{fmt.Errorf("get /a: %w", zk.ErrSessionExpired), false},
		{zk.ErrConnectionClosed, true},
		{zk.ErrSessionMoved, true},
		{serverCodeError(-4), true},
		{zk.ErrNoNode, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := Retriable(p, tt.err); got != tt.want {
			t.Errorf("Retriable(SessionFailed, %v) = %t, want %t", tt.err, got, tt.want)
		}
	}

	// The delegate's own classification still applies to everything but expiry.
	custom := SessionFailed(onlyNoNode{NTimes(1, 0)})
	if !Retriable(custom, zk.ErrNoNode) || Retriable(custom, zk.ErrConnectionClosed) {
		t.Error("SessionFailed did not defer to the delegate's Classifier")
	}
	// Nested wrappers keep refusing expiry.
	if Retriable(SessionFailed(SessionFailed(Forever(0))), zk.ErrSessionExpired) {
		t.Error("nested SessionFailed retries session expiry")
	}

	checkDecisions(t, "SessionFailed(nil)", SessionFailed(nil), []decision{{0, 0, 0, false}})
	if Retriable(SessionFailed(nil), zk.ErrConnectionClosed) != true {
		t.Error("SessionFailed(nil) should still classify connection loss as retriable (Next refuses)")
	}
}
