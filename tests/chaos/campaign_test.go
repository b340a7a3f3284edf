package chaos

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/internal/broadcast"
	"github.com/zkrecipes/zkrecipes/leader"
	"github.com/zkrecipes/zkrecipes/retry"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

var (
	seedFlag   = flag.Uint64("chaos.seed", 0, "seed of the fault schedule (overrides CHAOS_SEED; 0: CHAOS_SEED or random)")
	roundsFlag = flag.Int("chaos.rounds", 0, "fault rounds (overrides CHAOS_ROUNDS; 0: CHAOS_ROUNDS or the short version)")
)

const (
	// shortRounds is the default: the version `make test` and CI run.
	shortRounds = 8
	// participants each run leader.Run and register one instance.
	participants = 3
	// sessionTimeout is negotiated as asked: the harness's tickTime of 200 ms allows 400 ms
	// to 4 s.
	sessionTimeout = 3 * time.Second
	// patience bounds each wait for the system to settle after a round: generous, for a
	// loaded 2-core machine and a client stuck in a handshake with a paused member.
	patience = 90 * time.Second
	// pace spaces a leader's increments so that histories stay small enough to check.
	pace = 25 * time.Millisecond

	counterPath = "/counter"
	logPath     = "/log"
	latchPath   = "/leader"
	discoBase   = "/disco"
	service     = "svc"
)

type settings struct {
	seed   uint64
	rounds int
	out    string // where failure reports go ("" : a new temporary directory)
}

func loadSettings(t *testing.T) settings {
	s := settings{rounds: shortRounds, out: os.Getenv("CHAOS_OUT")}
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 0, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: %v", v, err)
		}
		s.seed = seed
	}
	if v := os.Getenv("CHAOS_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("CHAOS_ROUNDS=%q: want a positive number", v)
		}
		s.rounds = n
	}
	if *seedFlag != 0 {
		s.seed = *seedFlag
	}
	if *roundsFlag > 0 {
		s.rounds = *roundsFlag
	}
	if s.seed == 0 {
		s.seed = uint64(time.Now().UnixNano())
	}
	return s
}

// payload is what each participant's instance carries; Round changes every round.
type payload struct {
	Participant int `json:"participant"`
	Round       int `json:"round"`
}

// TestCampaign is the fault campaign: three participants, each with its own Client,
// FaultDialer and the ensemble's host provider, run leader.Run and increment a shared
// counter with Term.Multi while leading, and keep one discovery instance registered whose
// payload they update every round. Rounds of faults drawn from the seed hit the clients
// and the ensemble; after each heal the campaign waits (with a deadline) for a leader that
// writes, and for discovery to show every instance exactly once, owned by its client's
// current session, with its latest payload, in ZooKeeper and in a Cache. At the end the
// log of increments is checked against the history, and the history with porcupine.
func TestCampaign(t *testing.T) {
	s := loadSettings(t)
	t.Logf("chaos: seed %d, %d rounds (replay: CHAOS_SEED=%d CHAOS_ROUNDS=%d, or make chaos SEED=%d ROUNDS=%d)",
		s.seed, s.rounds, s.seed, s.rounds, s.seed, s.rounds)
	began := time.Now()
	rounds := schedule(s.seed, s.rounds, participants, 3)

	c := newCampaign(t)
	for _, r := range rounds {
		if !c.play(r) {
			break
		}
	}
	c.finish(s)
	t.Logf("chaos: seed %d, %d rounds in %v", s.seed, s.rounds, time.Since(began).Round(time.Second))
}

type campaign struct {
	t        *testing.T
	e        *zktest.Ensemble
	ns       string
	h        *history
	parts    []*participant
	observer *zkrecipes.Client
	cache    *discovery.Cache[payload]
	changed  *broadcast.Signal // fires at every cache event and participant state change

	mu      sync.Mutex
	leading int // the participant whose term function runs, or -1

	stopRuns context.CancelFunc
	runs     sync.WaitGroup
}

type participant struct {
	c      *campaign
	idx    int
	id     string
	dialer *zktest.FaultDialer
	client *zkrecipes.Client
	disco  *discovery.Discovery[payload]
	inst   discovery.Instance[payload] // its latest payload, written or not

	campaignStart int64 // when it began campaigning for its next term; Run's goroutine only
}

