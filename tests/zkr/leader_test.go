package zkr_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/leader"
	"github.com/zkrecipes/zkrecipes/tests/curatortest"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

type electionJSON struct {
	Path   string `json:"path"`
	Recipe string `json:"recipe"`
	Leader *struct {
		ID string `json:"id"`
	} `json:"leader"`
	Participants []struct {
		ID      string `json:"id"`
		Node    string `json:"node"`
		Session string `json:"session"`
		Leader  bool   `json:"leader"`
	} `json:"participants"`
	Warnings []string `json:"warnings"`
	Missing  bool     `json:"missing"`
}

func startLatch(t *testing.T, c *zkrecipes.Client, path, id string) *leader.Latch {
	t.Helper()
	l, err := leader.New(c, path, leader.WithID(id))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

// Go and Java participants in one election: zkr lists them in queue order with the
// sessions that own their nodes, names the leader, and warns about a node that does not
// belong there.
func TestLeaderShow(t *testing.T) {
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	path := base + "/election"
	ctx := testCtx(t)
	c1, c2 := connect(t, srv), connect(t, srv)
	startLatch(t, c1, path, "go-1")
	peer := curatortest.Start(t, srv.ConnectString())
	if _, err := peer.LatchStart(ctx, "j", path, "java-1"); err != nil {
		t.Fatal(err)
	}
	startLatch(t, c2, path, "go-2")

	var e electionJSON
	if err := json.Unmarshal([]byte(mustZkr(t, srv, "leader", "show", path, "--json")), &e); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range e.Participants {
		ids = append(ids, p.ID)
	}
	if strings.Join(ids, ",") != "go-1,java-1,go-2" || e.Leader == nil || e.Leader.ID != "go-1" || e.Recipe != "latch" {
		t.Fatalf("election = %+v, want go-1 (leader), java-1, go-2", e)
	}
	if s := e.Participants[0].Session; s != sessionHex(c1.SessionID()) {
		t.Errorf("go-1's session is %s, want %s", s, sessionHex(c1.SessionID()))
	}
	if len(e.Warnings) != 0 {
		t.Errorf("warnings for a clean election: %v", e.Warnings)
	}

	// A persistent child by hand: it is no latch node, and owned by no session.
	if _, err := c1.Create(ctx, path+"/junk", []byte("x"), zkrecipes.ModePersistent); err != nil {
		t.Fatal(err)
	}
	out := mustZkr(t, srv, "leader", "show", path)
	golden(t, out, base, `
election /BASE/election (LeaderLatch): 4 participants, leader "go-1"
#  ID  SESSION  CREATED  NODE
0  "go-1"  0xSESSION  TIME  _c_UUID-latch-0000000000  leader
1  "java-1"  0xSESSION  TIME  _c_UUID-latch-0000000001
2  "go-2"  0xSESSION  TIME  _c_UUID-latch-0000000002
3  "x"  TIME  junk
warning: junk is persistent, owned by no session: it never goes away by itself and takes part in the order
warning: junk is no latch node: it takes part in the order all the same
`)
}

func sessionHex(id int64) string { return fmt.Sprintf("0x%x", uint64(id)) }

// leader watch prints the election, then a new line when the leader hands over, and exits
// 0 on an interrupt.
func TestLeaderWatch(t *testing.T) {
	srv := zktest.Start(t)
	path := zktest.BasePath(t) + "/election"
	a := startLatch(t, connect(t, srv), path, "a")
	startLatch(t, connect(t, srv), path, "b")

	ctx := testCtx(t)
	cmd := exec.CommandContext(ctx, zkrBin, "leader", "watch", path, "--json")
	cmd.Env = append(os.Environ(), "ZKR_SERVERS="+srv.ConnectString())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan electionJSON, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var e electionJSON
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				lines <- e
			}
		}
	}()
	next := func(what string) electionJSON {
		t.Helper()
		select {
		case e, ok := <-lines:
			if !ok {
				t.Fatalf("zkr leader watch ended before %s", what)
			}
			return e
		case <-time.After(30 * time.Second):
			t.Fatalf("no line from zkr leader watch for %s", what)
		}
		panic("unreachable")
	}
	if e := next("the first election"); e.Leader == nil || e.Leader.ID != "a" {
		t.Fatalf("first line: %+v, want a leading", e)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if e := next("the hand-over"); e.Leader == nil || e.Leader.ID != "b" || len(e.Participants) != 1 {
		t.Fatalf("after a's Close: %+v, want b alone", e)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("zkr leader watch after an interrupt: %v, want exit 0", err)
	}
}
