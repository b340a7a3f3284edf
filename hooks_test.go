package zkrecipes_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
)

type ctxKey string

// JoinHooks calls every set hook in order, threads OperationStart's contexts, and leaves
// a field nil when no input sets it.
func TestJoinHooks(t *testing.T) {
	var calls []string
	mk := func(name string) zkrecipes.Hooks {
		return zkrecipes.Hooks{
			OperationStart: func(ctx context.Context, ev zkrecipes.OperationStartEvent) context.Context {
				calls = append(calls, name+" start "+fmt.Sprint(ctx.Value(ctxKey("k"))))
				return context.WithValue(ctx, ctxKey("k"), name)
			},
			Operation: func(ctx context.Context, ev zkrecipes.OperationEvent) {
				calls = append(calls, name+" op "+fmt.Sprint(ctx.Value(ctxKey("k"))))
			},
		}
	}
	nilStart := zkrecipes.Hooks{OperationStart: func(context.Context, zkrecipes.OperationStartEvent) context.Context { return nil }}
	j := zkrecipes.JoinHooks(mk("a"), zkrecipes.Hooks{}, nilStart, mk("b"))
	ctx := j.OperationStart(context.WithValue(context.Background(), ctxKey("k"), "caller"), zkrecipes.OperationStartEvent{})
	j.Operation(ctx, zkrecipes.OperationEvent{})
	want := []string{"a start caller", "b start a", "a op b", "b op b"}
	if !slices.Equal(calls, want) {
		t.Fatalf("calls %q, want %q", calls, want)
	}
	if j.Retry != nil || j.StateChange != nil || j.Registration != nil || j.LockAcquired != nil {
		t.Fatal("JoinHooks set a hook that no input has")
	}
	one := zkrecipes.Hooks{Leadership: func(context.Context, zkrecipes.LeadershipEvent) {}}
	if zkrecipes.JoinHooks(one).Leadership == nil || zkrecipes.JoinHooks().Operation != nil {
		t.Fatal("JoinHooks of one or none")
	}
}

func TestOutcomeAndErrorCode(t *testing.T) {
	unknown := &zkrecipes.OpError{Op: "create", Path: "/x", Err: fmt.Errorf("%w: %w", zkrecipes.ErrOutcomeUnknown, zk.ErrConnectionClosed)}
	for _, tc := range []struct {
		err     error
		outcome zkrecipes.Outcome
		code    string
	}{
		{nil, zkrecipes.OutcomeOK, "ok"},
		{&zkrecipes.OpError{Op: "get", Path: "/x", Err: zk.ErrNoNode}, zkrecipes.OutcomeFailed, "no_node"},
		{fmt.Errorf("wrapped: %w", zk.ErrBadVersion), zkrecipes.OutcomeFailed, "bad_version"},
		{unknown, zkrecipes.OutcomeUnknown, "connection_loss"},
		{errors.Join(zkrecipes.ErrClosed, zk.ErrClosing), zkrecipes.OutcomeFailed, "closed"},
		{context.DeadlineExceeded, zkrecipes.OutcomeFailed, "deadline_exceeded"},
		{errors.New("something else"), zkrecipes.OutcomeFailed, "error"},
	} {
		if got := zkrecipes.OutcomeOf(tc.err); got != tc.outcome {
			t.Errorf("OutcomeOf(%v) = %v, want %v", tc.err, got, tc.outcome)
		}
		if got := zkrecipes.ErrorCode(tc.err); got != tc.code {
			t.Errorf("ErrorCode(%v) = %q, want %q", tc.err, got, tc.code)
		}
	}
	if zkrecipes.OutcomeOK.String() != "ok" || zkrecipes.OutcomeFailed.String() != "error" || zkrecipes.OutcomeUnknown.String() != "unknown" {
		t.Fatal("Outcome names")
	}
}
