package leader_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zkrecipes/zkrecipes/leader"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// termLog records the terms Run hands out and checks that no two overlap:
// fn bodies must never run at the same time, since Run releases the node
// only after fn returned.
type termLog struct {
	mu      sync.Mutex
	active  int
	terms   []leader.Term
	started chan leader.Term
	errs    []string
}

func (tl *termLog) enter(term leader.Term) {
	tl.mu.Lock()
	tl.active++
	if tl.active > 1 {
		tl.errs = append(tl.errs, fmt.Sprintf("%v started while another term ran", term))
	}
	if n := len(tl.terms); n > 0 && tl.terms[n-1].Token >= term.Token {
		tl.errs = append(tl.errs, fmt.Sprintf("token of %v not above %v", term, tl.terms[n-1]))
	}
	tl.terms = append(tl.terms, term)
	tl.mu.Unlock()
	tl.started <- term
}

func (tl *termLog) leave() {
	tl.mu.Lock()
	tl.active--
	tl.mu.Unlock()
}

func (tl *termLog) check(t *testing.T) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if len(tl.errs) > 0 {
		t.Fatal(strings.Join(tl.errs, "\n"))
	}
}

func TestRunOneTermAtATime(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	ctx, cancel := context.WithCancel(testkit.Ctx(t))
	tl := &termLog{started: make(chan leader.Term, 100)}
	resign := map[string]chan struct{}{}
	for i := 0; i < 3; i++ {
		resign[fmt.Sprintf("r%d", i)] = make(chan struct{}, 10)
	}
	var wg sync.WaitGroup
	results := make(chan error, 3)
	for i := 0; i < 3; i++ {
		id := fmt.Sprintf("r%d", i)
		c := testkit.Connect(t, srv.Servers(), ns)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- leader.Run(ctx, c, "/e", id, func(ctx context.Context, term leader.Term) error {
				tl.enter(term)
				defer tl.leave()
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-resign[id]:
					return nil // done with this term: requeue
				}
			})
		}()
	}
	// Six handovers: each time the leader returns, another participant (the
	// next in line) is elected, and the one who resigned queues up again.
	var prev leader.Term
	for i := 0; i < 6; i++ {
		term := <-tl.started
		if i > 0 && term.ID == prev.ID {
			t.Fatalf("term %d went to %s again although others were waiting", i, term.ID)
		}
		prev = term
		resign[term.ID] <- struct{}{}
	}
	<-tl.started
	cancel()
	wg.Wait()
	close(results)
	for err := range results {
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v after cancel, want context.Canceled", err)
		}
	}
	tl.check(t)
	waitParticipants(t, testkit.Connect(t, srv.Servers(), ns), "/e", 0)
}

func TestRunReturns(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	c := testkit.Connect(t, srv.Servers(), ns)
	ctx := testkit.Ctx(t)

	boom := errors.New("boom")
	if err := leader.Run(ctx, c, "/e", "x", func(context.Context, leader.Term) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Run with a failing fn = %v", err)
	}
	waitParticipants(t, c, "/e", 0)

	var calls atomic.Int32
	err := leader.Run(ctx, c, "/e", "x", func(_ context.Context, term leader.Term) error {
		calls.Add(1)
		return nil
	}, leader.WithRequeue(false))
	if err != nil || calls.Load() != 1 {
		t.Fatalf("Run without requeue = %v after %d calls", err, calls.Load())
	}

	// With requeue, a fn that returns nil is called again for a new term.
	var tokens []int64
	errDone := errors.New("enough")
	err = leader.Run(ctx, c, "/e", "x", func(_ context.Context, term leader.Term) error {
		tokens = append(tokens, term.Token)
		if len(tokens) == 3 {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) || len(tokens) != 3 || !(tokens[0] < tokens[1] && tokens[1] < tokens[2]) {
		t.Fatalf("Run with requeue = %v, tokens %v", err, tokens)
	}

	if err := leader.Run(ctx, nil, "x", "\xff", nil, leader.WithListener(leader.ListenerFuncs{})); !errors.Is(err, leader.ErrInvalidOption) ||
		!strings.Contains(err.Error(), "nil function") || !strings.Contains(err.Error(), "UTF-8") ||
		!strings.Contains(err.Error(), "WithListener") || !strings.Contains(err.Error(), "nil client") {
		t.Fatalf("Run with bad arguments = %v", err)
	}
}

func TestRunCancelsWhenTheNodeIsDeleted(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	c := testkit.Connect(t, srv.Servers(), ns)
	admin := testkit.Connect(t, srv.Servers(), ns)
	ctx, cancel := context.WithCancel(testkit.Ctx(t))
	defer cancel()
	type termEnd struct {
		term  leader.Term
		cause error
	}
	ends := make(chan termEnd, 10)
	started := make(chan leader.Term, 10)
	done := make(chan error, 1)
	go func() {
		done <- leader.Run(ctx, c, "/e", "x", func(ctx context.Context, term leader.Term) error {
			started <- term
			<-ctx.Done()
			ends <- termEnd{term, context.Cause(ctx)}
			return ctx.Err()
		})
	}()
	first := <-started
	if err := admin.Delete(ctx, first.Node, -1); err != nil {
		t.Fatal(err)
	}
	end := <-ends
	if end.term != first || !errors.Is(end.cause, leader.ErrLeadershipLost) {
		t.Fatalf("term ended with cause %v", end.cause)
	}
	second := <-started // requeued and elected again, with a new node
	if second.Token <= first.Token || second.Node == first.Node {
		t.Fatalf("second term %v after %v", second, first)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	if end := <-ends; !errors.Is(end.cause, context.Canceled) {
		t.Fatalf("cancelled term's cause = %v", end.cause)
	}
}
