package curatortest

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// testCtx bounds one test generously: JVM start-up on a loaded 2-core box can take seconds.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var latchNode = regexp.MustCompile(`^_c_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-latch-(\d{10})$`)

func TestLatchTwoJavaPeersElectOneLeader(t *testing.T) {
	ctx := testCtx(t)
	cs := zktest.Start(t).ConnectString()
	path := zktest.BasePath(t) + "/leader"
	a := Start(t, cs)
	b := Start(t, cs)

	nodeA, err := a.LatchStart(ctx, "l", path, "java-a")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.WaitLeadership(ctx, "l", true); err != nil {
		t.Fatal(err)
	}
	nodeB, err := b.LatchStart(ctx, "l", path, "java-b")
	if err != nil {
		t.Fatal(err)
	}
	ma := latchNode.FindStringSubmatch(strings.TrimPrefix(nodeA, path+"/"))
	mb := latchNode.FindStringSubmatch(strings.TrimPrefix(nodeB, path+"/"))
	if ma == nil || mb == nil || ma[1] >= mb[1] {
		t.Fatalf("latch nodes %q, %q: want protected names under %s, a before b", nodeA, nodeB, path)
	}

	if has, err := b.LatchHas(ctx, "l"); err != nil || has {
		t.Fatalf("b.LatchHas = %v, %v; want false", has, err)
	}
	if has, err := a.LatchHas(ctx, "l"); err != nil || !has {
		t.Fatalf("a.LatchHas = %v, %v; want true", has, err)
	}
	want := []Participant{{ID: "java-a", IsLeader: true}, {ID: "java-b", IsLeader: false}}
	if got, err := b.LatchParticipants(ctx, "l"); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("participants = %+v, %v; want %+v", got, err, want)
	}
	if got, err := b.LatchLeader(ctx, "l"); err != nil || got != want[0] {
		t.Fatalf("leader = %+v, %v; want %+v", got, err, want[0])
	}

	// The node carries the id and belongs to b's session.
	n, err := a.Get(ctx, nodeB)
	if err != nil {
		t.Fatal(err)
	}
	sid, err := b.SessionID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(n.Data) != "java-b" || n.EphemeralOwner != sid {
		t.Fatalf("node %s = %q owned by %x; want %q owned by %x", nodeB, n.Data, n.EphemeralOwner, "java-b", sid)
	}

	if err := a.LatchCloseNotify(ctx, "l"); err != nil {
		t.Fatal(err)
	}
	if err := a.WaitLeadership(ctx, "l", false); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitLeadership(ctx, "l", true); err != nil {
		t.Fatal(err)
	}
	want = []Participant{{ID: "java-b", IsLeader: true}}
	if got, err := b.LatchParticipants(ctx, "l"); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("participants after handover = %+v, %v; want %+v", got, err, want)
	}
	if p, err := b.LatchPath(ctx, "l"); err != nil || p != nodeB {
		t.Fatalf("LatchPath = %q, %v; want %q", p, err, nodeB)
	}
}

// Curator's default participant id is "", written as an empty (not null) buffer.
func TestLatchDefaultID(t *testing.T) {
	ctx := testCtx(t)
	p := Start(t, zktest.Start(t).ConnectString())
	path := zktest.BasePath(t) + "/leader"
	node, err := p.LatchStart(ctx, "l", path, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitLeadership(ctx, "l", true); err != nil {
		t.Fatal(err)
	}
	n, err := p.Get(ctx, node)
	if err != nil {
		t.Fatal(err)
	}
	if n.Data == nil || len(n.Data) != 0 {
		t.Fatalf("node data = %#v; want empty, non-null", n.Data)
	}
	want := []Participant{{ID: "", IsLeader: true}}
	if got, err := p.LatchParticipants(ctx, "l"); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("participants = %+v, %v; want %+v", got, err, want)
	}
}

