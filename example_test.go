package zkrecipes_test

import (
	"context"
	"errors"
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

// A write whose outcome is unknown (its ctx ended, or its reply was lost) is neither a
// success nor a failure: wait until its attempt has settled, then look at the server
// before deciding to write again.
func ExampleSettled() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := zkrecipes.Connect(ctx, exampleServers(), // e.g. []string{"zk1:2181,zk2:2181,zk3:2181"}
		zkrecipes.WithNamespace(exampleNamespace()))
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	defer client.Close(ctx)

	// A deadline far too short for a round trip: the create may be abandoned in flight.
	short, stop := context.WithTimeout(ctx, 50*time.Microsecond)
	_, err = client.Create(short, "/jobs/42", []byte("queued"), zkrecipes.ModePersistent, zkrecipes.WithParents())
	stop()
	if errors.Is(err, zkrecipes.ErrOutcomeUnknown) {
		<-zkrecipes.Settled(err) // the abandoned attempt has returned: what it did is final
		var ok bool
		if ok, _, err = client.Exists(ctx, "/jobs/42"); ok {
			err = nil // it was applied after all
		}
	}
	if err != nil { // not applied (or not sent at all): writing again cannot apply it twice
		_, err = client.Create(ctx, "/jobs/42", []byte("queued"), zkrecipes.ModePersistent, zkrecipes.WithParents())
	}
	kids, _, _ := client.Children(ctx, "/jobs")
	fmt.Println(kids, err)
	// Output:
	// [42] <nil>
}
