package group_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/group"
	"github.com/zkrecipes/zkrecipes/internal/examplezk"
)

// Join a group as "worker-1" with a payload, see who else is in it, and leave.
func ExampleMember() {
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

	// Another process of the group, here on the same client for brevity.
	other, err := group.New(client, "/workers", "worker-2", []byte("10.0.0.2:9000"))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := other.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer other.Close(ctx)
	if err := other.WaitForJoin(ctx); err != nil {
		fmt.Println(err)
		return
	}

	me, err := group.New(client, "/workers", "worker-1", []byte("10.0.0.1:9000"))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := me.Start(ctx); err != nil { // returns once the group's view is loaded
		fmt.Println(err)
		return
	}
	defer me.Close(ctx)
	for _, id := range me.IDs() {
		fmt.Printf("%s at %s\n", id, me.Members()[id])
	}
	// Output:
	// worker-1 at 10.0.0.1:9000
	// worker-2 at 10.0.0.2:9000
}

func TestMain(m *testing.M) { examplezk.Main(m) }
