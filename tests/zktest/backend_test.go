package zktest

import (
	"context"
	"strings"
	"testing"
)

// These cover backend selection from the environment; they never start a server.

func TestChooseBackendRejectsUnknownName(t *testing.T) {
	t.Setenv(EnvBackend, "podman")
	if _, err := chooseBackend(context.Background()); err == nil || !strings.Contains(err.Error(), "docker, local or external") {
		t.Fatalf("chooseBackend with %s=podman: %v", EnvBackend, err)
	}
}

func TestChooseBackendExternal(t *testing.T) {
	t.Setenv(EnvBackend, "")
	t.Setenv(EnvServers, " zk1:2181, zk2:2181 ,")
	b, err := chooseBackend(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ext, ok := b.(*externalBackend)
	if !ok || strings.Join(ext.servers, ",") != "zk1:2181,zk2:2181" {
		t.Fatalf("chooseBackend with %s set = %#v", EnvServers, b)
	}

	t.Setenv(EnvBackend, "external")
	t.Setenv(EnvServers, "")
	if _, err := chooseBackend(context.Background()); err == nil || !strings.Contains(err.Error(), EnvServers) {
		t.Fatalf("external backend without servers: %v", err)
	}
}

func TestLocalBackendNeedsItsJar(t *testing.T) {
	t.Setenv(EnvBackend, "local")
	t.Setenv(EnvClasspath, "/nonexistent/zookeeper.jar")
	_, err := chooseBackend(context.Background())
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/zookeeper.jar") {
		t.Fatalf("local backend with a missing jar: %v", err)
	}
}

func TestParseMode(t *testing.T) {
	srvr := "Zookeeper version: 3.8.0\nLatency min/avg/max: 0/0.0/0\nZxid: 0x0\nMode: follower\nNode count: 5\n"
	if m := parseMode(srvr); m != ModeFollower {
		t.Fatalf("parseMode = %q", m)
	}
	if m := parseMode("This ZooKeeper instance is not currently serving requests\n"); m.Serving() {
		t.Fatalf("parseMode of a server without quorum = %q", m)
	}
}

func TestConfigKeySeparatesOptions(t *testing.T) {
	a, _ := newConfig(nil)
	b, _ := newConfig([]Option{WithConfig("extendedTypesEnabled", "true")})
	c, _ := newConfig([]Option{WithConfig("extendedTypesEnabled", "true")})
	if a.key() == b.key() || b.key() != c.key() {
		t.Fatal("configuration keys do not tell options apart")
	}
	if _, err := newConfig([]Option{WithTickTime(0), WithConfig("a b", "c")}); err == nil {
		t.Fatal("bad options accepted")
	}
}

func TestConfigKeySeparatesTLS(t *testing.T) {
	ca, err := NewCA("key test")
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ca.Issue("server", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := newConfig(nil)
	need, _ := newConfig([]Option{WithTLS(TLS{Server: kp, TrustPEM: ca.CertPEM()})})
	need2, _ := newConfig([]Option{WithTLS(TLS{Server: kp, TrustPEM: ca.CertPEM(), ClientAuth: ClientAuthNeed})})
	none, _ := newConfig([]Option{WithTLS(TLS{Server: kp, TrustPEM: ca.CertPEM(), ClientAuth: ClientAuthNone})})
	if plain.key() == need.key() || need.key() != need2.key() || need.key() == none.key() {
		t.Fatal("configuration keys do not tell TLS options apart")
	}
	for _, bad := range []TLS{{}, {Server: kp}, {Server: kp, TrustPEM: ca.CertPEM(), ClientAuth: "maybe"}} {
		if _, err := newConfig([]Option{WithTLS(bad)}); err == nil {
			t.Fatalf("bad TLS option %+v accepted", bad)
		}
	}
}
