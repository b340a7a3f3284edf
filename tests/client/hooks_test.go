package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/retry"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

type ctxKey string

// hookLog records the hook events of one Client as lines, in the order the hooks ran,
// and checks on the way that every hook got the context it should.
type hookLog struct {
	t      testing.TB
	prefix string // only operations on paths under it are recorded
	mu     sync.Mutex
	lines  []string
	spans  int
	signal chan struct{}
}

func newHookLog(t testing.TB, prefix string) *hookLog {
	return &hookLog{t: t, prefix: prefix, signal: make(chan struct{}, 1)}
}

func (l *hookLog) add(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
	select {
	case l.signal <- struct{}{}:
	default:
	}
}

func (l *hookLog) mine(path string) bool { return strings.HasPrefix(path, l.prefix) }

// hooks returns Hooks that record into l. OperationStart checks that it got the caller's
// context (carrying "caller") and returns one carrying a "span" number, which Retry and
// Operation must receive; Operation also checks its session id against sid.
func (l *hookLog) hooks(sid func() int64) zkrecipes.Hooks {
	return zkrecipes.Hooks{
		OperationStart: func(ctx context.Context, ev zkrecipes.OperationStartEvent) context.Context {
			if !l.mine(ev.Path) {
				return ctx
			}
			if ctx.Value(ctxKey("caller")) == nil {
				l.t.Errorf("OperationStart %s %s: not the caller's context", ev.Op, ev.Path)
			}
			if ev.Time.IsZero() {
				l.t.Errorf("OperationStart %s %s: no time", ev.Op, ev.Path)
			}
			l.mu.Lock()
			l.spans++
			span := l.spans
			l.mu.Unlock()
			l.add("start %s %s", ev.Op, strings.TrimPrefix(ev.Path, l.prefix))
			return context.WithValue(ctx, ctxKey("span"), span)
		},
		Operation: func(ctx context.Context, ev zkrecipes.OperationEvent) {
			if !l.mine(ev.Path) {
				return
			}
			if ctx.Value(ctxKey("span")) == nil || ctx.Value(ctxKey("caller")) == nil {
				l.t.Errorf("Operation %s %s: not the context OperationStart returned", ev.Op, ev.Path)
			}
			if ev.Outcome != zkrecipes.OutcomeOf(ev.Err) {
				l.t.Errorf("Operation %s %s: outcome %v for %v", ev.Op, ev.Path, ev.Outcome, ev.Err)
			}
			if got := sid(); ev.SessionID != got {
				l.t.Errorf("Operation %s %s: session %#x, client's %#x", ev.Op, ev.Path, ev.SessionID, got)
			}
			l.add("op %s %s attempts=%d %s %s", ev.Op, strings.TrimPrefix(ev.Path, l.prefix), ev.Attempts, ev.Outcome, zkrecipes.ErrorCode(ev.Err))
		},
		Retry: func(ctx context.Context, ev zkrecipes.RetryEvent) {
			if !l.mine(ev.Path) {
				return
			}
			if ctx.Value(ctxKey("span")) == nil {
				l.t.Errorf("Retry %s %s: not the context OperationStart returned", ev.Op, ev.Path)
			}
			l.add("retry %s %s attempt=%d sleep=%v %s", ev.Op, strings.TrimPrefix(ev.Path, l.prefix), ev.Attempt, ev.Sleep, zkrecipes.ErrorCode(ev.Err))
		},
	}
}

// stateHooks returns Hooks that record state changes and expiries, with session ids
// named in order of appearance (s1, s2, ...).
func (l *hookLog) stateHooks() zkrecipes.Hooks {
	names := map[int64]string{}
	name := func(sid int64) string { // only ever called on the hooks goroutine
		if _, ok := names[sid]; !ok {
			names[sid] = fmt.Sprintf("s%d", len(names)+1)
		}
		return names[sid]
	}
	return zkrecipes.Hooks{
		StateChange: func(ctx context.Context, sc zkrecipes.StateChange) {
			if ctx == nil || sc.Time.IsZero() || sc.Initial {
				l.t.Errorf("StateChange %+v with ctx %v", sc, ctx)
			}
			if (sc.State == zkrecipes.StateReconnected) != (sc.Outage > 0) {
				l.t.Errorf("StateChange %v with outage %v", sc.State, sc.Outage)
			}
			l.add("state %v %s new=%v", sc.State, name(sc.SessionID), sc.NewSession)
		},
		SessionExpired: func(ctx context.Context, ev zkrecipes.SessionExpiredEvent) {
			if ctx == nil || ev.Time.IsZero() {
				l.t.Errorf("SessionExpired %+v with ctx %v", ev, ctx)
			}
			l.add("expired %s", name(ev.SessionID))
		},
	}
}

