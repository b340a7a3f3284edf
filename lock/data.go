package lock

import (
	"context"
	"net"
	"os"
	"sync"
	"time"
)

var local struct {
	once sync.Once
	addr []byte
}

// defaultData is Curator's default node data: the host's address as text, the way Java's
// InetAddress.getLocalHost().getHostAddress() finds it (the host name resolved, an IPv4
// address preferred), or empty data when the name does not resolve within a second, as
// Curator writes when Java cannot resolve it. It is looked up once per process.
func defaultData() []byte {
	local.once.Do(func() {
		local.addr = []byte{}
		host, err := os.Hostname()
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil || len(addrs) == 0 {
			return
		}
		pick := addrs[0].IP
		for _, a := range addrs {
			if a.IP.To4() != nil {
				pick = a.IP
				break
			}
		}
		local.addr = []byte(pick.String())
	})
	return append([]byte(nil), local.addr...)
}
