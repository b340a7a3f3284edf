package zktest

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// peerLinks are the local backend's stand-in for a network between ensemble members: every
// member reaches every other member's quorum and election ports through its own directed TCP
// proxy (from -> to), so cutting the proxies that touch a member partitions it from the
// others while its client port stays reachable, as `docker network disconnect` does.
//
// One detail of ZooKeeper needs help. When a member with a lower id opens an election
// connection, the higher one drops it and calls back at the election address the caller
// advertised in its first message, which is the caller's real port, not a proxy. The
// election proxies therefore rewrite that advertised address to the proxy in the opposite
// direction, so the call-back is cut by a partition as well. Quorum (leader/follower)
// connections carry no addresses. Reconfiguration is off, so servers never exchange the
// configurations that name the real ports.
type peerLinks struct {
	mu     sync.Mutex
	links  map[linkKey]*link
	cut    map[int]bool
	conns  map[net.Conn]linkKey
	closed bool
	wg     sync.WaitGroup
}

type linkKind int

const (
	linkQuorum linkKind = iota
	linkElection
)

type linkKey struct {
	from, to int
	kind     linkKind
}

type link struct {
	key    linkKey
	ln     net.Listener
	target string
}

func newPeerLinks(size int, quorum, election []int) (*peerLinks, error) {
	p := &peerLinks{links: map[linkKey]*link{}, cut: map[int]bool{}, conns: map[net.Conn]linkKey{}}
	for from := 1; from <= size; from++ {
		for to := 1; to <= size; to++ {
			if from == to {
				continue
			}
			for kind, ports := range [][]int{quorum, election} {
				// The proxies hold their ports for the ensemble's lifetime, so port 0 is safe.
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					p.close()
					return nil, err
				}
				k := linkKey{from, to, linkKind(kind)}
				p.links[k] = &link{key: k, ln: ln, target: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[to-1]))}
			}
		}
	}
	for _, l := range p.links {
		p.wg.Add(1)
		go p.accept(l)
	}
	return p, nil
}

// port is the proxy port member from uses to reach member to.
func (p *peerLinks) port(from, to int, kind linkKind) int {
	return p.links[linkKey{from, to, kind}].ln.Addr().(*net.TCPAddr).Port
}

func (p *peerLinks) isCut(k linkKey) bool { return p.cut[k.from] || p.cut[k.to] }

// setCut partitions member id from every other member (or heals it). Cutting closes the live
// connections through its proxies and makes new ones fail at once, like a refused connection.
func (p *peerLinks) setCut(id int, cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut[id] = cut
	if !cut {
		return
	}
	for c, k := range p.conns {
		if p.isCut(k) {
			c.Close()
		}
	}
}

func (p *peerLinks) close() {
	p.mu.Lock()
	p.closed = true
	for _, l := range p.links {
		l.ln.Close()
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *peerLinks) accept(l *link) {
	defer p.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(l, c)
	}
}

// track registers c unless the link is cut or closed, atomically with respect to setCut.
func (p *peerLinks) track(k linkKey, cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.isCut(k) {
		return false
	}
	for _, c := range cs {
		p.conns[c] = k
	}
	return true
}

func (p *peerLinks) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
	}
}

func (p *peerLinks) serve(l *link, down net.Conn) {
	defer p.wg.Done()
	defer down.Close()
	if !p.track(l.key, down) {
		reset(down)
		return
	}
	defer p.untrack(down)
	up, err := net.DialTimeout("tcp", l.target, 5*time.Second)
	if err != nil {
		reset(down)
		return
	}
	defer up.Close()
	if !p.track(l.key, up) {
		return
	}
	defer p.untrack(up)
	if l.key.kind == linkElection {
		back := p.port(l.key.to, l.key.from, linkElection)
		if err := rewriteInitialMessage(down, up, back); err != nil {
			return
		}
	}
	done := make(chan struct{})
	go func() {
		io.Copy(up, down)
		up.Close()
		down.Close()
		close(done)
	}()
	io.Copy(down, up)
	up.Close()
	down.Close()
	<-done
}

// rewriteInitialMessage copies the first message of an election connection from down to up,
// replacing the sender's advertised election address with 127.0.0.1:back. The message is
// protocol version (int64, negative), server id (int64), address length (int32), address.
// A non-negative first int64 is the older protocol, a bare server id, passed on unchanged.
func rewriteInitialMessage(down, up net.Conn, back int) error {
	down.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer down.SetReadDeadline(time.Time{})
	var head [20]byte
	if _, err := io.ReadFull(down, head[:8]); err != nil {
		return err
	}
	if int64(binary.BigEndian.Uint64(head[:8])) >= 0 {
		_, err := up.Write(head[:8])
		return err
	}
	if _, err := io.ReadFull(down, head[8:]); err != nil {
		return err
	}
	n := int32(binary.BigEndian.Uint32(head[16:]))
	if n <= 0 || n > 4096 {
		return fmt.Errorf("zktest: election handshake with address length %d", n)
	}
	if _, err := io.CopyN(io.Discard, down, int64(n)); err != nil {
		return err
	}
	addr := []byte(net.JoinHostPort("127.0.0.1", strconv.Itoa(back)))
	binary.BigEndian.PutUint32(head[16:], uint32(len(addr)))
	_, err := up.Write(append(head[:], addr...))
	return err
}

// reset closes c with an RST, so the peer sees a refused-like failure instead of a clean EOF.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
