package zkrecipes

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ParseConnectString splits a ZooKeeper connect string such as
// "zk1:2181,zk2:2181/app/prod" into its servers and its chroot ("/app/prod", or "" when
// there is none). A server without a port gets ZooKeeper's default port 2181; an IPv6
// address goes in brackets ("[::1]:2181").
//
// It refuses, with an error that matches ErrInvalidArgument and quotes the offending part:
// a string that names no server, an empty entry ("a:1,,b:2"), an entry without a host
// (":2181"), a port that is not a decimal number in 1..65535, and a chroot that is not a
// valid path (that error matches ErrInvalidPath as well).
func ParseConnectString(s string) (servers []string, chroot string, err error) {
	hosts := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		hosts, chroot = s[:i], s[i:]
		if chroot == "/" {
			chroot = ""
		} else if err := ValidatePath(chroot); err != nil {
			return nil, "", fmt.Errorf("%w: connect string %q: chroot: %w", ErrInvalidArgument, s, err)
		}
	}
	if strings.TrimSpace(hosts) == "" {
		return nil, "", fmt.Errorf("%w: connect string %q names no server", ErrInvalidArgument, s)
	}
	for i, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			return nil, "", fmt.Errorf("%w: connect string %q: server entry %d is empty", ErrInvalidArgument, s, i+1)
		}
		server, err := parseServer(h)
		if err != nil {
			return nil, "", fmt.Errorf("%w: connect string %q: server %q: %s", ErrInvalidArgument, s, h, err)
		}
		servers = append(servers, server)
	}
	return servers, chroot, nil
}

// parseServer checks one host[:port] entry and returns it as host:port.
func parseServer(h string) (string, error) {
	if !strings.Contains(h, ":") || (strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]")) {
		h += ":2181"
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		why := err.Error()
		var ae *net.AddrError
		if errors.As(err, &ae) {
			why = ae.Err
		}
		return "", fmt.Errorf("not host:port (%s)", why)
	}
	if host == "" {
		return "", errors.New("empty host")
	}
	if port == "" || strings.TrimLeft(port, "0123456789") != "" {
		return "", fmt.Errorf("port %q is not a number", port)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %s is not in 1..65535", port)
	}
	return h, nil
}