func newCampaign(t *testing.T) *campaign {
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c := &campaign{t: t, h: newHistory(), changed: broadcast.New(), leading: -1}
	c.e = zktest.StartEnsemble(t, 3, zktest.WithTickTime(200*time.Millisecond))
	c.ns = zktest.BasePath(t)[1:]

	c.observer = c.connect(ctx, nil)
	for _, p := range []string{logPath, latchPath} {
		if _, err := c.observer.Create(ctx, p, nil, zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.observer.Create(ctx, counterPath, initial.encode(), zkrecipes.ModePersistent); err != nil {
		t.Fatal(err)
	}
	obsDisco := c.discovery(c.observer)
	cache, err := obsDisco.Cache(service)
	if err != nil {
		t.Fatal(err)
	}
	c.cache = cache
	stop := cache.Listen(func(discovery.CacheEvent[payload]) { c.changed.Fire() })
	t.Cleanup(stop)
	if err := cache.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeWithin(t, "cache", cache.Close) })

	for i := range participants {
		p := &participant{c: c, idx: i, id: fmt.Sprintf("p%d", i), dialer: zktest.NewFaultDialer()}
		p.client = c.connect(ctx, p.dialer)
		stopListen := p.client.Listen(func(zkrecipes.StateChange) { c.changed.Fire() })
		t.Cleanup(stopListen)
		p.disco = c.discovery(p.client)
		inst, err := discovery.NewInstance(service, payload{Participant: i}, discovery.WithID(p.id),
			discovery.WithAddress("127.0.0.1"), discovery.WithPort(9000+i))
		if err != nil {
			t.Fatal(err)
		}
		p.inst = inst
		if err := p.disco.Register(ctx, inst); err != nil {
			t.Fatalf("register %s: %v", p.id, err)
		}
		c.parts = append(c.parts, p)
	}

	runCtx, stopRuns := context.WithCancel(context.Background())
	c.stopRuns = stopRuns
	for _, p := range c.parts {
		c.runs.Go(func() { p.campaign(runCtx) })
	}
	t.Cleanup(func() {
		stopRuns()
		c.runs.Wait()
	})
	if err := c.settle(ctx, 0); err != nil {
		t.Fatalf("before the first round: %v", err)
	}
	return c
}

func (c *campaign) connect(ctx context.Context, d *zktest.FaultDialer) *zkrecipes.Client {
	opts := []zkrecipes.Option{
		zkrecipes.WithHostProvider(c.e.HostProvider()),
		zkrecipes.WithSessionTimeout(sessionTimeout),
		zkrecipes.WithNamespace(c.ns),
		zkrecipes.WithRetryPolicy(retry.ExponentialBackoffMax(50*time.Millisecond, 5, 500*time.Millisecond)),
	}
	if d != nil {
		opts = append(opts, zkrecipes.WithDialer(d.Dial))
	}
	cl, err := zkrecipes.Connect(ctx, c.e.Servers(), opts...)
	if err != nil {
		c.t.Fatalf("connect: %v", err)
	}
	c.t.Cleanup(func() { closeWithin(c.t, "client", cl.Close) })
	return cl
}

func (c *campaign) discovery(cl *zkrecipes.Client) *discovery.Discovery[payload] {
	d, err := discovery.New[payload](cl, discoBase)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { closeWithin(c.t, "discovery", d.Close) })
	return d
}

func closeWithin(t *testing.T, what string, close func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := close(ctx); err != nil {
		t.Logf("close %s: %v", what, err)
	}
}

func (c *campaign) setLeading(idx int, on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case on:
		c.leading = idx
	case c.leading == idx:
		c.leading = -1
	}
}

func (c *campaign) leader() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leading
}

// campaign runs leader.Run until ctx ends, again whenever Run gives up (a latch that
// could not start during a fault, say).
func (p *participant) campaign(ctx context.Context) {
	for ctx.Err() == nil {
		p.campaignStart = p.c.h.now()
		err := leader.Run(ctx, p.client, latchPath, p.id, p.lead)
		if ctx.Err() != nil {
			return
		}
		p.c.t.Logf("%s: leader.Run returned %v; campaigning again", p.id, err)
		if !pause(ctx, 100*time.Millisecond) {
			return
		}
	}
}

// lead is the term function: read the counter, increment it with Term.Multi, until the
// term ends.
func (p *participant) lead(ctx context.Context, term leader.Term) error {
	h := p.c.h
	h.begin(p.idx, term.Token, p.campaignStart, h.now())
	p.c.setLeading(p.idx, true)
	defer func() {
		p.c.setLeading(p.idx, false)
		p.campaignStart = h.now()
	}()
	for ctx.Err() == nil {
		p.increment(ctx, term)
		if !pause(ctx, pace) {
			break
		}
	}
	return nil
}

