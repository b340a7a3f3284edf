package leader_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/internal/examplezk"
	"github.com/zkrecipes/zkrecipes/leader"
)

// Join an election as "node-1", learn about leadership from a channel, list
// the participants, and leave.
func ExampleLatch() {
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

	events := make(chan leader.Event, 8)
	latch, err := leader.New(client, "/myapp/leader",
		leader.WithID("node-1"),
		leader.WithCloseMode(leader.CloseNotifyLeader), // tell us when Close ends leadership
		leader.WithEvents(events),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := latch.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	ev := <-events
	fmt.Println("leader:", ev.Leader, "as", ev.Term.ID)

	participants, err := latch.Participants(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range participants {
		fmt.Println("participant:", p.ID, "leader:", p.IsLeader)
	}

	if err := latch.Close(ctx); err != nil {
		fmt.Println(err)
		return
	}
	ev = <-events
	fmt.Println("leader:", ev.Leader)
	// Output:
	// leader: true as node-1
	// participant: node-1 leader: true
	// leader: false
}

// Callbacks as plain functions. They run on the latch's own goroutine,
// one at a time, strictly alternating.
func ExampleListenerFuncs() {
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

	elected := make(chan struct{})
	latch, err := leader.New(client, "/myapp/leader",
		leader.WithCloseMode(leader.CloseNotifyLeader),
		leader.WithListener(leader.ListenerFuncs{
			OnIsLeader: func() {
				fmt.Println("is leader")
				close(elected)
			},
			OnNotLeader: func() { fmt.Println("not leader") },
		}))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := latch.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	<-elected
	_ = latch.Close(ctx) // returns after NotLeader was delivered
	// Output:
	// is leader
	// not leader
}

// Do work only while leader. The function's context ends the moment
// leadership is in doubt; writes that must not outlive the term go through
// term.Multi, which fails with ErrNotLeader once another participant may
// lead.
func ExampleRun() {
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
	if _, err := client.Create(ctx, "/myapp/state", nil, zkrecipes.ModePersistent, zkrecipes.WithParents()); err != nil {
		fmt.Println(err)
		return
	}

	err = leader.Run(ctx, client, "/myapp/scheduler", "worker-1", func(ctx context.Context, term leader.Term) error {
		fmt.Println("leading as", term.ID)
		_, err := term.Multi(ctx, &zk.SetDataRequest{Path: "/myapp/state", Data: []byte("written by worker-1"), Version: -1})
		return err
	}, leader.WithRequeue(false)) // one term is enough here; a service would keep campaigning
	fmt.Println("run:", err)

	data, _, err := client.Get(ctx, "/myapp/state")
	fmt.Println(string(data), err)
	// Output:
	// leading as worker-1
	// run: <nil>
	// written by worker-1 <nil>
}

// An observer that does not take part reads who leads.
func ExampleCurrentLeader() {
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

	latch, err := leader.New(client, "/myapp/leader", leader.WithID("node-7"))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := latch.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer latch.Close(ctx)

	p, err := leader.CurrentLeader(ctx, client, "/myapp/leader")
	fmt.Println(p.ID, p.IsLeader, err)
	// Output:
	// node-7 true <nil>
}

func TestMain(m *testing.M) { examplezk.Main(m) }
