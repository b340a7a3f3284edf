package testkit

import (
	"bufio"
	"encoding/binary"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes/tests/zktest"
)

// NotificationCounter is a zk.Dialer that counts the watch notifications a
// client receives, by reading the frames the server sends: each is a 4-byte
// length and a payload, whose first 4 bytes are the xid (-1 for a watch
// notification), except the connect response that opens every connection.
type NotificationCounter struct {
	n atomic.Int64
}

// Count is the number of watch notifications received so far.
func (nc *NotificationCounter) Count() int64 { return nc.n.Load() }

// Dial is the zk.Dialer: a TCP connection whose reads nc counts.
func (nc *NotificationCounter) Dial(network, address string, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout(network, address, timeout)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, nc: nc}, nil
}

type countingConn struct {
	net.Conn
	nc *NotificationCounter

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

// WatchesBySession asks the server (four-letter word wchc) which paths each
// session watches.
func WatchesBySession(t testing.TB, addr string) map[int64][]string {
	t.Helper()
	out, err := zktest.FourLetter(Ctx(t), addr, "wchc")
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
