package discovery

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/zkrecipes/zkrecipes"
)

// ServiceType says how an instance's znode lives, as Curator's ServiceType does.
// The zero value means Dynamic.
type ServiceType string

// The four service types, spelled as Curator writes them.
const (
	// Dynamic instances are EPHEMERAL znodes named by the id: they vanish with the session
	// that registered them (and Discovery re-creates them on the next session).
	Dynamic ServiceType = "DYNAMIC"
	// DynamicSequential instances are EPHEMERAL_SEQUENTIAL znodes named id + a 10-digit
	// sequence number; the JSON id has no suffix.
	DynamicSequential ServiceType = "DYNAMIC_SEQUENTIAL"
	// Static instances are PERSISTENT znodes: they outlive the session.
	Static ServiceType = "STATIC"
	// Permanent instances are PERSISTENT znodes, like Static ones.
	Permanent ServiceType = "PERMANENT"
)

// Valid reports whether t is one of the four types or the zero value.
func (t ServiceType) Valid() bool {
	switch t {
	case "", Dynamic, DynamicSequential, Static, Permanent:
		return true
	}
	return false
}

// orDefault maps the zero value to Dynamic.
func (t ServiceType) orDefault() ServiceType {
	if t == "" {
		return Dynamic
	}
	return t
}

// ephemeral reports whether the znode dies with the session.
func (t ServiceType) ephemeral() bool {
	t = t.orDefault()
	return t == Dynamic || t == DynamicSequential
}

// Instance is one registered instance of a service: Curator's ServiceInstance with a
// typed payload. Build one with NewInstance, which fills in the defaults; a literal
// Instance must set Enabled itself (its zero value is false, Java's default is true).
type Instance[T any] struct {
	// Name is the service name, the znode under the base path.
	Name string
	// ID identifies the instance within the service; it names its znode.
	ID string
	// Address is where the instance listens; "" is written as JSON null.
	Address string
	// Port and SSLPort are nullable, as Java's Integer is: nil is null, 0 is a port.
	Port    *int
	SSLPort *int
	// Payload is the user data, typed per the serializer (see JSON).
	Payload T
	// RegistrationTimeUTC is the registration time in milliseconds since the Unix epoch.
	RegistrationTimeUTC int64
	// ServiceType chooses the znode mode; "" means Dynamic.
	ServiceType ServiceType
	// URISpec is the template for the instance's URI, or nil.
	URISpec *URISpec
	// Enabled is false for an instance that Providers must not hand out.
	Enabled bool
}

// InstanceOption overrides one default of NewInstance.
type InstanceOption func(*instanceConfig)

type instanceConfig struct {
	id, address   *string
	port, sslPort *int
	regTime       *time.Time
	serviceType   ServiceType
	uriSpec       *URISpec
	enabled       bool
}

// WithID sets the id instead of a random UUID. It must be a usable znode name.
func WithID(id string) InstanceOption { return func(c *instanceConfig) { c.id = &id } }

// WithAddress sets the address instead of the detected local IPv4 address.
func WithAddress(addr string) InstanceOption {
	return func(c *instanceConfig) { c.address = &addr }
}

// WithPort sets the port (default: none, written as null). A value outside 0..65535 makes
// NewInstance fail with ErrInvalidInstance.
func WithPort(port int) InstanceOption { return func(c *instanceConfig) { c.port = &port } }

// WithSSLPort sets the SSL port (default: none). A value outside 0..65535 makes
// NewInstance fail with ErrInvalidInstance.
func WithSSLPort(port int) InstanceOption { return func(c *instanceConfig) { c.sslPort = &port } }

// WithRegistrationTime sets the registration time instead of now.
func WithRegistrationTime(t time.Time) InstanceOption {
	return func(c *instanceConfig) { c.regTime = &t }
}

// WithServiceType sets the service type instead of Dynamic. An unknown type makes
// NewInstance fail.
func WithServiceType(t ServiceType) InstanceOption {
	return func(c *instanceConfig) { c.serviceType = t }
}

// WithURISpec sets the URISpec (default: none).
func WithURISpec(s *URISpec) InstanceOption { return func(c *instanceConfig) { c.uriSpec = s } }

// WithEnabled sets the enabled flag (default true).
func WithEnabled(enabled bool) InstanceOption {
	return func(c *instanceConfig) { c.enabled = enabled }
}

