package group

import (
	"net"
	"slices"
)

// localAddress is Curator's default data: the first non-loopback IPv4 address of the host,
// or 127.0.0.1.
func localAddress() string {
	addrs, err := net.InterfaceAddrs()
	if err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

func sortStrings(s []string) { slices.Sort(s) }
