package zktest_test

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/internal/zktest"
)

// echoServer answers every connection by echoing what it reads, until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { io.Copy(c, c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func roundTrip(c net.Conn, msg string) (string, error) {
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	b := make([]byte, len(msg))
	_, err := io.ReadFull(c, b)
	return string(b), err
}

func dial(t *testing.T, d *zktest.FaultDialer, addr string) net.Conn {
	t.Helper()
	c, err := d.Dial("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestFaultDialerCutRefusesUntilHeal(t *testing.T) {
	t.Parallel()
	addr := echoServer(t)
	d := zktest.NewFaultDialer()
	c := dial(t, d, addr)
	if got, err := roundTrip(c, "ping"); err != nil || got != "ping" {
		t.Fatalf("healthy round trip = %q, %v", got, err)
	}
	d.Cut()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read on a cut connection succeeded")
	}
	if _, err := d.Dial("tcp", addr, 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial while cut = %v, want connection refused", err)
	}
	if n := d.Conns(); n != 0 {
		t.Fatalf("%d live connections after Cut", n)
	}
	d.Heal()
	c2 := dial(t, d, addr)
	if got, err := roundTrip(c2, "again"); err != nil || got != "again" {
		t.Fatalf("round trip after heal = %q, %v", got, err)
	}
	if d.Dials() != 3 {
		t.Fatalf("Dials() = %d, want 3", d.Dials())
	}
}

func TestFaultDialerBlackHoleHoldsBytesUntilHeal(t *testing.T) {
	t.Parallel()
	addr := echoServer(t)
	d := zktest.NewFaultDialer()
	c := dial(t, d, addr)

	d.BlackHole()
	if _, err := d.Dial("tcp", addr, 100*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("dial into a black hole = %v, want a timeout", err)
	}
	// Writes succeed (the bytes wait, as in a socket buffer); reads see nothing.
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatalf("write into a black hole: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 4)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read from a black hole = %d, %v, want a timeout", n, err)
	}
	c.SetReadDeadline(time.Time{})

	got := make(chan string, 1)
	go func() {
		b := make([]byte, 4)
		_, err := io.ReadFull(c, b)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(b)
	}()
	d.Heal()
	select {
	case s := <-got:
		if s != "held" {
			t.Fatalf("after heal read %q, want %q", s, "held")
		}
	case <-time.After(within):
		t.Fatal("held bytes not delivered after heal")
	}
}

func TestFaultDialerLatencyRespectsWriteDeadline(t *testing.T) {
	t.Parallel()
	addr := echoServer(t)
	d := zktest.NewFaultDialer()
	c := dial(t, d, addr)
	d.SetLatency(time.Hour)
	c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write with latency past the deadline = %v, want a timeout", err)
	}
	c.SetWriteDeadline(time.Time{})
	d.SetLatency(time.Millisecond)
	if got, err := roundTrip(c, "slow"); err != nil || got != "slow" {
		t.Fatalf("round trip with latency = %q, %v", got, err)
	}
}

// Faults flip while connections are busy: run with -race; the leak check in TestMain proves
// nothing is left behind.
func TestFaultDialerConcurrentUse(t *testing.T) {
	t.Parallel()
	addr := echoServer(t)
	d := zktest.NewFaultDialer()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := d.Dial("tcp", addr, 50*time.Millisecond)
				if err != nil {
					continue
				}
				c.SetDeadline(time.Now().Add(50 * time.Millisecond))
				roundTrip(c, "x")
				c.Close()
			}
		})
	}
	for range 50 {
		d.Cut()
		d.BlackHole()
		d.SetLatency(time.Millisecond)
		d.Heal()
		d.SetLatency(0)
	}
	close(stop)
	wg.Wait()
	if n := d.Conns(); n != 0 {
		t.Fatalf("%d connections still tracked after every one was closed", n)
	}
}
