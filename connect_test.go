package zkrecipes_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zkrecipes/zkrecipes"
)

// Connect refuses a malformed server list at once, naming the entry, instead of dialing it
// until the connection timeout. Nothing is dialed, so no server is needed.
func TestConnectRejectsBadServerList(t *testing.T) {
	for _, tc := range []struct {
		servers []string
		entry   string
	}{
		{[]string{"127.0.0.1:99999"}, "127.0.0.1:99999"},
		{[]string{"127.0.0.1:zk"}, "127.0.0.1:zk"},
		{[]string{"127.0.0.1:0"}, "127.0.0.1:0"},
		{[]string{":2181"}, ":2181"},
		{[]string{"127.0.0.1:2181,,127.0.0.1:2182"}, "entry 2"},
		{[]string{"127.0.0.1:2181", "127.0.0.1:65536"}, "127.0.0.1:65536"},
		{[]string{"127.0.0.1:2181", ""}, "names no server"},
		{[]string{"127.0.0.1:2181/app/"}, "chroot"},
	} {
		// A connection timeout far longer than the test would ever wait: Connect must
		// fail on its own, not because the timeout passed.
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		_, err := zkrecipes.Connect(ctx, tc.servers, zkrecipes.WithConnectionTimeout(time.Hour))
		cancel()
		if !errors.Is(err, zkrecipes.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.entry) {
			t.Errorf("Connect(%q) = %v, want ErrInvalidArgument naming %q", tc.servers, err, tc.entry)
		}
	}
}
