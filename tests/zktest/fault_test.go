package zktest_test

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// testServer serves every connection with handle on its own goroutine, until the test
// ends (then it closes the listener and the connections and waits for the handlers).
func testServer(t *testing.T, handle func(net.Conn)) string {
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
			wg.Go(func() { handle(c) })
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

// echoServer answers every connection by echoing what it reads, until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	return testServer(t, func(c net.Conn) { io.Copy(c, c) })
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

// frameServer speaks ZooKeeper's framing: it answers the first frame (the connect request)
// with a 16-byte connect response and every later frame with a reply carrying the
// request's xid, until the test ends.
func frameServer(t *testing.T) string {
	t.Helper()
	return testServer(t, func(c net.Conn) {
		first := true
		for {
			req, err := readFrame(c)
			if err != nil {
				return
			}
			reply := frame(0, 0) // connect response: protocol version, timeout
			if !first {
				reply = frame(int32(binary.BigEndian.Uint32(req[4:8])), 0)
			}
			first = false
			if _, err := c.Write(reply); err != nil {
				return
			}
		}
	})
}

// frame is a length-prefixed frame of two int32s (for a request: xid and opcode).
func frame(a, b int32) []byte {
	f := make([]byte, 12)
	binary.BigEndian.PutUint32(f[0:4], 8)
	binary.BigEndian.PutUint32(f[4:8], uint32(a))
	binary.BigEndian.PutUint32(f[8:12], uint32(b))
	return f
}

func readFrame(c net.Conn) ([]byte, error) {
	head := make([]byte, 4)
	if _, err := io.ReadFull(c, head); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(head))
	if _, err := io.ReadFull(c, body); err != nil {
		return nil, err
	}
	return append(head, body...), nil
}

// xidOf sends a request frame with xid and returns the xid of the next frame read.
func xidOf(c net.Conn, xid int32) (int32, error) {
	if _, err := c.Write(frame(xid, 4)); err != nil {
		return 0, err
	}
	f, err := readFrame(c)
	if err != nil {
		return 0, err
	}
	return int32(binary.BigEndian.Uint32(f[4:8])), nil
}

// A wedged connection answers pings but swallows every other reply; a new connection is
// healthy.
func TestFaultDialerWedgePassesOnlyPings(t *testing.T) {
	t.Parallel()
	addr := frameServer(t)
	d := zktest.NewFaultDialer()
	c := dial(t, d, addr)
	if _, err := c.Write(frame(0, 0)); err != nil { // connect request
		t.Fatal(err)
	}
	if _, err := readFrame(c); err != nil {
		t.Fatal(err)
	}
	if x, err := xidOf(c, 1); err != nil || x != 1 {
		t.Fatalf("healthy request reply xid = %d, %v", x, err)
	}
	if n := d.Wedge(); n != 1 {
		t.Fatalf("Wedge() = %d, want 1", n)
	}
	if x, err := xidOf(c, -2); err != nil || x != -2 {
		t.Fatalf("wedged ping reply xid = %d, %v", x, err)
	}
	// The request's reply is swallowed; the ping sent after it still comes back.
	if _, err := c.Write(frame(2, 4)); err != nil {
		t.Fatal(err)
	}
	if x, err := xidOf(c, -2); err != nil || x != -2 {
		t.Fatalf("after a swallowed request: xid = %d, %v, want the ping's -2", x, err)
	}
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := xidOf(c, 3); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("wedged request reply: %v, want a timeout", err)
	}

	c2 := dial(t, d, addr)
	if _, err := c2.Write(frame(0, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := readFrame(c2); err != nil {
		t.Fatal(err)
	}
	if x, err := xidOf(c2, 7); err != nil || x != 7 {
		t.Fatalf("new connection after a wedge: xid = %d, %v", x, err)
	}
}
