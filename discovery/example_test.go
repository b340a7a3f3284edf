package discovery_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/discovery"
	"github.com/zkrecipes/zkrecipes/internal/examplezk"
)

// InstanceDetails is the payload; Java services read it as com.example.InstanceDetails.
type InstanceDetails struct {
	Leader bool `json:"leader"`
}

// Register an instance of "bookService" that Java's ServiceDiscovery can read, flip its
// payload, and query it back.
func ExampleDiscovery() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := zkrecipes.Connect(ctx, examplezk.Servers(), // your ensemble, e.g. []string{"zk1:2181", "zk2:2181", "zk3:2181"}
		zkrecipes.WithNamespace(examplezk.Namespace()),
		zkrecipes.WithSessionTimeout(4*time.Second))
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer client.Close(ctx)

	d, err := discovery.New[InstanceDetails](client, "/service-discovery",
		discovery.WithSerializer(discovery.JSON[InstanceDetails](discovery.WithJavaClass("com.example.InstanceDetails"))))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close(ctx) // unregisters what d registered

	inst, err := discovery.NewInstance("bookService", InstanceDetails{Leader: false},
		discovery.WithID("book-1"), discovery.WithAddress("10.0.0.7"), discovery.WithPort(8080),
		discovery.WithURISpec(discovery.MustParseURISpec("{scheme}://{address}:{port}/books")))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := d.Register(ctx, inst); err != nil {
		fmt.Println(err)
		return
	}
	inst.Payload.Leader = true
	if err := d.Update(ctx, inst); err != nil {
		fmt.Println(err)
		return
	}

	names, _ := d.Names(ctx)
	fmt.Println("services:", names)
	got, err := d.Instance(ctx, "bookService", "book-1")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(got.ID, got.URI(nil), "leader:", got.Payload.Leader)
	// Output:
	// services: [bookService]
	// book-1 http://10.0.0.7:8080/books leader: true
}

// Keep the instances of a service in memory and hear about changes.
func ExampleCache() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := zkrecipes.Connect(ctx, examplezk.Servers(), // your ensemble, e.g. []string{"zk1:2181", "zk2:2181", "zk3:2181"}
		zkrecipes.WithNamespace(examplezk.Namespace()),
		zkrecipes.WithSessionTimeout(4*time.Second))
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer client.Close(ctx)
	d, err := discovery.New[InstanceDetails](client, "/service-discovery")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close(ctx)

	cache, err := d.Cache("bookService")
	if err != nil {
		fmt.Println(err)
		return
	}
	changes := make(chan discovery.CacheEvent[InstanceDetails], 16)
	cache.Listen(func(ev discovery.CacheEvent[InstanceDetails]) {
		if ev.Kind == discovery.CacheChanged {
			changes <- ev
		}
	})
	if err := cache.Start(ctx); err != nil { // returns after the initial load
		fmt.Println(err)
		return
	}
	defer cache.Close(ctx)
	fmt.Println("instances at start:", len(cache.Instances()))

	inst, _ := discovery.NewInstance("bookService", InstanceDetails{}, discovery.WithID("book-1"))
	if err := d.Register(ctx, inst); err != nil {
		fmt.Println(err)
		return
	}
	ev := <-changes
	fmt.Println("added:", ev.Added[0].ID)

	inst.Payload.Leader = true
	_ = d.Update(ctx, inst)
	ev = <-changes
	fmt.Println("updated:", ev.Updated[0].ID, "leader:", ev.Updated[0].Payload.Leader)

	_ = d.Unregister(ctx, inst)
	ev = <-changes
	fmt.Println("removed:", ev.Removed[0].ID, "left:", len(cache.Instances()))
	// Output:
	// instances at start: 0
	// added: book-1
	// updated: book-1 leader: true
	// removed: book-1 left: 0
}

// Pick instances round-robin, sending writes to the leader only, and take an instance
// out of rotation after errors.
func ExampleProvider() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := zkrecipes.Connect(ctx, examplezk.Servers(), // your ensemble, e.g. []string{"zk1:2181", "zk2:2181", "zk3:2181"}
		zkrecipes.WithNamespace(examplezk.Namespace()),
		zkrecipes.WithSessionTimeout(4*time.Second))
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer client.Close(ctx)
	d, err := discovery.New[InstanceDetails](client, "/service-discovery")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close(ctx)
	for i, leader := range []bool{true, false, false} {
		inst, _ := discovery.NewInstance("bookService", InstanceDetails{Leader: leader},
			discovery.WithID(fmt.Sprintf("book-%d", i+1)))
		if err := d.Register(ctx, inst); err != nil {
			fmt.Println(err)
			return
		}
	}
	cache, _ := d.Cache("bookService")
	if err := cache.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer cache.Close(ctx)

	reads, _ := discovery.NewProvider(cache) // round robin over every enabled instance
	writes, _ := discovery.NewProvider(cache,
		discovery.WithFilter(func(in discovery.Instance[InstanceDetails]) bool { return in.Payload.Leader }))

	var picked []string
	for range 4 {
		in, _ := reads.Instance(ctx)
		picked = append(picked, in.ID)
	}
	fmt.Println(picked)
	leader, _ := writes.Instance(ctx)
	fmt.Println("writes go to", leader.ID)

	// Two errors within 30 s take an instance down for the rest of that window.
	reads.NoteError(leader)
	reads.NoteError(leader)
	up, _ := reads.All(ctx)
	fmt.Println("up:", len(up))
	// Output:
	// [book-1 book-2 book-3 book-1]
	// writes go to book-1
	// up: 2
}

// Render a URI template with an instance's variables and one of the caller's.
func ExampleParseURISpec() {
	spec, err := discovery.ParseURISpec("{scheme}://{address}:{port}/{version}/{[}id{]}")
	if err != nil {
		fmt.Println(err)
		return
	}
	inst, _ := discovery.NewInstance("api", 0, discovery.WithAddress("10.0.0.7"), discovery.WithSSLPort(8443),
		discovery.WithPort(8080), discovery.WithURISpec(spec))
	fmt.Println(inst.URI(map[string]any{"version": "v2"}))

	_, err = discovery.ParseURISpec("{scheme://x")
	fmt.Println(err)
	// Output:
	// https://10.0.0.7:8080/v2/{id}
	// discovery: invalid URISpec template "{scheme://x": variable opened at offset 0 is not closed
}

// The bytes Curator's JsonInstanceSerializer writes, and reading them back.
func ExampleJSON() {
	s := discovery.JSON[InstanceDetails](discovery.WithJavaClass("com.example.InstanceDetails"))
	inst, _ := discovery.NewInstance("bookService", InstanceDetails{Leader: true},
		discovery.WithID("3f2b8c1e-7a4d-4e6f-9b0a-1c2d3e4f5a6b"), discovery.WithAddress("127.0.0.1"),
		discovery.WithPort(8080), discovery.WithRegistrationTime(time.UnixMilli(1700000000000)))
	data, err := s.Serialize(inst)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(data))

	back, err := s.Deserialize(data)
	fmt.Println(back.ID, back.Payload.Leader, err)
	// Output:
	// {"name":"bookService","id":"3f2b8c1e-7a4d-4e6f-9b0a-1c2d3e4f5a6b","address":"127.0.0.1","port":8080,"sslPort":null,"payload":{"@class":"com.example.InstanceDetails","leader":true},"registrationTimeUTC":1700000000000,"serviceType":"DYNAMIC","uriSpec":null}
	// 3f2b8c1e-7a4d-4e6f-9b0a-1c2d3e4f5a6b true <nil>
}

func TestMain(m *testing.M) { examplezk.Main(m) }
