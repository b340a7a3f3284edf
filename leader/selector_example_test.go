package leader_test

import (
	"context"
	"fmt"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/examplezk"
	"github.com/zkrecipes/zkrecipes/leader"
)

// Take part in a group of Curator LeaderSelector participants (a Java LeaderSelector on
// the same path is one more) and do one term of work while leader.
func ExampleRunSelector() {
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

	err = leader.RunSelector(ctx, client, "/myapp/scheduler", "node-1",
		func(ctx context.Context, term leader.Term) error {
			ps, err := leader.ListSelectorParticipants(ctx, client, "/myapp/scheduler")
			if err != nil {
				return err
			}
			fmt.Println("leading as", term.ID, "with", len(ps), "participant(s)")
			// Work until done or until ctx ends (leadership in doubt); the node is
			// released when this function returns.
			return nil
		}, leader.WithRequeue(false))
	fmt.Println("done:", err)
	// Output:
	// leading as node-1 with 1 participant(s)
	// done: <nil>
}
