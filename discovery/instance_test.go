package discovery

import (
	"errors"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestNewInstanceDefaults(t *testing.T) {
	before := time.Now().UnixMilli()
	in, err := NewInstance("svc", 1)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(in.ID) {
		t.Errorf("id %q is not a random UUID", in.ID)
	}
	if in.RegistrationTimeUTC < before || in.RegistrationTimeUTC > time.Now().UnixMilli() {
		t.Errorf("registration time %d is not now", in.RegistrationTimeUTC)
	}
	if in.ServiceType != Dynamic || !in.Enabled || in.Port != nil || in.SSLPort != nil || in.URISpec != nil {
		t.Errorf("defaults: %#v", in)
	}
	ip := net.ParseIP(in.Address)
	if ip == nil || ip.To4() == nil {
		t.Errorf("address %q is not IPv4", in.Address)
	}
	if ip.IsLoopback() && hasNonLoopbackIPv4() {
		t.Errorf("address %q is loopback although the host has another IPv4 address", in.Address)
	}
}

func hasNonLoopbackIPv4() bool {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return true
		}
	}
	return false
}

func TestNewInstanceOptions(t *testing.T) {
	at := time.UnixMilli(1700000000000)
	in, err := NewInstance("svc", "p", WithID("id-1"), WithAddress("10.1.2.3"), WithPort(0), WithSSLPort(8443),
		WithRegistrationTime(at), WithServiceType(Static), WithURISpec(MustParseURISpec("{scheme}://{address}:{ssl-port}")),
		WithEnabled(false))
	if err != nil {
		t.Fatal(err)
	}
	if in.ID != "id-1" || in.Address != "10.1.2.3" || *in.Port != 0 || *in.SSLPort != 8443 ||
		in.RegistrationTimeUTC != 1700000000000 || in.ServiceType != Static || in.Enabled {
		t.Errorf("options not applied: %#v", in)
	}
	if got := in.URI(nil); got != "https://10.1.2.3:8443" {
		t.Errorf("URI = %q", got)
	}
}

func TestNewInstanceInvalid(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []InstanceOption
	}{
		{"", nil},
		{"a/b", nil},
		{"..", nil},
		{"svc", []InstanceOption{WithID("")}},
		{"svc", []InstanceOption{WithID("x\x01")}},
		{"svc", []InstanceOption{WithID("x\ufff5")}},
		{"svc", []InstanceOption{WithServiceType("EPHEMERAL")}},
		{"svc", []InstanceOption{WithPort(1 << 31)}},
		{"svc", []InstanceOption{WithSSLPort(-1 << 32)}},
	} {
		if _, err := NewInstance(c.name, 0, c.opts...); !errors.Is(err, ErrInvalidInstance) {
			t.Errorf("NewInstance(%q, ...) = %v, want ErrInvalidInstance", c.name, err)
		}
	}
}

func TestURIVariables(t *testing.T) {
	in := Instance[int]{Name: "svc", ID: "id1", Address: "127.0.0.1", RegistrationTimeUTC: 1700000000000,
		ServiceType: DynamicSequential}
	in.URISpec = MustParseURISpec("{scheme}|{name}|{id}|{address}|{port}|{ssl-port}|{registration-time-utc}|{service-type}|{x}|{[}{]}")
	// Curator's output for the same instance and spec.
	if got, want := in.URI(nil), "http|svc|id1|127.0.0.1|||1700000000000|dynamic_sequential||{}"; got != want {
		t.Errorf("URI = %q, want %q", got, want)
	}
	got := in.URI(map[string]any{"scheme": "ftp", "x": 12, "port": nil})
	if want := "ftp|svc|id1|127.0.0.1|||1700000000000|dynamic_sequential|12|{}"; got != want {
		t.Errorf("URI with vars = %q, want %q", got, want)
	}
	if (Instance[int]{}).URI(nil) != "" {
		t.Error("URI without URISpec is not empty")
	}
	if s := in.String(); !strings.Contains(s, "svc/id1") {
		t.Errorf("String() = %q", s)
	}
}
