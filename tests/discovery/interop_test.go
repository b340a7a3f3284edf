package discovery_test

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/tests/curatortest"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// Go registers; Java Curator's ServiceDiscovery and ServiceCache read what Go wrote,
// field for field.
func TestJavaReadsGoInstances(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	d := newDiscovery(t, connect(t, srv, ns))
	java := curatortest.Start(t, srv.ConnectString(), curatortest.WithNamespace(ns))
	if err := java.SDStart(ctx, "/services"); err != nil {
		t.Fatal(err)
	}
	if err := java.CacheStart(ctx, "bookService"); err != nil {
		t.Fatal(err)
	}
	at := time.UnixMilli(1700000000000)
	plain := mustInstance(t, "bookService", true, discovery.WithRegistrationTime(at))
	ssl := mustInstance(t, "bookService", false, discovery.WithSSLPort(8443), discovery.WithServiceType(discovery.Static),
		discovery.WithURISpec(discovery.MustParseURISpec("{scheme}://{address}:{ssl-port}/x")), discovery.WithRegistrationTime(at))
	seq := mustInstance(t, "bookService", false, discovery.WithServiceType(discovery.DynamicSequential), discovery.WithRegistrationTime(at))
	for _, in := range []discovery.Instance[instanceDetails]{plain, ssl, seq} {
		if err := d.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	got, err := java.SDQuery(ctx, "bookService")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]discovery.Instance[instanceDetails]{plain.ID: plain, ssl.ID: ssl, seq.ID: seq}
	if len(got) != len(want) {
		t.Fatalf("Java sees %d instances, want %d: %+v", len(got), len(want), got)
	}
	for _, j := range got {
		g, ok := want[j.ID]
		if !ok {
			t.Errorf("Java sees unknown id %s", j.ID)
			continue
		}
		if j.Name != g.Name || j.Address != g.Address || !reflect.DeepEqual(j.Port, g.Port) ||
			!reflect.DeepEqual(j.SSLPort, g.SSLPort) || j.RegistrationTimeUTC != g.RegistrationTimeUTC ||
			j.ServiceType != string(g.ServiceType) || !j.Enabled {
			t.Errorf("Java read %+v for %v", j, g)
		}
		if j.Payload == nil || j.Payload.Leader != g.Payload.Leader || j.PayloadClass != seedClass {
			t.Errorf("%s: Java payload %+v of class %q", j.ID, j.Payload, j.PayloadClass)
		}
		if g.URISpec != nil && (j.URISpec == nil || *j.URISpec != g.URI(nil)) {
			t.Errorf("%s: Java renders the URISpec as %v, Go as %q", j.ID, j.URISpec, g.URI(nil))
		}
	}
	one, err := java.SDQueryOne(ctx, "bookService", plain.ID)
	if err != nil || one == nil || one.ID != plain.ID {
		t.Errorf("queryForInstance = %+v, %v", one, err)
	}
	names, err := java.SDNames(ctx)
	if err != nil || !reflect.DeepEqual(names, []string{"bookService"}) {
		t.Errorf("queryForNames = %v, %v", names, err)
	}

	// Java's cache follows Go's updates and removals.
	plain.Payload.Leader = false
	ssl.Payload.Leader = true
	if err := d.Update(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if err := d.Update(ctx, ssl); err != nil {
		t.Fatal(err)
	}
	if err := d.Unregister(ctx, seq); err != nil {
		t.Fatal(err)
	}
	_, err = java.WaitCache(ctx, "bookService", func(ins []curatortest.Instance) bool {
		if len(ins) != 2 {
			return false
		}
		for _, in := range ins {
			if in.Payload == nil || in.Payload.Leader != (in.ID == ssl.ID) {
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Java registers; Go's queries and Cache read what Curator wrote.
func TestGoReadsJavaInstances(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	d := newDiscovery(t, connect(t, srv, ns))
	cache := startCache(t, d, "bookService")
	rec := record(cache)
	java := curatortest.Start(t, srv.ConnectString(), curatortest.WithNamespace(ns))
	if err := java.SDStart(ctx, "/services"); err != nil {
		t.Fatal(err)
	}
	id, err := java.SDRegister(ctx, curatortest.Registration{
		Name: "bookService", ID: "java-1", Address: "10.0.0.9", Port: curatortest.Ptr(8080),
		SSLPort: curatortest.Ptr(8443), Leader: curatortest.Ptr(true), RegistrationTimeUTC: 1700000000000,
		URISpec: "{scheme}://{address}:{port}",
	})
	if err != nil {
		t.Fatal(err)
	}
	seqID, err := java.SDRegister(ctx, curatortest.Registration{
		Name: "bookService", ID: "java-seq", Port: curatortest.Ptr(1), ServiceType: "DYNAMIC_SEQUENTIAL",
	})
	if err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 0, "both Java instances", func(ev discovery.CacheEvent[instanceDetails]) bool { return len(ev.Instances) == 2 })
	got, err := d.Instance(ctx, "bookService", id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Address != "10.0.0.9" || *got.Port != 8080 || *got.SSLPort != 8443 || !got.Payload.Leader ||
		got.RegistrationTimeUTC != 1700000000000 || got.ServiceType != discovery.Dynamic || !got.Enabled ||
		got.URI(nil) != "https://10.0.0.9:8080" {
		t.Errorf("Go read %#v", got)
	}
	if s, err := d.Instance(ctx, "bookService", seqID); err != nil || s.ServiceType != discovery.DynamicSequential {
		t.Errorf("Instance(%s) = %#v, %v", seqID, s, err)
	}
	if err := java.SDUpdate(ctx, "bookService", id, false); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 0, "Java's update", func(ev discovery.CacheEvent[instanceDetails]) bool {
		return len(ev.Updated) == 1 && ev.Updated[0].ID == id && !ev.Updated[0].Payload.Leader
	})
	if err := java.SDUnregister(ctx, id); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, 0, "Java's unregister", func(ev discovery.CacheEvent[instanceDetails]) bool {
		return len(ev.Removed) == 1 && ev.Removed[0].ID == id
	})
}

// The serializers agree byte for byte, both ways, on instances built by each side.
func TestSerializerMatchesJava(t *testing.T) {
	ctx := testkit.Ctx(t)
	java := curatortest.Start(t, "")
	cases := []struct {
		reg        curatortest.Registration
		compatible bool
	}{
		{curatortest.Registration{Name: "bookService", ID: goldenID, Address: "127.0.0.1", Port: curatortest.Ptr(8080),
			Leader: curatortest.Ptr(true), RegistrationTimeUTC: goldenTime}, true},
		{curatortest.Registration{Name: "svc", ID: "x", Address: "10.1.1.1", SSLPort: curatortest.Ptr(0),
			Leader: curatortest.Ptr(false), RegistrationTimeUTC: 5, ServiceType: "PERMANENT",
			URISpec: "{scheme}://{address}:{ssl-port}{[}a{]}", Enabled: curatortest.Ptr(false)}, false},
		{curatortest.Registration{Name: "svc", ID: "y", Address: "h", RegistrationTimeUTC: 1,
			ServiceType: "DYNAMIC_SEQUENTIAL"}, true},
	}
	for _, c := range cases {
		javaBytes, err := java.SDSerialize(ctx, c.reg, c.compatible)
		if err != nil {
			t.Fatal(err)
		}
		opts := []discovery.JSONOption{discovery.WithJavaClass(seedClass)}
		if !c.compatible {
			opts = append(opts, discovery.WithEnabledProperty())
		}
		s := discovery.JSON[*instanceDetails](opts...)
		in, err := s.Deserialize(javaBytes)
		if err != nil {
			t.Fatalf("Go cannot read %s: %v", javaBytes, err)
		}
		goBytes, err := s.Serialize(in)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(goBytes, javaBytes) {
			t.Errorf("Java: %s\nGo:   %s", javaBytes, goBytes)
		}
		back, err := java.SDDeserialize(ctx, goBytes)
		if err != nil {
			t.Errorf("Java cannot read Go's %s: %v", goBytes, err)
		} else if back.ID != c.reg.ID || back.ServiceType != string(in.ServiceType) {
			t.Errorf("Java read back %+v", back)
		}
	}
}
