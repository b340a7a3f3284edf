package discovery_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/internal/probe"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

func TestRegisterModesAndQueries(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	c := connect(t, srv, ns)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	d := newDiscovery(t, c)

	dyn := mustInstance(t, "bookService", true)
	static := mustInstance(t, "bookService", false, discovery.WithServiceType(discovery.Static))
	perm := mustInstance(t, "other", false, discovery.WithServiceType(discovery.Permanent))
	seq := mustInstance(t, "bookService", false, discovery.WithServiceType(discovery.DynamicSequential), discovery.WithID("seq-id"))
	for _, in := range []discovery.Instance[instanceDetails]{dyn, static, perm, seq} {
		if err := d.Register(ctx, in); err != nil {
			t.Fatalf("register %v: %v", in, err)
		}
	}
	dir := "/" + ns + "/services/bookService"
	for id, ephemeral := range map[string]bool{dyn.ID: true, static.ID: false} {
		data, st, err := raw.Get(dir + "/" + id)
		if err != nil {
			t.Fatal(err)
		}
		if (st.EphemeralOwner != 0) != ephemeral {
			t.Errorf("%s: ephemeral owner %x, want ephemeral=%v", id, st.EphemeralOwner, ephemeral)
		}
		want, _ := d.Serializer().Serialize(map[string]discovery.Instance[instanceDetails]{dyn.ID: dyn, static.ID: static}[id])
		if !bytes.Equal(data, want) {
			t.Errorf("%s holds %s, want %s", id, data, want)
		}
	}
	var seqNode string
	for _, k := range children(t, raw, dir) {
		if strings.HasPrefix(k, "seq-id") {
			seqNode = k
		}
	}
	if !probe.IsSequentialOf(seqNode, "seq-id") {
		t.Fatalf("no seq-id + 10-digit znode in %v", children(t, raw, dir))
	}
	if _, st, _ := raw.Get(dir + "/" + seqNode); st.EphemeralOwner != c.SessionID() {
		t.Errorf("sequential znode is not an ephemeral of the session")
	}

	names, err := d.Names(ctx)
	if err != nil || !reflect.DeepEqual(names, []string{"bookService", "other"}) {
		t.Errorf("Names = %v, %v", names, err)
	}
	all, err := d.Instances(ctx, "bookService")
	if err != nil || len(all) != 3 {
		t.Fatalf("Instances = %v, %v", all, err)
	}
	got, err := d.Instance(ctx, "bookService", dyn.ID)
	if err != nil || !reflect.DeepEqual(got, dyn) {
		t.Errorf("Instance = %#v, %v; want %#v", got, err, dyn)
	}
	got, err = d.Instance(ctx, "bookService", "seq-id")
	if err != nil || got.ID != "seq-id" || got.ServiceType != discovery.DynamicSequential {
		t.Errorf("Instance(seq-id) = %#v, %v", got, err)
	}
	if _, err := d.Instance(ctx, "bookService", "nope"); !errors.Is(err, discovery.ErrNotFound) {
		t.Errorf("Instance(nope) = %v, want ErrNotFound", err)
	}
	if in, err := d.Instances(ctx, "absent"); err != nil || len(in) != 0 {
		t.Errorf("Instances(absent) = %v, %v", in, err)
	}
}

func TestRegisterRejectsInvalid(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	c := connect(t, srv, ns)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	d := newDiscovery(t, c)
	bad := []discovery.Instance[instanceDetails]{
		{Name: "svc", ID: "", Enabled: true},
		{Name: "a/b", ID: "x"},
		{Name: "svc", ID: "x", ServiceType: "EPHEMERAL"},
		{Name: "svc", ID: "x", Port: intp(1 << 40)},
	}
	for _, in := range bad {
		if err := d.Register(ctx, in); !errors.Is(err, discovery.ErrInvalidInstance) {
			t.Errorf("Register(%#v) = %v, want ErrInvalidInstance", in, err)
		}
	}
	if kids := children(t, raw, "/"+ns+"/services/svc"); len(kids) != 0 {
		t.Errorf("invalid instances were written: %v", kids)
	}
	anyD, err := discovery.New[any](c, "/services")
	if err != nil {
		t.Fatal(err)
	}
	defer anyD.Close(ctx)
	in, _ := discovery.NewInstance[any]("svc", make(chan int))
	if err := anyD.Register(ctx, in); !errors.Is(err, discovery.ErrInvalidInstance) {
		t.Errorf("unserializable payload: %v", err)
	}
	if _, err := discovery.New[int](c, "/services", discovery.WithSerializer(discovery.JSON[string]())); !errors.Is(err, discovery.ErrInvalidOption) {
		t.Errorf("mismatched serializer: %v", err)
	}
	if _, err := discovery.New[int](c, "services"); err == nil {
		t.Error("relative base path accepted")
	}
}

