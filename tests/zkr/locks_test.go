package zkr_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/lock"
	"github.com/zkrecipes/zkrecipes/tests/curatortest"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// patience bounds the waits of these tests; generous for a loaded machine.
const patience = 60 * time.Second

type lockJSON struct {
	Kind    string `json:"kind"`
	Holders []struct {
		Node    string `json:"node"`
		Mode    string `json:"mode"`
		Session string `json:"session"`
		Data    string `json:"data"`
		Revoke  bool   `json:"revokeRequested"`
	} `json:"holders"`
	Waiters []struct {
		Node string `json:"node"`
		Mode string `json:"mode"`
		Data string `json:"data"`
	} `json:"waiters"`
	Acquirer *struct {
		Node string `json:"node"`
	} `json:"acquirer"`
}

// The three lock layouts as Curator writes them (built here node by node with the
// Client's protected create): zkr names the holders and the waiters in queue order.
func TestLocksShow(t *testing.T) {
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	ctx := testCtx(t)
	a, b, c := connect(t, srv), connect(t, srv), connect(t, srv)
	join := func(cl *zkrecipes.Client, path string, data string) string {
		t.Helper()
		p, err := cl.CreateProtected(ctx, path, []byte(data), zkrecipes.ModeEphemeralSequential, zkrecipes.WithParents())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	show := func(path string) lockJSON {
		t.Helper()
		var v lockJSON
		if err := json.Unmarshal([]byte(mustZkr(t, srv, "locks", "show", path, "--json")), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}

	// Mutex: A holds, B and C wait; someone asks A to release.
	first := join(a, base+"/mutex/lock-", "A")
	join(b, base+"/mutex/lock-", "B")
	join(c, base+"/mutex/lock-", "C")
	if _, err := b.Set(ctx, first, []byte("__REVOKE__"), -1); err != nil {
		t.Fatal(err)
	}
	m := show(base + "/mutex")
	if m.Kind != "mutex" || len(m.Holders) != 1 || !m.Holders[0].Revoke || m.Holders[0].Session != sessionHex(a.SessionID()) ||
		len(m.Waiters) != 2 || m.Waiters[0].Data != `"B"` || m.Waiters[1].Data != `"C"` {
		t.Errorf("mutex = %+v, want A holding (revocation requested), B and C waiting", m)
	}

	// Read/write lock: two readers hold, the writer behind them and the reader behind the
	// writer wait.
	join(a, base+"/rw/__READ__", "r1")
	join(b, base+"/rw/__READ__", "r2")
	join(c, base+"/rw/__WRIT__", "w1")
	join(a, base+"/rw/__READ__", "r3")
	rw := show(base + "/rw")
	if rw.Kind != "rwlock" || len(rw.Holders) != 2 || rw.Holders[0].Data != `"r1"` || rw.Holders[1].Data != `"r2"` ||
		len(rw.Waiters) != 2 || rw.Waiters[0].Mode != "write" || rw.Waiters[1].Data != `"r3"` {
		t.Errorf("rwlock = %+v, want r1, r2 holding; w1, r3 waiting", rw)
	}

	// Semaphore: two leases out, C holds the locks mutex while it waits for a third.
	join(a, base+"/sem/leases/lease-", "lease-A")
	join(b, base+"/sem/leases/lease-", "lease-B")
	join(c, base+"/sem/locks/lock-", "")
	sem := show(base + "/sem")
	if sem.Kind != "semaphore" || len(sem.Holders) != 2 || sem.Acquirer == nil || len(sem.Waiters) != 0 {
		t.Errorf("semaphore = %+v, want 2 leases and an acquirer", sem)
	}
	golden(t, mustZkr(t, srv, "locks", "show", base+"/sem"), base, `
semaphore /BASE/sem: 2 leases held, 1 waiting
STATE  MODE  SESSION  CREATED  DATA  NODE
holds  -  0xSESSION  TIME  "lease-A"  leases/_c_UUID-lease-0000000000
holds  -  0xSESSION  TIME  "lease-B"  leases/_c_UUID-lease-0000000001
acquiring  -  0xSESSION  TIME  locks/_c_UUID-lock-0000000000
`)
	if r := zkr(t, srv, "locks", "show", base+"/nosuch"); r.code != 3 {
		t.Errorf("locks show of a missing path: exit %d, want 3 (stderr %q)", r.code, r.stderr)
	}
}

// A Java InterProcessMutex holds the lock, a Go lock.Mutex waits behind it, and a Curator
// read/write lock has a Java writer and a Go reader waiting: zkr names each holder and
// waiter in Curator's order.
func TestLocksShowJavaAndGo(t *testing.T) {
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	ctx := testCtx(t)
	peer := curatortest.Start(t, srv.ConnectString())
	if err := peer.MutexNew(ctx, "j", base+"/m", false, false); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.MutexAcquire(ctx, "j", -1); err != nil {
		t.Fatal(err)
	}
	if err := peer.WaitMutex(ctx, "j", "acquired"); err != nil {
		t.Fatal(err)
	}
	c := connect(t, srv)
	m, err := lock.NewMutex(c, base+"/m", lock.WithData([]byte("go-waiter")))
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		l, err := m.Acquire(actx)
		if err == nil {
			err = l.Release(context.Background())
		}
		got <- err
	}()
	// The Go waiter's node is there once the lock path has two children (by child watch).
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	deadline := time.NewTimer(patience)
	defer deadline.Stop()
	for {
		ns, _, ch, err := raw.ChildrenW(base + "/m")
		if err != nil {
			t.Fatal(err)
		}
		if len(ns) == 2 {
			break
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("the Go waiter's node never appeared: %v", ns)
		}
	}
	var v lockJSON
	if err := json.Unmarshal([]byte(mustZkr(t, srv, "locks", "show", base+"/m", "--json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Kind != "mutex" || len(v.Holders) != 1 || len(v.Waiters) != 1 || v.Waiters[0].Data != `"go-waiter"` ||
		v.Holders[0].Session == sessionHex(c.SessionID()) {
		t.Errorf("locks show = %+v, want the Java holder and the Go waiter", v)
	}
	if err := peer.MutexRelease(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("the Go waiter: %v", err)
	}
}
