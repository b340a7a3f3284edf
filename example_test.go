package zkrecipes_test

import (
	"context"
	"fmt"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/retry"
)

// Connect to ZooKeeper, follow the connection state, and use a namespaced, retrying
// operation.
func ExampleConnect() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	client, err := zkrecipes.Connect(ctx, exampleServers(), // e.g. []string{"zk1:2181,zk2:2181,zk3:2181"}
		zkrecipes.WithNamespace(exampleNamespace()+"/myapp"),
		zkrecipes.WithSessionTimeout(4*time.Second),
		zkrecipes.WithRetryPolicy(retry.ExponentialBackoff(100*time.Millisecond, 5)),
	)
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	stop := client.Listen(func(sc zkrecipes.StateChange) {
		// SUSPENDED: stop work that needs the session; LOST: ephemerals are gone;
		// RECONNECTED with NewSession: recreate them.
		fmt.Println("state:", sc.State)
	})
	defer stop()

	path, err := client.Create(ctx, "/config/greeting", []byte("hello"), zkrecipes.ModePersistent, zkrecipes.WithParents())
	if err != nil {
		fmt.Println("create:", err)
		return
	}
	data, _, err := client.Get(ctx, path)
	fmt.Println(path, string(data), err)

	_ = client.Close(ctx)
	// Output:
	// /config/greeting hello <nil>
	// state: CLOSED
}