func (l *hookLog) reset() {
	l.mu.Lock()
	l.lines = nil
	l.mu.Unlock()
}

func (l *hookLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

// expect fails the test unless the lines recorded are exactly want.
func (l *hookLog) expect(t testing.TB, want ...string) {
	t.Helper()
	if got := l.get(); !slices.Equal(got, want) {
		t.Fatalf("hook events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// await waits until line has been recorded.
func (l *hookLog) await(t testing.TB, line string) {
	t.Helper()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for !slices.Contains(l.get(), line) {
		select {
		case <-l.signal:
		case <-deadline.C:
			t.Fatalf("no %q within %v; saw %q", line, wait, l.get())
		}
	}
}

func callerCtx(t testing.TB) context.Context {
	return context.WithValue(ctxT(t), ctxKey("caller"), true)
}

// A scripted run of operations gives exactly one OperationStart and one Operation per
// operation, in order, with the caller's context flowing into OperationStart and its
// result into Operation; failures carry their code, and calls refused before anything is
// sent give none.
func TestHooksOperations(t *testing.T) {
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	log := newHookLog(t, base)
	var c *zkrecipes.Client
	c = connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second),
		zkrecipes.WithHooks(log.hooks(func() int64 { return c.SessionID() })))
	ctx := callerCtx(t)
	if err := c.EnsurePath(ctx, base); err != nil {
		t.Fatal(err)
	}
	log.expect(t, "start ensure ", "op ensure  attempts=1 ok ok")
	log.reset()

	if _, err := c.Create(ctx, base+"/n", []byte("a"), zkrecipes.ModePersistent); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, base+"/n"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set(ctx, base+"/n", []byte("b"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Set(ctx, base+"/n", []byte("c"), 0); !errors.Is(err, zk.ErrBadVersion) {
		t.Fatalf("stale set: %v", err)
	}
	if _, _, err := c.Get(ctx, base+"/missing"); !errors.Is(err, zk.ErrNoNode) {
		t.Fatalf("get missing: %v", err)
	}
	if _, _, err := c.Children(ctx, base); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, base+"//bad"); !errors.Is(err, zkrecipes.ErrInvalidPath) {
		t.Fatalf("get of a bad path: %v", err)
	}
	if err := c.Delete(ctx, base+"/n", -1); err != nil {
		t.Fatal(err)
	}
	log.expect(t,
		"start create /n", "op create /n attempts=1 ok ok",
		"start get /n", "op get /n attempts=1 ok ok",
		"start set /n", "op set /n attempts=1 ok ok",
		"start set /n", "op set /n attempts=1 error bad_version",
		"start get /missing", "op get /missing attempts=1 error no_node",
		"start children ", "op children  attempts=1 ok ok",
		"start delete /n", "op delete /n attempts=1 ok ok",
	)
}

// An operation whose reply is lost is retried: one Retry event, with the connection loss
// and the policy's sleep, between its OperationStart and its Operation, which counts two
// attempts and succeeds.
func TestHooksRetriedOperation(t *testing.T) {
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	log := newHookLog(t, base)
	fd := zktest.NewFaultDialer()
	var c *zkrecipes.Client
	c = connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second), zkrecipes.WithDialer(fd.Dial),
		zkrecipes.WithRetryPolicy(retry.NTimes(50, 100*time.Millisecond)),
		zkrecipes.WithHooks(log.hooks(func() int64 { return c.SessionID() })))
	ctx := callerCtx(t)
	if _, err := c.Create(ctx, base, []byte("a"), zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	log.reset()
	lost := fd.LoseNextReply(func(op int32, p string) bool { return op == zktest.OpGetData && p == base })
	data, _, err := c.Get(ctx, base)
	if err != nil || string(data) != "a" {
		t.Fatalf("get: %q, %v", data, err)
	}
	mustFire(t, lost)
	log.expect(t,
		"start get ",
		"retry get  attempt=0 sleep=100ms connection_loss",
		"op get  attempts=2 ok ok",
	)
}

// A sequential create whose reply is lost is not retried (a replay could make a second
// node): its Operation reports an unknown outcome after one attempt, with the cause's
// code, and no Retry.
func TestHooksUnknownOutcome(t *testing.T) {
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	log := newHookLog(t, base)
	fd := zktest.NewFaultDialer()
	var c *zkrecipes.Client
	c = connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second), zkrecipes.WithDialer(fd.Dial),
		zkrecipes.WithRetryPolicy(retry.NTimes(50, 100*time.Millisecond)),
		zkrecipes.WithHooks(log.hooks(func() int64 { return c.SessionID() })))
	ctx := callerCtx(t)
	if err := c.EnsurePath(ctx, base); err != nil {
		t.Fatal(err)
	}
	log.reset()
	lost := fd.LoseNextReply(func(op int32, p string) bool {
		return (op == zktest.OpCreate || op == zktest.OpCreate2) && strings.HasPrefix(p, base+"/seq-")
	})
	_, err := c.Create(ctx, base+"/seq-", nil, zkrecipes.ModePersistentSequential)
	if !errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
		t.Fatalf("create: %v, want an unknown outcome", err)
	}
	mustFire(t, lost)
	log.expect(t,
		"start create /seq-",
		"op create /seq- attempts=1 unknown connection_loss",
	)
}

