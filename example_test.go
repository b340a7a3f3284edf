package zkrecipes_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/examplezk"
	"github.com/zkrecipes/zkrecipes/retry"
)

// Connect to ZooKeeper, follow the connection state, and use a namespaced, retrying
// operation.
func ExampleConnect() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	client, err := zkrecipes.Connect(ctx, examplezk.Servers(), // e.g. []string{"zk1:2181,zk2:2181,zk3:2181"}
		zkrecipes.WithNamespace(examplezk.Namespace()+"/myapp"),
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
	client, err := zkrecipes.Connect(ctx, examplezk.Servers(), // e.g. []string{"zk1:2181,zk2:2181,zk3:2181"}
		zkrecipes.WithNamespace(examplezk.Namespace()))
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

// Stop session-bound work when the session ends: the session context is cancelled when
// the session is lost (expired, or suspended for the session timeout) or replaced, or
// when the client closes, and context.Cause says which. A short disconnection does not
// cancel it.
func ExampleClient_SessionContext() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	client, err := zkrecipes.Connect(ctx, examplezk.Servers(), // e.g. []string{"zk1:2181,zk2:2181,zk3:2181"}
		zkrecipes.WithNamespace(examplezk.Namespace()),
		zkrecipes.WithSessionTimeout(4*time.Second),
	)
	if err != nil {
		fmt.Println("connect:", err)
		return
	}

	// The worker announces itself with an ephemeral node, which lives as long as the
	// session: its work is valid exactly as long as the session context.
	session := client.SessionContext()
	if _, err := client.Create(ctx, "/workers/w1", nil, zkrecipes.ModeEphemeral, zkrecipes.WithParents()); err != nil {
		fmt.Println("create:", err)
		return
	}
	stopped := make(chan error)
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-session.Done():
				stopped <- context.Cause(session)
				return
			case <-tick.C:
				// One unit of work that relies on /workers/w1 being ours.
			}
		}
	}()

	_ = client.Close(ctx) // ends the session context, as a lost session would
	switch err := <-stopped; {
	case errors.Is(err, zkrecipes.ErrSessionLost):
		// After the next RECONNECTED, take a new SessionContext and re-create the node
		// (if RECONNECTED says NewSession) before working again.
		fmt.Println("worker stopped: session lost")
	case errors.Is(err, zkrecipes.ErrClosed):
		fmt.Println("worker stopped: client closed")
	}
	// Output:
	// worker stopped: client closed
}

// A listener added after Connect hears the current state first (marked Initial), then
// every transition.
func ExampleWithCurrentState() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	client, err := zkrecipes.Connect(ctx, examplezk.Servers())
	if err != nil {
		fmt.Println("connect:", err)
		return
	}
	client.Listen(func(sc zkrecipes.StateChange) {
		fmt.Println("state:", sc.State, "initial:", sc.Initial)
	}, zkrecipes.WithCurrentState())

	_ = client.Close(ctx) // waits for the listener's last call
	// Output:
	// state: CONNECTED initial: true
	// state: CLOSED initial: false
}

func TestMain(m *testing.M) { examplezk.Main(m) }
