package broadcast

import "testing"

func TestFireWakesEveryWaiterOnce(t *testing.T) {
	s := New()
	a, b := s.C(), s.C()
	s.Fire()
	for _, ch := range []<-chan struct{}{a, b} {
		select {
		case <-ch:
		default:
			t.Fatal("a waiter was not woken")
		}
	}
	next := s.C()
	select {
	case <-next:
		t.Fatal("the next channel is closed before the next Fire")
	default:
	}
	s.Fire()
	<-next
}
