package zktest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
)

// Ports for local servers come from below Linux's ephemeral range (32768-60999): a server
// that is stopped and started again must get its port back, and a port in the ephemeral range
// can meanwhile become the source port of some outgoing connection.
const (
	portLow  = 15000
	portHigh = 32000
)

var (
	portMu    sync.Mutex
	portsUsed = map[int]bool{} // handed out by this process; never handed out twice
)

// freePort returns a port on 127.0.0.1 that nothing listens on right now. Other processes
// can still take it before the server binds it; the random choice over 17000 ports makes
// that unlikely.
func freePort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	for range 200 {
		p := portLow + rand.IntN(portHigh-portLow)
		if portsUsed[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		l.Close()
		portsUsed[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("zktest: no free port in %d..%d", portLow, portHigh)
}

func freePorts(n int) ([]int, error) {
	ps := make([]int, n)
	for i := range ps {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ps[i] = p
	}
	return ps, nil
}