// State hooks hear every transition from CONNECTED to CLOSED, in order, on the Client's
// own goroutine; a session the server expired gets exactly one SessionExpired, after its
// LOST and before the RECONNECTED with the new session.
func TestHooksSessionExpiry(t *testing.T) {
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	log := newHookLog(t, base)
	fd := zktest.NewFaultDialer()
	ctx := ctxT(t)
	c, err := zkrecipes.Connect(ctx, srv.Servers(), zkrecipes.WithSessionTimeout(time.Second),
		zkrecipes.WithDialer(fd.Dial), zkrecipes.WithHooks(log.stateHooks()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	observer := connect(t, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second))
	if _, err := c.Create(ctx, base+"/eph", nil, zkrecipes.ModeEphemeral, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	_, _, gone, err := observer.ExistsW(ctx, base+"/eph")
	if err != nil {
		t.Fatal(err)
	}
	log.await(t, "state CONNECTED s1 new=true")

	fd.Cut()
	log.await(t, "state LOST s1 new=false")
	select { // the server expires the session on its own
	case <-gone:
	case <-ctx.Done():
		t.Fatal("the server never expired the session")
	}
	fd.Heal()
	log.await(t, "state RECONNECTED s2 new=true")
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	log.expect(t,
		"state CONNECTED s1 new=true",
		"state SUSPENDED s1 new=false",
		"state LOST s1 new=false",
		"expired s1",
		"state RECONNECTED s2 new=true",
		"state CLOSED s2 new=false",
	)
}

// A short cut resumes the session: SUSPENDED and RECONNECTED, and no expiry.
func TestHooksShortCutNoExpiry(t *testing.T) {
	srv := zktest.Start(t)
	log := newHookLog(t, "")
	fd := zktest.NewFaultDialer()
	ctx := ctxT(t)
	c, err := zkrecipes.Connect(ctx, srv.Servers(), zkrecipes.WithSessionTimeout(4*time.Second),
		zkrecipes.WithDialer(fd.Dial), zkrecipes.WithHooks(log.stateHooks()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	log.await(t, "state CONNECTED s1 new=true")
	fd.Cut()
	log.await(t, "state SUSPENDED s1 new=false")
	fd.Heal()
	log.await(t, "state RECONNECTED s1 new=false")
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	log.expect(t,
		"state CONNECTED s1 new=true",
		"state SUSPENDED s1 new=false",
		"state RECONNECTED s1 new=false",
		"state CLOSED s1 new=false",
	)
}
