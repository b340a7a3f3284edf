package zktest

import (
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

// Logger returns a zk.Logger (for zk.WithLogger) that writes go-zk's chatter to t.Logf, so it
// shows only for failed tests or with -v. go-zk keeps logging from its own goroutines after
// Close returns; once the test's cleanup has begun those lines are dropped, because t.Logf
// after the test ends panics.
func Logger(t testing.TB) zk.Logger {
	l := &testLogger{t: t}
	t.Cleanup(func() {
		l.mu.Lock()
		l.done = true
		l.mu.Unlock()
	})
	return l
}

type testLogger struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (l *testLogger) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Logf("zk: %s "+format, append([]any{time.Now().Format("15:04:05.000")}, args...)...)
	}
}
