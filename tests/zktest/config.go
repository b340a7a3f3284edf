package zktest

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Option configures the servers that Start, StartDedicated and StartEnsemble launch. Start
// shares one server per distinct configuration, so tests that pass the same options share a
// server.
type Option func(*config)

type config struct {
	tickTime     time.Duration
	initLimit    int
	syncLimit    int
	extra        map[string]string
	props        map[string]string // JVM system properties (-Dkey=value)
	tls          *TLS              // nil: no secure port
	startTimeout time.Duration
	errs         []string
}

// The defaults keep sessions short (ZooKeeper allows 2..20 ticks: 400 ms..4 s) so that fault
// tests are fast, with sync/init limits loose enough for a loaded 2-core machine.
func defaultConfig() config {
	return config{
		tickTime:     200 * time.Millisecond,
		initLimit:    10,
		syncLimit:    5,
		startTimeout: 90 * time.Second,
	}
}

func newConfig(opts []Option) (config, error) {
	c := defaultConfig()
	for _, o := range opts {
		o(&c)
	}
	if len(c.errs) > 0 {
		return c, fmt.Errorf("zktest: bad option: %s", strings.Join(c.errs, "; "))
	}
	return c, nil
}

// WithTickTime sets ZooKeeper's tickTime (default 200 ms; production's default is 2 s). The
// server accepts session timeouts of 2 to 20 ticks. A value under 1 ms fails the test.
func WithTickTime(d time.Duration) Option {
	return func(c *config) {
		if d < time.Millisecond {
			c.errs = append(c.errs, fmt.Sprintf("tickTime %v is under 1ms", d))
			return
		}
		c.tickTime = d
	}
}

// WithLimits sets initLimit and syncLimit in ticks (defaults 10 and 5). syncLimit bounds how
// long a follower may lag or be silent before the leader drops it, so it also sets how fast
// a paused or partitioned node loses its role. Values under 1 fail the test.
func WithLimits(initLimit, syncLimit int) Option {
	return func(c *config) {
		if initLimit < 1 || syncLimit < 1 {
			c.errs = append(c.errs, fmt.Sprintf("limits init=%d sync=%d must be >= 1", initLimit, syncLimit))
			return
		}
		c.initLimit, c.syncLimit = initLimit, syncLimit
	}
}

// WithConfig adds one zoo.cfg line key=value, e.g. WithConfig("extendedTypesEnabled", "true")
// for TTL nodes. In Docker it travels in ZOO_CFG_EXTRA, which splits on spaces, so a key or
// value that is empty or holds white space or '=' in the key fails the test.
func WithConfig(key, value string) Option {
	return func(c *config) {
		if key == "" || value == "" || strings.ContainsAny(key, " \t\n=") || strings.ContainsAny(value, " \t\n") {
			c.errs = append(c.errs, fmt.Sprintf("zoo.cfg line %q=%q", key, value))
			return
		}
		if c.extra == nil {
			c.extra = map[string]string{}
		}
		c.extra[key] = value
	}
}

// WithSystemProperty passes -Dkey=value to the server's JVM, for settings ZooKeeper reads
// only as system properties, e.g. WithSystemProperty("znode.container.checkIntervalMs",
// "100") to make the container and TTL reaper run every 100 ms (default 60 s). A key or
// value that is empty or holds white space, or '=' in the key, fails the test.
func WithSystemProperty(key, value string) Option {
	return func(c *config) {
		if key == "" || value == "" || strings.ContainsAny(key, " \t\n=") || strings.ContainsAny(value, " \t\n") {
			c.errs = append(c.errs, fmt.Sprintf("system property %q=%q", key, value))
			return
		}
		if c.props == nil {
			c.props = map[string]string{}
		}
		c.props[key] = value
	}
}

// jvm returns the JVM flags of the servers: jvmFlags and the system properties.
func (c config) jvm() []string {
	flags := append([]string{}, jvmFlags...)
	for _, k := range slices.Sorted(maps.Keys(c.props)) {
		flags = append(flags, "-D"+k+"="+c.props[k])
	}
	return flags
}

// WithStartTimeout bounds how long starting a server or ensemble may take before the test
// fails (default 90 s, generous for a loaded machine). A value <= 0 fails the test.
func WithStartTimeout(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.errs = append(c.errs, fmt.Sprintf("start timeout %v", d))
			return
		}
		c.startTimeout = d
	}
}

// fourLetterWords is the whitelist every harness server gets.
const fourLetterWords = "ruok,srvr,stat,mntr,cons,wchs,wchc,dump"

// settings returns the zoo.cfg keys the harness controls, besides ports and paths, in a
// stable order.
func (c config) settings() [][2]string {
	s := [][2]string{
		{"tickTime", strconv.FormatInt(c.tickTime.Milliseconds(), 10)},
		{"initLimit", strconv.Itoa(c.initLimit)},
		{"syncLimit", strconv.Itoa(c.syncLimit)},
		{"maxClientCnxns", "0"},
		{"4lw.commands.whitelist", fourLetterWords},
		{"admin.enableServer", "false"},
	}
	for _, k := range slices.Sorted(maps.Keys(c.extra)) {
		s = append(s, [2]string{k, c.extra[k]})
	}
	return s
}

// key identifies a configuration for sharing servers between tests.
func (c config) key() string {
	var b strings.Builder
	for _, kv := range c.settings() {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
	}
	for _, f := range c.jvm() {
		fmt.Fprintf(&b, "jvm %s\n", f)
	}
	b.WriteString(c.tls.key())
	return b.String()
}

// jvmFlags keep each server small and quick to start on a shared 2-core machine: one GC
// thread and no C2 compiler burning CPU during the first seconds. zookeeper.cnxTimeout bounds
// each election connect to a member that is gone (default 5 s, during which the member's
// election traffic to everyone else waits). maxNotificationInterval caps the back-off between
// election rounds (default 60 s), which otherwise keeps growing while a member is cut off
// and delays its return after Heal or Start by as long again.
var jvmFlags = []string{"-Xms32m", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k",
	"-Dzookeeper.cnxTimeout=1000", "-Dzookeeper.fastleader.maxNotificationInterval=1000"}
