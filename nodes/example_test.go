package nodes_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/examplezk"
	"github.com/zkrecipes/zkrecipes/nodes"
)

// Keep an ephemeral node that announces this process alive across deletions and new
// sessions, update its data, and remove it on the way out.
func ExamplePersistentNode() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := zkrecipes.Connect(ctx, examplezk.Servers(), // your ensemble, e.g. []string{"zk1:2181", "zk2:2181"}
		zkrecipes.WithNamespace(examplezk.Namespace()))
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer client.Close(ctx)

	node, err := nodes.New(client, "/myapp/workers/worker-1", zkrecipes.ModeEphemeral, []byte("idle"))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := node.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	if err := node.WaitForInitialCreate(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("alive at", node.ActualPath())
	if err := node.SetData(ctx, []byte("busy")); err != nil {
		fmt.Println(err)
	}
	data, _, _ := client.Get(ctx, node.ActualPath())
	fmt.Println("data:", string(data))

	if err := node.Close(ctx); err != nil { // deletes the node
		fmt.Println(err)
	}
	ok, _, _ := client.Exists(ctx, "/myapp/workers/worker-1")
	fmt.Println("exists after Close:", ok)
	// Output:
	// alive at /myapp/workers/worker-1
	// data: busy
	// exists after Close: false
}

// Keep a node that the server removes about a TTL after this process stops touching it,
// whether it closed, crashed or was cut off (the server needs extendedTypesEnabled=true).
func ExampleTTLNode() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := zkrecipes.Connect(ctx, examplezk.Servers(),
		zkrecipes.WithNamespace(examplezk.Namespace()))
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer client.Close(ctx)

	node, err := nodes.NewTTL(client, "/myapp/lease", 10*time.Second, []byte("holder=node-1"))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := node.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer node.Close(ctx) // stops touching; the server reaps the node after the TTL
	if err := node.WaitForInitialCreate(ctx); err != nil {
		fmt.Println(err) // nodes.ErrTTLUnsupported without extendedTypesEnabled
		return
	}
	kids, _, _ := client.Children(ctx, "/myapp/lease")
	fmt.Println(kids)
	// Output:
	// [touch]
}

func TestMain(m *testing.M) { examplezk.Main(m) }
