package zkrecipes

import (
	"fmt"
	"strings"
)

// ParseConnectString splits a ZooKeeper connect string such as
// "zk1:2181,zk2:2181/app/prod" into its servers and its chroot ("/app/prod", or "" when
// there is none). A server without a port gets ZooKeeper's default port 2181.
func ParseConnectString(s string) (servers []string, chroot string, err error) {
	hosts := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		hosts, chroot = s[:i], s[i:]
		if chroot == "/" {
			chroot = ""
		} else if err := ValidatePath(chroot); err != nil {
			return nil, "", fmt.Errorf("connect string %q: chroot: %w", s, err)
		}
	}
	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if !strings.Contains(h, ":") || strings.HasSuffix(h, "]") {
			h += ":2181"
		}
		servers = append(servers, h)
	}
	if len(servers) == 0 {
		return nil, "", fmt.Errorf("%w: connect string %q names no server", ErrInvalidArgument, s)
	}
	return servers, chroot, nil
}
