package leader_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
	"github.com/zkrecipes/zkrecipes/leader"
	"github.com/zkrecipes/zkrecipes/tests/internal/testkit"
	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// notificationCounter is a zk.Dialer that counts the watch notifications a
// client receives, by reading the frames the server sends: each is a 4-byte
// length and a payload, whose first 4 bytes are the xid (-1 for a watch
// notification), except the connect response that opens every connection.
type notificationCounter struct {
	n atomic.Int64
}

func (nc *notificationCounter) Dial(network, address string, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout(network, address, timeout)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, nc: nc}, nil
}

type countingConn struct {
	net.Conn
	nc *notificationCounter

	mu        sync.Mutex
	head      []byte // bytes of the current frame's length and xid read so far
	remaining int    // payload bytes of the current frame still to skip
	frames    int
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	for b := p[:n]; len(b) > 0; {
		if c.remaining > 0 {
			k := min(c.remaining, len(b))
			c.remaining -= k
			b = b[k:]
			continue
		}
		need := 4
		if c.frames > 0 && len(c.head) >= 4 {
			need = 8 // length, then xid
		}
		k := min(need-len(c.head), len(b))
		c.head = append(c.head, b[:k]...)
		b = b[k:]
		if len(c.head) < need {
			continue
		}
		length := int(int32(binary.BigEndian.Uint32(c.head[:4])))
		if c.frames == 0 || need == 8 {
			if need == 8 && int32(binary.BigEndian.Uint32(c.head[4:8])) == -1 {
				c.nc.n.Add(1)
			}
			c.remaining = length - (len(c.head) - 4)
			c.head = c.head[:0]
			c.frames++
		}
	}
	return n, err
}

// watchesBySession asks the server (four-letter word wchc) which paths each
// session watches.
func watchesBySession(t testing.TB, addr string) map[int64][]string {
	t.Helper()
	out, err := zktest.FourLetter(testkit.Ctx(t), addr, "wchc")
	if err != nil {
		t.Fatalf("wchc: %v", err)
	}
	res := map[int64][]string{}
	var cur int64
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "0x"):
			id, err := strconv.ParseUint(line[2:], 16, 64)
			if err != nil {
				t.Fatalf("wchc line %q: %v", line, err)
			}
			cur = int64(id)
		case strings.HasPrefix(line, "\t"):
			res[cur] = append(res[cur], strings.TrimSpace(line))
		}
	}
	return res
}

// With 50 participants, a change of leader wakes exactly one waiting
// participant: each waits on its predecessor alone, which the server's
// watch table shows, and when the leader leaves only its successor receives
// a notification.
func TestLatchHerd(t *testing.T) {
	srv := zktest.Start(t)
	ns := testkit.Namespace(t)
	const n = 50
	h := newHistory()
	counters := make([]*notificationCounter, n)
	clients := make([]*zkrecipes.Client, n)
	latches := make([]*leader.Latch, n)
	for i := range latches {
		counters[i] = &notificationCounter{}
		clients[i] = testkit.Connect(t, srv.Servers(), ns, zkrecipes.WithDialer(counters[i].Dial))
		latches[i] = startLatch(t, clients[i], "/e", fmt.Sprintf("p%02d", i), h)
	}
	h.waitLeader(t, "p00")
	ctx := testkit.Ctx(t)

	// The server's view: each session watches its own node and, unless it
	// leads, the node just before its own; nothing else.
	full := func(i int) string { return "/" + ns + latches[i].Node() }
	watches := watchesBySession(t, srv.Addr())
	for i := range latches {
		got := watches[clients[i].SessionID()]
		want := []string{full(i)}
		if i > 0 {
			want = append(want, full(i-1))
		}
		if !sameSet(got, want) {
			t.Fatalf("p%02d watches %v, want %v", i, got, want)
		}
	}
	watchers := 0
	for _, paths := range watches {
		for _, p := range paths {
			if p == full(0) {
				watchers++
			}
		}
	}
	if watchers != 2 {
		t.Fatalf("the leader's node has %d watchers, want 2 (itself and its successor)", watchers)
	}

	before := make([]int64, n)
	for i, c := range counters {
		before[i] = c.n.Load()
	}
	closeLatch(t, latches[0])
	h.waitLeader(t, "p01")
	// A round trip on every connection: the server sends a notification
	// before the replies to requests it handles after the change, so once
	// each reply is in, every notification caused by the handover has been
	// received (and counted).
	for i := 1; i < n; i++ {
		if err := clients[i].Sync(ctx, "/e"); err != nil {
			t.Fatal(err)
		}
	}
	woken := 0
	for i := 1; i < n; i++ {
		d := counters[i].n.Load() - before[i]
		if d != 0 && i != 1 {
			t.Errorf("p%02d received %d notifications", i, d)
		}
		woken += int(d)
	}
	if woken != 1 {
		t.Fatalf("one change of leader delivered %d notifications to waiting participants, want 1", woken)
	}
	var wakeups int64
	for _, l := range latches[1:] {
		wakeups += predWakeups(l)
	}
	t.Logf("notifications to waiting participants: %d; predecessor wake-ups seen by latches 1..%d: %d", woken, n-1, wakeups)
	h.check(t)
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
	}
	for _, v := range seen {
		if v != 0 {
			return false
		}
	}
	return true
}