func TestUpdateAndUnregister(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	c := connect(t, srv, ns)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	d := newDiscovery(t, c)
	in := mustInstance(t, "bookService", false)
	if err := d.Update(ctx, in); !errors.Is(err, discovery.ErrNotRegistered) {
		t.Errorf("Update before Register = %v, want ErrNotRegistered", err)
	}
	if err := d.Register(ctx, in); err != nil {
		t.Fatal(err)
	}
	path := "/" + ns + "/services/bookService/" + in.ID
	_, st0, _ := raw.Get(path)
	in.Payload.Leader = true
	in.Port = intp(9090)
	if err := d.Update(ctx, in); err != nil {
		t.Fatal(err)
	}
	data, st, _ := raw.Get(path)
	if !strings.Contains(string(data), `"leader":true`) || !strings.Contains(string(data), `"port":9090`) || st.Czxid != st0.Czxid {
		t.Errorf("after Update: %s (czxid %d, was %d)", data, st.Czxid, st0.Czxid)
	}
	// Registering the same id again updates in place.
	in.Payload.Leader = false
	if err := d.Register(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, st2, _ := raw.Get(path); st2.Czxid != st0.Czxid {
		t.Errorf("re-Register re-created the znode")
	}
	in2 := in
	in2.ServiceType = discovery.Static
	if err := d.Update(ctx, in2); !errors.Is(err, discovery.ErrInvalidInstance) {
		t.Errorf("Update changing the service type = %v", err)
	}
	if err := d.Unregister(ctx, in); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := raw.Exists(path); ok {
		t.Error("znode still there after Unregister")
	}
	if err := d.Unregister(ctx, in); err != nil {
		t.Errorf("second Unregister: %v", err)
	}
	if err := d.Update(ctx, in); !errors.Is(err, discovery.ErrNotRegistered) {
		t.Errorf("Update after Unregister = %v", err)
	}
}

func TestCloseUnregistersEverything(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	c := connect(t, srv, ns)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	d, err := discovery.New[instanceDetails](c, "/services")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []discovery.ServiceType{discovery.Dynamic, discovery.Static, discovery.Permanent, discovery.DynamicSequential} {
		if err := d.Register(ctx, mustInstance(t, "svc", false, discovery.WithServiceType(st))); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(children(t, raw, "/"+ns+"/services/svc")); n != 4 {
		t.Fatalf("%d znodes, want 4", n)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if kids := children(t, raw, "/"+ns+"/services/svc"); len(kids) != 0 {
		t.Errorf("left after Close: %v", kids)
	}
	if err := d.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := d.Register(ctx, mustInstance(t, "svc", false)); !errors.Is(err, discovery.ErrClosed) {
		t.Errorf("Register after Close = %v", err)
	}
}

// An instance znode deleted by someone else while the session lives comes back.
func TestRestoresDeletedZnode(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	c := connect(t, srv, ns)
	raw, _ := zktest.Connect(t, srv.Servers(), 4*time.Second)
	d := newDiscovery(t, c)
	dyn := mustInstance(t, "svc", true)
	seq := mustInstance(t, "svc", true, discovery.WithServiceType(discovery.DynamicSequential))
	for _, in := range []discovery.Instance[instanceDetails]{dyn, seq} {
		if err := d.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	dir := "/" + ns + "/services/svc"
	for _, k := range children(t, raw, dir) {
		if err := raw.Delete(dir+"/"+k, -1); err != nil {
			t.Fatal(err)
		}
	}
	kids := awaitChildren(t, raw, dir, "both instances restored", func(k []string) bool { return len(k) == 2 })
	for _, k := range kids {
		_, st, err := raw.Get(dir + "/" + k)
		if err != nil || st.EphemeralOwner != c.SessionID() {
			t.Errorf("%s restored with owner %x (err %v), want the session %x", k, st.EphemeralOwner, err, c.SessionID())
		}
	}
	// Unregistered instances stay deleted.
	if err := d.Unregister(ctx, dyn); err != nil {
		t.Fatal(err)
	}
	if err := d.Unregister(ctx, seq); err != nil {
		t.Fatal(err)
	}
	if kids := children(t, raw, dir); len(kids) != 0 {
		t.Errorf("after Unregister: %v", kids)
	}
}

// A Dynamic znode of another session with the same id is replaced, not adopted.
func TestReplacesForeignEphemeral(t *testing.T) {
	ctx := testkit.Ctx(t)
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	c := connect(t, srv, ns)
	other := connect(t, srv, ns)
	d := newDiscovery(t, c)
	in := mustInstance(t, "svc", false)
	if _, err := other.Create(ctx, "/services/svc/"+in.ID, []byte(`{"name":"svc"}`), zkrecipes.ModeEphemeral, zkrecipes.WithParents()); err != nil {
		t.Fatal(err)
	}
	if err := d.Register(ctx, in); err != nil {
		t.Fatal(err)
	}
	_, st, err := c.Get(ctx, "/services/svc/"+in.ID)
	if err != nil || st.EphemeralOwner != c.SessionID() {
		t.Errorf("owner %x, want %x (%v)", st.EphemeralOwner, c.SessionID(), err)
	}
}
