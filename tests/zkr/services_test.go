package zkr_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/tests/curatortest"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

type details struct {
	Leader bool `json:"leader"`
}

// A directory written by Go and by Java Curator, plus a node that is no instance: zkr
// lists the services, decodes every instance with its payload, and reports the bad node
// without failing.
func TestServices(t *testing.T) {
	srv := zktest.Start(t)
	root := zktest.BasePath(t)
	base := root + "/services"
	ctx := testCtx(t)
	c := connect(t, srv)
	d, err := discovery.New[details](c, base, discovery.WithSerializer[details](discovery.JSON[details](discovery.WithJavaClass("com.example.InstanceDetails"))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close(ctx) })
	in, err := discovery.NewInstance("books", details{Leader: true}, discovery.WithID("go-1"),
		discovery.WithAddress("10.0.0.1"), discovery.WithPort(8080),
		discovery.WithURISpec(discovery.MustParseURISpec("{scheme}://{address}:{port}/api")))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Register(ctx, in); err != nil {
		t.Fatal(err)
	}
	peer := curatortest.Start(t, srv.ConnectString())
	if err := peer.SDStart(ctx, base); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.SDRegister(ctx, curatortest.Registration{Name: "books", ID: "java-1", Address: "10.0.0.2",
		Port: curatortest.Ptr(8081), Leader: curatortest.Ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.SDRegister(ctx, curatortest.Registration{Name: "authors", ID: "java-2", Address: "10.0.0.3",
		Port: curatortest.Ptr(9000)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, base+"/books/garbage", []byte("not json"), zkrecipes.ModePersistent); err != nil {
		t.Fatal(err)
	}

	var list struct {
		Services []struct {
			Name      string `json:"name"`
			Instances int    `json:"instances"`
			Enabled   int    `json:"enabled"`
		} `json:"services"`
		Problems []string `json:"problems"`
	}
	if err := json.Unmarshal([]byte(mustZkr(t, srv, "services", "list", base, "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Services) != 2 || list.Services[0].Name != "authors" || list.Services[0].Enabled != 1 ||
		list.Services[1].Name != "books" || list.Services[1].Instances != 2 {
		t.Errorf("services list = %+v, want authors (1, enabled) and books (2)", list)
	}
	if len(list.Problems) != 1 || !strings.Contains(list.Problems[0], "garbage") {
		t.Errorf("problems = %q, want the garbage node", list.Problems)
	}

	var show struct {
		Instances []struct {
			ID      string          `json:"id"`
			Address string          `json:"address"`
			Port    *int            `json:"port"`
			URI     string          `json:"uri"`
			Enabled bool            `json:"enabled"`
			Payload json.RawMessage `json:"payload"`
		} `json:"instances"`
		Problems []string `json:"problems"`
	}
	if err := json.Unmarshal([]byte(mustZkr(t, srv, "--base", base, "services", "show", "books", "--json")), &show); err != nil {
		t.Fatal(err)
	}
	if len(show.Instances) != 2 {
		t.Fatalf("books: %+v, want go-1 and java-1", show)
	}
	g, j := show.Instances[0], show.Instances[1]
	if g.ID != "go-1" || g.Address != "10.0.0.1" || g.Port == nil || *g.Port != 8080 || g.URI != "http://10.0.0.1:8080/api" || !g.Enabled {
		t.Errorf("go-1 = %+v", g)
	}
	if j.ID != "java-1" || j.Address != "10.0.0.2" || j.Port == nil || *j.Port != 8081 {
		t.Errorf("java-1 = %+v", j)
	}
	for _, in := range show.Instances {
		var p map[string]any
		if err := json.Unmarshal(in.Payload, &p); err != nil || p["@class"] != "com.example.InstanceDetails" {
			t.Errorf("%s's payload %s: want Jackson's typed JSON (%v)", in.ID, in.Payload, err)
		}
	}
	if len(show.Problems) != 1 {
		t.Errorf("problems = %q, want the garbage node", show.Problems)
	}

	out := mustZkr(t, srv, "--base", base, "services", "show", "authors")
	golden(t, out, root, `
service authors under /BASE/services: 1 instances
ID  ADDRESS  PORT  SSL  ENABLED  TYPE  REGISTERED  URI  PAYLOAD
java-2  10.0.0.3  9000  -  true  DYNAMIC  TIME  null
`)

	if r := zkr(t, srv, "--base", base, "services", "show", "nosuch"); r.code != 3 || !strings.Contains(r.stderr, "nosuch") {
		t.Errorf("show of a missing service: exit %d, stderr %q; want 3 naming it", r.code, r.stderr)
	}
}