func TestDiscoveryRegisterAndQuery(t *testing.T) {
	ctx := testCtx(t)
	base := zktest.BasePath(t)
	p := Start(t, zktest.Start(t).ConnectString())
	if err := p.SDStart(ctx, base); err != nil {
		t.Fatal(err)
	}
	id, err := p.SDRegister(ctx, Registration{
		Name: "bookService", ID: "id-1", Address: "127.0.0.1", Port: Ptr(8080), SSLPort: Ptr(8443),
		Leader: Ptr(true), RegistrationTimeUTC: 1700000000000, ServiceType: "DYNAMIC",
		URISpec: "{scheme}://{address}:{ssl-port}/x",
	})
	if err != nil || id != "id-1" {
		t.Fatalf("SDRegister = %q, %v", id, err)
	}
	want := Instance{
		Name: "bookService", ID: "id-1", Address: "127.0.0.1", Port: Ptr(8080), SSLPort: Ptr(8443),
		Payload: &InstanceDetails{Leader: true}, PayloadClass: PayloadClass,
		RegistrationTimeUTC: 1700000000000, ServiceType: "DYNAMIC",
		URISpec: Ptr("https://127.0.0.1:8443/x"),
		URISpecParts: []URISpecPart{
			{"scheme", true}, {"://", false}, {"address", true}, {":", false}, {"ssl-port", true}, {"/x", false},
		},
		Enabled: true,
	}
	got, err := p.SDQuery(ctx, "bookService")
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("SDQuery = %+v, %v; want [%+v]", got, err, want)
	}
	one, err := p.SDQueryOne(ctx, "bookService", "id-1")
	if err != nil || one == nil || !reflect.DeepEqual(*one, want) {
		t.Fatalf("SDQueryOne = %+v, %v; want %+v", one, err, want)
	}
	if one, err := p.SDQueryOne(ctx, "bookService", "nope"); err != nil || one != nil {
		t.Fatalf("SDQueryOne(nope) = %+v, %v; want nil", one, err)
	}

	// Builder defaults: random UUID id, a local address, no ports, no payload, now.
	id2, err := p.SDRegister(ctx, Registration{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	got, err = p.SDQuery(ctx, "other")
	if err != nil || len(got) != 1 {
		t.Fatalf("SDQuery(other) = %+v, %v", got, err)
	}
	g := got[0]
	if g.ID != id2 || len(id2) != 36 || g.Address == "" || g.Port != nil || g.SSLPort != nil ||
		g.Payload != nil || g.PayloadClass != "" || g.RegistrationTimeUTC <= 0 || g.ServiceType != "DYNAMIC" ||
		g.URISpec != nil || !g.Enabled {
		t.Fatalf("defaults instance = %+v", g)
	}
	if names, err := p.SDNames(ctx); err != nil || !reflect.DeepEqual(names, []string{"bookService", "other"}) {
		t.Fatalf("SDNames = %q, %v", names, err)
	}

	if err := p.SDUnregister(ctx, "id-1"); err != nil {
		t.Fatal(err)
	}
	if got, err := p.SDQuery(ctx, "bookService"); err != nil || len(got) != 0 {
		t.Fatalf("SDQuery after unregister = %+v, %v", got, err)
	}
}

func TestServiceCacheSeesUpdates(t *testing.T) {
	ctx := testCtx(t)
	cs := zktest.Start(t).ConnectString()
	base := zktest.BasePath(t)
	writer := Start(t, cs)
	reader := Start(t, cs)
	for _, p := range []*Peer{writer, reader} {
		if err := p.SDStart(ctx, base); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := writer.SDRegister(ctx, Registration{Name: "svc", ID: "a", Address: "10.0.0.1", Port: Ptr(1), Leader: Ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if err := reader.CacheStart(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	ins, err := reader.CacheInstances(ctx, "svc")
	if err != nil || len(ins) != 1 || ins[0].ID != "a" || ins[0].Payload == nil || ins[0].Payload.Leader {
		t.Fatalf("initial cache = %+v, %v", ins, err)
	}

	if err := writer.SDUpdate(ctx, "svc", "a", true); err != nil {
		t.Fatal(err)
	}
	if _, err := reader.WaitCache(ctx, "svc", func(ins []Instance) bool {
		return len(ins) == 1 && ins[0].Payload != nil && ins[0].Payload.Leader
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.SDRegister(ctx, Registration{Name: "svc", ID: "b", Address: "10.0.0.2", Port: Ptr(2), Leader: Ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := reader.WaitCache(ctx, "svc", func(ins []Instance) bool { return len(ins) == 2 }); err != nil {
		t.Fatal(err)
	}
	if err := writer.SDUnregister(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := reader.WaitCache(ctx, "svc", func(ins []Instance) bool { return len(ins) == 1 && ins[0].ID == "b" }); err != nil {
		t.Fatal(err)
	}
}

// Without ZooKeeper: errors, the serializer commands, a command abandoned mid-way, and a dead JVM.
func TestProtocol(t *testing.T) {
	ctx := testCtx(t)
	p := Start(t, "")

	_, err := p.Cmd(ctx, "bogus")
	var ce *CommandError
	if !errors.As(err, &ce) || !strings.Contains(ce.Message, "unknown command bogus") {
		t.Fatalf("Cmd(bogus) = %v; want a CommandError", err)
	}
	if _, err := p.SDQuery(ctx, "x"); !errors.As(err, &ce) {
		t.Fatalf("SDQuery before sd-start = %v; want a CommandError", err)
	}

	r := Registration{Name: "s", ID: "i", Address: "h", Port: Ptr(0), Leader: Ptr(true), RegistrationTimeUTC: 7}
	data, err := p.SDSerialize(ctx, r, true)
	const want = `{"name":"s","id":"i","address":"h","port":0,"sslPort":null,` +
		`"payload":{"@class":"com.example.InstanceDetails","leader":true},` +
		`"registrationTimeUTC":7,"serviceType":"DYNAMIC","uriSpec":null}`
	if err != nil || string(data) != want {
		t.Fatalf("SDSerialize = %s, %v; want %s", data, err, want)
	}
	in, err := p.SDDeserialize(ctx, data)
	if err != nil || in.Port == nil || *in.Port != 0 || in.Payload == nil || !in.Payload.Leader || in.RegistrationTimeUTC != 7 {
		t.Fatalf("SDDeserialize = %+v, %v", in, err)
	}
	// Java's POJO reader needs "@class".
	if _, err := p.SDDeserialize(ctx, []byte(`{"name":"s","id":"i","payload":{"leader":true}}`)); !errors.As(err, &ce) {
		t.Fatalf("SDDeserialize without @class = %v; want a CommandError", err)
	}

	// An abandoned command's answer must not be mistaken for the next one's.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, _ = p.SDSerialize(cancelled, r, true)
	if lines, err := p.Cmd(ctx, "ping"); err != nil || len(lines) != 0 {
		t.Fatalf("ping after an abandoned command = %q, %v", lines, err)
	}

	p.Kill()
	if _, err := p.Cmd(ctx, "ping"); !errors.Is(err, ErrExited) {
		t.Fatalf("Cmd after Kill = %v; want ErrExited", err)
	}
	if _, err := p.WaitEvent(ctx, func(string) bool { return true }); !errors.Is(err, ErrExited) {
		t.Fatalf("WaitEvent after Kill = %v; want ErrExited", err)
	}
}
