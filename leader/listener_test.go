package leader

import (
	"sync"
	"testing"
	"time"
)

// The dispatcher is pure Go, so it is tested without ZooKeeper.
func TestDispatcherDeliversInOrder(t *testing.T) {
	var mu sync.Mutex
	var got []bool
	ch := make(chan Event, 100)
	d := newDispatcher([]Listener{ListenerFuncs{
		OnIsLeader:  func() { mu.Lock(); got = append(got, true); mu.Unlock() },
		OnNotLeader: func() { mu.Lock(); got = append(got, false); mu.Unlock() },
	}, ListenerFuncs{}}, []chan<- Event{ch})
	go d.run()
	var last <-chan struct{}
	for i := 0; i < 50; i++ {
		last = d.push(Event{Leader: i%2 == 0})
	}
	select {
	case <-last:
	case <-time.After(10 * time.Second):
		t.Fatal("last event not delivered")
	}
	d.finish()
	<-d.done
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 50 || len(ch) != 50 {
		t.Fatalf("delivered %d callbacks and %d events, want 50 each", len(got), len(ch))
	}
	for i, leader := range got {
		if leader != (i%2 == 0) {
			t.Fatalf("callback %d out of order", i)
		}
		if ev := <-ch; ev.Leader != leader {
			t.Fatalf("event %d out of order", i)
		}
	}
}

func TestDispatcherDropUnblocksFullChannel(t *testing.T) {
	ch := make(chan Event) // nobody reads
	d := newDispatcher(nil, []chan<- Event{ch})
	go d.run()
	d.push(Event{Leader: true})
	d.push(Event{Leader: false})
	d.drop()
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		t.Fatal("dispatcher did not return after drop")
	}
}