// NewInstance returns an instance of the named service with Curator's defaults: a random
// UUID id, the registration time now, Dynamic, enabled, and as address the first
// non-loopback IPv4 address of an interface that is up (127.0.0.1 when there is none).
// The error wraps ErrInvalidInstance and names the field when the result would not be a
// valid instance.
func NewInstance[T any](name string, payload T, opts ...InstanceOption) (Instance[T], error) {
	cfg := instanceConfig{enabled: true}
	for _, o := range opts {
		o(&cfg)
	}
	in := Instance[T]{
		Name:        name,
		Payload:     payload,
		ServiceType: Dynamic,
		Enabled:     cfg.enabled,
		Port:        cfg.port,
		SSLPort:     cfg.sslPort,
		URISpec:     cfg.uriSpec,
	}
	if cfg.serviceType != "" {
		in.ServiceType = cfg.serviceType
	}
	if cfg.id != nil {
		in.ID = *cfg.id
	} else {
		in.ID = zkrecipes.NewUUID()
	}
	if cfg.address != nil {
		in.Address = *cfg.address
	} else {
		in.Address = LocalAddress()
	}
	if cfg.regTime != nil {
		in.RegistrationTimeUTC = cfg.regTime.UnixMilli()
	} else {
		in.RegistrationTimeUTC = time.Now().UnixMilli()
	}
	if err := in.Validate(); err != nil {
		return Instance[T]{}, err
	}
	return in, nil
}

// maxPort is the largest TCP port.
const maxPort = 65535

// Validate reports why the instance cannot be registered: the name and id must be usable
// znode names, the service type known and the ports (when set) in 0..65535. The error
// wraps ErrInvalidInstance. The payload is checked when it is serialized.
func (i Instance[T]) Validate() error {
	if err := validNodeName("name", i.Name); err != nil {
		return err
	}
	if err := validNodeName("id", i.ID); err != nil {
		return err
	}
	if !i.ServiceType.Valid() {
		return invalidf("unknown service type %q (want DYNAMIC, DYNAMIC_SEQUENTIAL, STATIC or PERMANENT)", string(i.ServiceType))
	}
	for _, p := range []struct {
		what string
		v    *int
	}{{"port", i.Port}, {"sslPort", i.SSLPort}} {
		if p.v != nil && (*p.v < 0 || *p.v > maxPort) {
			return invalidf("%s %d is not a port (0..%d)", p.what, *p.v, maxPort)
		}
	}
	return nil
}

// validNodeName checks s as one znode path element that ZooKeeper accepts.
func validNodeName(what, s string) error {
	switch {
	case s == "":
		return invalidf("empty %s", what)
	case s == "." || s == "..":
		return invalidf("%s %q is a relative path element", what, s)
	case strings.Contains(s, "/"):
		return invalidf("%s %q contains '/'", what, s)
	case !utf8.ValidString(s):
		return invalidf("%s %q is not valid UTF-8", what, s)
	}
	for _, r := range s {
		// The characters ZooKeeper's PathUtils rejects.
		if r == 0 || r < 0x20 || (r >= 0x7f && r <= 0x9f) || (r >= 0xd800 && r <= 0xf8ff) || (r >= 0xfff0 && r <= 0xffff) {
			return invalidf("%s %q contains the character %U, which ZooKeeper rejects", what, s, r)
		}
	}
	return nil
}

// Scheme is "https" when the instance has an SSL port and "http" otherwise, as in
// Curator's UriSpec.
func (i Instance[T]) Scheme() string {
	if i.SSLPort != nil {
		return "https"
	}
	return "http"
}

// URIVariables returns Curator's built-in URISpec variables for the instance: scheme,
// name, id, address, port, ssl-port (both "" when null), registration-time-utc and
// service-type (lower case).
func (i Instance[T]) URIVariables() map[string]any {
	optInt := func(p *int) string {
		if p == nil {
			return ""
		}
		return strconv.Itoa(*p)
	}
	return map[string]any{
		FieldScheme:              i.Scheme(),
		FieldName:                i.Name,
		FieldID:                  i.ID,
		FieldAddress:             i.Address,
		FieldPort:                optInt(i.Port),
		FieldSSLPort:             optInt(i.SSLPort),
		FieldRegistrationTimeUTC: strconv.FormatInt(i.RegistrationTimeUTC, 10),
		FieldServiceType:         strings.ToLower(string(i.ServiceType.orDefault())),
	}
}

// URI renders the instance's URISpec with the built-in variables and vars, which take
// precedence. It returns "" when the instance has no URISpec.
func (i Instance[T]) URI(vars map[string]any) string {
	if i.URISpec == nil {
		return ""
	}
	all := i.URIVariables()
	for k, v := range vars {
		all[k] = v
	}
	return i.URISpec.Build(all)
}

// String describes the instance for logs, without the payload.
func (i Instance[T]) String() string {
	optInt := func(p *int) string {
		if p == nil {
			return "null"
		}
		return strconv.Itoa(*p)
	}
	return fmt.Sprintf("%s/%s %s port=%s sslPort=%s %s enabled=%t",
		i.Name, i.ID, i.Address, optInt(i.Port), optInt(i.SSLPort), i.ServiceType.orDefault(), i.Enabled)
}
