package discovery_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/internal/probe"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// opTrap fires once, from the Client's Operation hook (synchronously, on the goroutine
// of the operation, before the caller goes on), when an operation matches.
type opTrap struct {
	mu    sync.Mutex
	match func(zkrecipes.OperationEvent) bool
	do    func()
	fired chan struct{}
}

func newOpTrap(match func(zkrecipes.OperationEvent) bool, do func()) *opTrap {
	return &opTrap{match: match, do: do, fired: make(chan struct{})}
}

func (p *opTrap) observe(ev zkrecipes.OperationEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.match == nil || !p.match(ev) {
		return
	}
	p.match = nil
	if p.do != nil {
		p.do()
	}
	close(p.fired)
}

func (p *opTrap) await(t *testing.T, what string) {
	t.Helper()
	select {
	case <-p.fired:
	case <-time.After(testkit.Patience):
		t.Fatalf("%s: not seen after %v", what, testkit.Patience)
	}
}

// The cleanup of a failed Register survives a partition longer than the retry policy:
// its conditional delete goes into a black hole, runs out of retries and returns an
// unknown outcome; the cleanup tries again after the heal (it re-reads the znode, so that
// is safe) and the phantom instance goes, instead of the cleanup giving up.
func TestRegisterCleanupOutlastsPartition(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	fd := zktest.NewFaultDialer()
	anchor := mustInstance(t, "svc", false, discovery.WithServiceType(discovery.Static))
	in := mustInstance(t, "svc", true, discovery.WithServiceType(discovery.Static)) // persistent: outlives the session
	path := "/services/svc/" + in.ID
	// The cleanup's read of the znode is the last thing before its delete: black-hole the
	// network then, so that the delete is sent into the partition.
	hole := newOpTrap(func(ev zkrecipes.OperationEvent) bool {
		return ev.Op == "get" && ev.Path == path && ev.Err == nil
	}, fd.BlackHole)
	gaveUp := newOpTrap(func(ev zkrecipes.OperationEvent) bool {
		return ev.Op == "delete" && ev.Path == path && errors.Is(ev.Err, zkrecipes.ErrOutcomeUnknown)
	}, nil)
	a := connect(t, srv, ns, zkrecipes.WithDialer(fd.Dial), zkrecipes.WithHooks(zkrecipes.Hooks{
		Operation: func(_ context.Context, ev zkrecipes.OperationEvent) {
			hole.observe(ev)
			gaveUp.observe(ev)
		},
	}))
	var reported errs
	d := newDiscovery(t, a, discovery.WithErrorHandler(reported.add))
	if err := d.Register(ctx, anchor); err != nil { // parents
		t.Fatal(err)
	}

	// A Register abandoned while its create is in flight: the create lands later, and the
	// cleanup deletes it once it has.
	fd.SetLatency(50 * time.Millisecond)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
	err := d.Register(rctx, in)
	cancel()
	fd.SetLatency(0)
	if !errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
		t.Fatalf("Register with a short ctx: %v, want an unknown outcome", err)
	}
	hole.await(t, "the cleanup's read")
	gaveUp.await(t, "the cleanup's delete running out of retries")
	fd.Heal()

	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	awaitChildren(t, raw, "/"+ns+"/services/svc", "the phantom instance deleted", func(kids []string) bool {
		for _, k := range kids {
			if k == in.ID {
				return false
			}
		}
		return true
	})
	for _, err := range reported.all() {
		if strings.Contains(err.Error(), "gave up") {
			t.Errorf("reported: %v", err)
		}
	}
}

// An Update of a DynamicSequential instance whose sequential create is abandoned (its ctx
// ends while the create is in flight, so the create lands later) is rewritten in the
// background only once that create has returned: afterwards exactly one znode of this
// session holds the instance, with the latest payload, and it stays so.
func TestAbandonedSequentialCreateIsNotDuplicated(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	fd := zktest.NewFaultDialer()
	a := connect(t, srv, ns, zkrecipes.WithDialer(fd.Dial))
	d := newDiscovery(t, a)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	svc := "/" + ns + "/services/svc"
	in := mustInstance(t, "svc", false, discovery.WithServiceType(discovery.DynamicSequential))
	if err := d.Register(ctx, in); err != nil {
		t.Fatal(err)
	}
	// The state a failed write leaves (its znode gone, not written again yet), so that the
	// Update has to create: delete the znode while holding the registration, so that the
	// watch's restore finds the path moved and leaves it to the Update.
	if err := probe.DiscoveryDropNode(d, in.Name, in.ID, func(path string) error {
		return raw.Delete(zkrecipes.JoinPath("/"+ns, path), -1)
	}); err != nil {
		t.Fatal(err)
	}

	fd.SetLatency(50 * time.Millisecond)
	in.Payload.Leader = true
	uctx, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
	err := d.Update(uctx, in)
	cancel()
	if !errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
		t.Fatalf("Update with a short ctx: %v, want an unknown outcome", err)
	}
	fd.SetLatency(0)

	// Wait until the background rewrite has written the registration (it fires
	// d.reconnects after each pass).
	deadline := time.NewTimer(testkit.Patience)
	defer deadline.Stop()
	for {
		pass := probe.DiscoveryPass(d)
		if !probe.DiscoveryDirty(d, in.Name, in.ID) {
			break
		}
		select {
		case <-pass:
		case <-deadline.C:
			t.Fatal("the background rewrite did not write the registration")
		}
	}
	// Every write of the session was answered before this read was (a session's requests
	// are processed in order), and nothing of the Update is in flight any more.
	if _, _, err := a.Children(ctx, "/services/svc"); err != nil {
		t.Fatal(err)
	}
	var mine []string
	for _, k := range children(t, raw, svc) {
		if probe.IsSequentialOf(k, in.ID) {
			mine = append(mine, k)
		}
	}
	if len(mine) != 1 {
		t.Fatalf("znodes of %s after the rewrite: %v, want exactly one", in.ID, mine)
	}
	_, st, err := raw.Get(svc + "/" + mine[0])
	if err != nil {
		t.Fatal(err)
	}
	if st.EphemeralOwner != a.SessionID() {
		t.Errorf("owner %x, want the session %x", st.EphemeralOwner, a.SessionID())
	}
	awaitInstance(t, raw, svc+"/"+mine[0], "the latest payload", func(got discovery.Instance[instanceDetails]) bool {
		return got.Payload.Leader
	})
}