func (p *participant) increment(ctx context.Context, term leader.Term) {
	h := p.c.h
	call := h.now()
	if err := p.client.Sync(ctx, counterPath); err != nil {
		return
	}
	data, stat, err := p.client.Get(ctx, counterPath)
	ret := h.now()
	if err != nil {
		return
	}
	cur, err := decodeEntry(data)
	if err != nil {
		h.problemf("%s read a counter it cannot decode: %v", p.id, err)
		return
	}
	if int(stat.Version) != cur.value {
		h.problemf("%s read counter value %d at version %d: some write was not a single increment", p.id, cur.value, stat.Version)
	}
	h.read(p.idx, call, ret, cur)
	op := h.write(p.idx, term.Token, cur.value)
	next := entry{value: cur.value + 1, token: term.Token, writer: p.idx, op: op.id}
	_, err = term.Multi(ctx,
		&zk.SetDataRequest{Path: counterPath, Data: next.encode(), Version: stat.Version},
		&zk.CreateRequest{Path: logPath + "/e-", Data: next.encode(), Flags: zk.FlagSequence})
	h.finish(op, err)
}

// pause waits d (a pace, not a wait for a condition) or until ctx ends; it reports
// whether ctx is still live.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// finish stops the participants, waits until every write whose outcome was unknown has
// settled, and checks the log and the histories.
func (c *campaign) finish(s settings) {
	t := c.t
	c.stopRuns()
	c.runs.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	c.h.mu.Lock()
	unsure := slices.Clone(c.h.unsure)
	c.h.mu.Unlock()
	for _, err := range unsure {
		select {
		case <-zkrecipes.Settled(err):
		case <-ctx.Done():
			t.Fatalf("a write of unknown outcome did not settle: %v", err)
		}
	}
	t.Logf("chaos: %s", c.h.summary())

	log, final, err := c.readLog(ctx)
	if err != nil {
		t.Fatalf("reading the log: %v", err)
	}
	t.Logf("chaos: %d increments applied, counter at %d", len(log), final.value)
	held := true
	for _, p := range c.h.problems {
		t.Errorf("during the campaign: %s", p)
		held = false
	}
	if bad := checkLog(log, final, c.h.writes); len(bad) > 0 {
		t.Errorf("log check: %d violations of the recipes' promises (the increments' log is ZooKeeper's apply order; "+
			"Term.Multi must return nil only if applied exactly once, ErrNotLeader or another error without "+
			"ErrOutcomeUnknown only if not applied):", len(bad))
		for _, b := range bad {
			t.Errorf("log check: %s", b)
		}
		held = false
	}
	if held {
		t.Logf("chaos: held: values sequential in apply order, every nil increment applied exactly once, " +
			"no not-applied error applied, tokens monotonic, one writer per token")
	}
	for _, m := range []struct {
		name  string
		model func() (bool, string)
	}{
		{"counter", func() (bool, string) {
			return linearizable(counterModel.ToModel(), "counter", c.h.counterOps(), s.out)
		}},
		{"leadership", func() (bool, string) {
			return linearizable(leadershipModel, "leadership", c.h.leadershipOps(), s.out)
		}},
	} {
		ok, report := m.model()
		if !ok {
			t.Errorf("porcupine: %s", report)
		} else {
			t.Logf("porcupine: %s", report)
		}
	}
}

// readLog reads every log entry, in apply order, and the counter.
func (c *campaign) readLog(ctx context.Context) ([]entry, entry, error) {
	if err := c.observer.Sync(ctx, logPath); err != nil {
		return nil, entry{}, err
	}
	names, _, err := c.observer.Children(ctx, logPath)
	if err != nil {
		return nil, entry{}, err
	}
	slices.Sort(names) // e-<10-digit sequence>: lexical order is apply order
	log := make([]entry, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	const workers = 8
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(names); i += workers {
				data, _, err := c.observer.Get(ctx, logPath+"/"+names[i])
				if err == nil {
					log[i], err = decodeEntry(data)
				}
				errs[i] = err
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, entry{}, err
	}
	data, _, err := c.observer.Get(ctx, counterPath)
	if err != nil {
		return nil, entry{}, err
	}
	final, err := decodeEntry(data)
	return log, final, err
}
