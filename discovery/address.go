package discovery

import "net"

// LocalAddress returns the first non-loopback, non-link-local IPv4 address of an
// interface that is up, or 127.0.0.1: the address NewInstance registers by default. Curator's builder also offers IPv6 addresses; an
// IPv4 address is what the URIs built from it (host:port) can use as they are.
func LocalAddress() string {
	ifs, err := net.Interfaces()
	if err != nil {
		return "127.0.0.1"
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip := n.IP.To4()
			if ip == nil || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
				continue
			}
			return ip.String()
		}
	}
	return "127.0.0.1"
}
