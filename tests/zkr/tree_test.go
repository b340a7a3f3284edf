package zkr_test

import (
	"strings"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// A subtree with an election, a service directory, binary data, a container and a node the
// client may not read: zkr prints each with its mode and what it is.
func TestTree(t *testing.T) {
	srv := zktest.Start(t)
	base := zktest.BasePath(t)
	ctx := testCtx(t)
	c := connect(t, srv)
	startLatch(t, c, base+"/app/leader", "node-1")
	d, err := discovery.New[details](c, base+"/app/services")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close(ctx) })
	in, err := discovery.NewInstance("books", details{Leader: true}, discovery.WithID("i1"), discovery.WithAddress("10.0.0.1"), discovery.WithPort(80))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Register(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, base+"/app/count", []byte{0, 0, 0, 7}, zkrecipes.ModePersistent); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, base+"/app/secret", []byte("hidden"), zkrecipes.ModePersistent,
		zkrecipes.WithNodeACL(zk.DigestACL(zk.PermAll, "someone", "else"))); err != nil {
		t.Fatal(err)
	}

	out := mustZkr(t, srv, "tree", base+"/app")
	golden(t, out, base, `
app  [persistent]
  count  [persistent]  4 bytes 0x00000007
  leader  [persistent]
    _c_UUID-latch-0000000000  [ephemeral 0xSESSION]  latch participant  "node-1"
  secret  [persistent]  (cannot read: zk: not authenticated)
  services  [persistent]
    books  [persistent]
      i1  [ephemeral 0xSESSION]  service instance i1 10.0.0.1:80 enabled=true payload={"@class":"java.util.LinkedHashMap","leader":true}
`)
	if got := mustZkr(t, srv, "tree", base+"/app", "--depth", "1"); !strings.Contains(got, "leader  [persistent]  (+1 children not shown)") {
		t.Errorf("--depth 1:\n%s", got)
	}
	if r := zkr(t, srv, "tree", base+"/nosuch"); r.code != 3 {
		t.Errorf("tree of a missing path: exit %d, want 3", r.code)
	}
}

// Exit statuses scripts rely on: bad usage 2, not found 3, no ZooKeeper 4.
func TestExitCodes(t *testing.T) {
	srv := zktest.Start(t)
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"leader", "show"}, 2, "takes one PATH"},
		{[]string{"leader", "show", "no-slash"}, 2, `PATH "no-slash"`},
		{[]string{"tree", "--max-nodes", "0"}, 2, "--max-nodes"},
		{[]string{"nosuchcommand"}, 2, "unknown command"},
		{[]string{"tree", "--nosuchflag"}, 2, "unknown flag"},
		{[]string{"leader", "show", "/nosuch/election"}, 3, "no election at /nosuch/election"},
		{[]string{"--servers", "127.0.0.1:1", "--timeout", "2s", "tree", "/"}, 4, "connection refused"},
		{[]string{"--servers", "zk1:2181/bad//chroot", "tree", "/"}, 2, "--servers"},
		{[]string{"--digest", "nocolon", "tree", "/"}, 2, "--digest"},
	} {
		r := zkr(t, srv, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("zkr %v: exit %d, stderr %q; want %d saying %q", tc.args, r.code, r.stderr, tc.code, tc.says)
		}
	}
}
