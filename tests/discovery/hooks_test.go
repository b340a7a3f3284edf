package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

type ctxKey struct{}

// regLog records the Registration hook's events as lines.
type regLog struct {
	mu     sync.Mutex
	lines  []string
	notify chan struct{}
}

func (l *regLog) hooks(t *testing.T) zkrecipes.Hooks {
	return zkrecipes.Hooks{Registration: func(ctx context.Context, ev zkrecipes.RegistrationEvent) {
		// A caller's call hands its context on; the Discovery's own rewrites have none.
		if (ev.Action == "rewrite") != (ctx.Value(ctxKey{}) == nil) {
			t.Errorf("%s of %s: context %v", ev.Action, ev.Path, ctx)
		}
		if ev.Outcome != zkrecipes.OutcomeOf(ev.Err) || ev.Time.IsZero() || ev.Service != "svc" {
			t.Errorf("event %+v", ev)
		}
		path := ev.Path
		if rest, ok := strings.CutPrefix(path, "/services/svc/"+ev.ID); ok && len(rest) == 10 {
			path = "/services/svc/" + ev.ID + "<seq>"
		}
		l.mu.Lock()
		l.lines = append(l.lines, fmt.Sprintf("%s %s %s %v", ev.Action, ev.ID, path, ev.Outcome))
		l.mu.Unlock()
		select {
		case l.notify <- struct{}{}:
		default:
		}
	}}
}

func (l *regLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

func (l *regLog) await(t *testing.T, n int) {
	t.Helper()
	deadline := time.NewTimer(testkit.Patience)
	defer deadline.Stop()
	for len(l.get()) < n {
		select {
		case <-l.notify:
		case <-deadline.C:
			t.Fatalf("fewer than %d registration events within %v: %q", n, testkit.Patience, l.get())
		}
	}
}

// The Registration hook hears each Register, Update and Unregister with its outcome
// (an unknown one for a sequential create whose reply was lost), the re-registration after
// the session expired as a "rewrite", and the unregistrations of Close.
func TestRegistrationHook(t *testing.T) {
	ctx := context.WithValue(testkit.Ctx(t), ctxKey{}, "caller")
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	fd := zktest.NewFaultDialer()
	log := &regLog{notify: make(chan struct{}, 1)}
	c := connect(t, srv, ns, zkrecipes.WithDialer(fd.Dial), zkrecipes.WithSessionTimeout(time.Second), zkrecipes.WithHooks(log.hooks(t)))
	states := logStates(t, c)
	d, err := discovery.New[instanceDetails](c, "/services", discovery.WithSerializer(discovery.JSON[instanceDetails](discovery.WithJavaClass(seedClass))))
	if err != nil {
		t.Fatal(err)
	}
	dyn := mustInstance(t, "svc", false, discovery.WithID("dyn"))
	if err := d.Register(ctx, dyn); err != nil {
		t.Fatal(err)
	}
	dyn.Payload.Leader = true
	if err := d.Update(ctx, dyn); err != nil {
		t.Fatal(err)
	}
	if err := d.Update(ctx, mustInstance(t, "svc", false, discovery.WithID("nobody"))); !errors.Is(err, discovery.ErrNotRegistered) {
		t.Fatalf("update of an unregistered instance: %v", err)
	}
	bad := mustInstance(t, "svc", false)
	bad.Name = "a/b"
	if err := d.Register(ctx, bad); !errors.Is(err, discovery.ErrInvalidInstance) { // invalid: no event
		t.Fatalf("register of an invalid instance: %v", err)
	}

	// The session expires: the instance is written again under the new session.
	_, _, gone, err := connect(t, srv, ns).ExistsW(ctx, "/services/svc/dyn")
	if err != nil {
		t.Fatal(err)
	}
	fd.Cut()
	states.waitFor(t, 0, zkrecipes.StateLost)
	select {
	case <-gone:
	case <-ctx.Done():
		t.Fatal("the server never expired the session")
	}
	fd.Heal()
	log.await(t, 4)

	seq := mustInstance(t, "svc", false, discovery.WithID("seq"), discovery.WithServiceType(discovery.DynamicSequential))
	lost := fd.LoseNextReply(func(op int32, p string) bool {
		return (op == zktest.OpCreate || op == zktest.OpCreate2) && strings.HasPrefix(p, "/"+ns+"/services/svc/seq")
	})
	if err := d.Register(ctx, seq); !errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
		t.Fatalf("register with a lost reply: %v, want an unknown outcome", err)
	}
	select {
	case <-lost:
	default:
		t.Fatal("the reply was never lost")
	}
	if err := d.Register(ctx, seq); err != nil {
		t.Fatal(err)
	}
	if err := d.Unregister(ctx, dyn); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(ctx); err != nil { // unregisters seq
		t.Fatal(err)
	}
	want := []string{
		"register dyn /services/svc/dyn ok",
		"update dyn /services/svc/dyn ok",
		"update nobody /services/svc/nobody error",
		"rewrite dyn /services/svc/dyn ok",
		"register seq /services/svc/seq unknown",
		"register seq /services/svc/seq<seq> ok",
		"unregister dyn /services/svc/dyn ok",
		"unregister seq /services/svc/seq<seq> ok",
	}
	if got := log.get(); !slices.Equal(got, want) {
		t.Fatalf("registration events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// A discovery Cache tells the CacheSize hook how many instances it holds: after the
// initial load, and whenever the number changes.
func TestCacheSizeHook(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	sizes := make(chan zkrecipes.CacheSizeEvent, 16)
	c := connect(t, srv, ns, zkrecipes.WithHooks(zkrecipes.Hooks{CacheSize: func(ctx context.Context, ev zkrecipes.CacheSizeEvent) {
		sizes <- ev
	}}))
	writer := newDiscovery(t, connect(t, srv, ns))
	next := func(want int) {
		t.Helper()
		select {
		case ev := <-sizes:
			if ev.Size != want || ev.Path != "/services/svc" || ev.Kind != "discovery" || ev.Time.IsZero() {
				t.Fatalf("cache size event %+v, want size %d", ev, want)
			}
		case <-ctx.Done():
			t.Fatalf("no cache size event (want size %d)", want)
		}
	}
	a, b := mustInstance(t, "svc", false), mustInstance(t, "svc", false)
	if err := writer.Register(ctx, a); err != nil {
		t.Fatal(err)
	}
	startCache(t, newDiscovery(t, c), "svc")
	next(1)
	if err := writer.Register(ctx, b); err != nil {
		t.Fatal(err)
	}
	next(2)
	a.Payload.Leader = true
	if err := writer.Update(ctx, a); err != nil { // same size: no event
		t.Fatal(err)
	}
	if err := writer.Unregister(ctx, b); err != nil {
		t.Fatal(err)
	}
	next(1)
	select {
	case ev := <-sizes:
		t.Fatalf("unexpected cache size event %+v", ev)
	default:
	}
}
