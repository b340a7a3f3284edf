package curatortest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// PayloadClass is the Java class of the peer's payload; a Go writer must name it in "@class"
// for Java to read the instance.
const PayloadClass = "com.example.InstanceDetails"

// InstanceDetails mirrors the Java payload com.example.InstanceDetails.
type InstanceDetails struct {
	Leader bool `json:"leader"`
}

// URISpecPart is one part of a URISpec as Java parsed it.
type URISpecPart struct {
	Value    string `json:"value"`
	Variable bool   `json:"variable"`
}

// Instance is a ServiceInstance<InstanceDetails> as Java decoded it, every field included.
type Instance struct {
	Name                string           `json:"name"`
	ID                  string           `json:"id"`
	Address             string           `json:"address"`
	Port                *int             `json:"port"`
	SSLPort             *int             `json:"sslPort"`
	Payload             *InstanceDetails `json:"payload"`
	PayloadClass        string           `json:"payloadClass"` // the Java class Jackson built; "" without payload
	RegistrationTimeUTC int64            `json:"registrationTimeUTC"`
	ServiceType         string           `json:"serviceType"`
	URISpec             *string          `json:"uriSpec"` // rendered by Java's UriSpec.build(instance); nil without a UriSpec
	URISpecParts        []URISpecPart    `json:"uriSpecParts"`
	Enabled             bool             `json:"enabled"`
}

// Registration describes an instance for the Java side to build with ServiceInstance.builder().
// Zero values leave the builder's defaults.
type Registration struct {
	Name                string
	ID                  string // "": Curator generates a random UUID
	Address             string // "": Curator's first local IP address
	Port                *int   // nil: no port (JSON null)
	SSLPort             *int   // nil: no SSL port
	Leader              *bool  // nil: no payload (JSON null)
	RegistrationTimeUTC int64  // 0: now
	ServiceType         string // "": DYNAMIC; else DYNAMIC, STATIC, PERMANENT or DYNAMIC_SEQUENTIAL
	URISpec             string // "": none; else a template such as "{scheme}://{address}:{port}" (no spaces)
	Enabled             *bool  // nil: true
}

// Ptr returns a pointer to v, for Registration's optional fields.
func Ptr[T any](v T) *T { return &v }

func (r Registration) args() (string, error) {
	if err := word(r.Name); err != nil {
		return "", err
	}
	orDash := func(s string) (string, error) {
		if s == "" {
			return "-", nil
		}
		return s, word(s)
	}
	id, err := orDash(r.ID)
	if err != nil {
		return "", err
	}
	addr, err := orDash(r.Address)
	if err != nil {
		return "", err
	}
	w := []string{r.Name, id, addr, "-", "null"}
	if r.Port != nil {
		w[3] = strconv.Itoa(*r.Port)
	}
	if r.Leader != nil {
		w[4] = strconv.FormatBool(*r.Leader)
	}
	if r.SSLPort != nil {
		w = append(w, "sslPort="+strconv.Itoa(*r.SSLPort))
	}
	if r.RegistrationTimeUTC != 0 {
		w = append(w, "registrationTimeUTC="+strconv.FormatInt(r.RegistrationTimeUTC, 10))
	}
	if r.ServiceType != "" {
		if err := word(r.ServiceType); err != nil {
			return "", err
		}
		w = append(w, "serviceType="+r.ServiceType)
	}
	if r.URISpec != "" {
		if err := word(r.URISpec); err != nil {
			return "", err
		}
		w = append(w, "uriSpec="+r.URISpec)
	}
	if r.Enabled != nil {
		w = append(w, "enabled="+strconv.FormatBool(*r.Enabled))
	}
	return strings.Join(w, " "), nil
}

// SDStart starts a Java ServiceDiscovery<InstanceDetails> on basePath with Curator's default
// JsonInstanceSerializer (compatible mode: no "enabled" property written). One per peer.
func (p *Peer) SDStart(ctx context.Context, basePath string) error {
	return p.sdStart(ctx, basePath, "compat")
}

// SDStartNonCompat is SDStart with compatibleSerializationMode=false: "enabled" is written.
func (p *Peer) SDStartNonCompat(ctx context.Context, basePath string) error {
	return p.sdStart(ctx, basePath, "noncompat")
}

func (p *Peer) sdStart(ctx context.Context, basePath, mode string) error {
	if err := word(basePath); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, "sd-start "+basePath+" "+mode)
	return err
}

// SDClose closes the ServiceDiscovery (unregistering its instances) and its caches.
func (p *Peer) SDClose(ctx context.Context) error {
	_, err := p.Cmd(ctx, "sd-close")
	return err
}

// SDRegister registers an instance with Java's registerService and returns its id.
func (p *Peer) SDRegister(ctx context.Context, r Registration) (string, error) {
	args, err := r.args()
	if err != nil {
		return "", err
	}
	var id string
	err = p.cmdJSON(ctx, "sd-register "+args, &id)
	return id, err
}

// SDUpdate replaces the payload of an instance this peer registered (Java's updateService).
func (p *Peer) SDUpdate(ctx context.Context, name, id string, leader bool) error {
	if err := word(name); err != nil {
		return err
	}
	if err := word(id); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, fmt.Sprintf("sd-update %s %s %t", name, id, leader))
	return err
}

// SDUnregister unregisters an instance this peer registered.
func (p *Peer) SDUnregister(ctx context.Context, id string) error {
	if err := word(id); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, "sd-unregister "+id)
	return err
}

// SDQuery returns Java's queryForInstances(name), sorted by id. Java throws (a *CommandError)
// if any child of the service does not deserialize.
func (p *Peer) SDQuery(ctx context.Context, name string) ([]Instance, error) {
	if err := word(name); err != nil {
		return nil, err
	}
	data, err := p.Cmd(ctx, "sd-query "+name)
	if err != nil {
		return nil, err
	}
	out := make([]Instance, 0, len(data))
	for _, l := range data {
		var in Instance
		if err := json.Unmarshal([]byte(l), &in); err != nil {
			return nil, fmt.Errorf("curatortest: sd-query %s: decoding %q: %w", name, l, err)
		}
		out = append(out, in)
	}
	return out, nil
}

// SDQueryOne returns Java's queryForInstance(name, id); nil when there is no such instance.
func (p *Peer) SDQueryOne(ctx context.Context, name, id string) (*Instance, error) {
	if err := word(name); err != nil {
		return nil, err
	}
	if err := word(id); err != nil {
		return nil, err
	}
	var in *Instance
	err := p.cmdJSON(ctx, "sd-query-one "+name+" "+id, &in)
	return in, err
}

// SDNames returns Java's queryForNames(), sorted.
func (p *Peer) SDNames(ctx context.Context) ([]string, error) {
	var names []string
	err := p.cmdJSON(ctx, "sd-names", &names)
	return names, err
}

// SDSerialize returns the bytes Java's JsonInstanceSerializer writes for the registration,
// in compatible mode (Curator's default) or not. Needs no ZooKeeper; with r.ID and
// r.RegistrationTimeUTC set the output is deterministic.
func (p *Peer) SDSerialize(ctx context.Context, r Registration, compatible bool) ([]byte, error) {
	args, err := r.args()
	if err != nil {
		return nil, err
	}
	mode := "noncompat"
	if compatible {
		mode = "compat"
	}
	var b64 string
	if err := p.cmdJSON(ctx, "sd-serialize "+mode+" "+args, &b64); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(b64)
}

// SDDeserialize decodes data with Java's JsonInstanceSerializer<InstanceDetails>, as Java's
// queryForInstances would. Needs no ZooKeeper. A *CommandError carries Java's exception.
func (p *Peer) SDDeserialize(ctx context.Context, data []byte) (Instance, error) {
	var in Instance
	err := p.cmdJSON(ctx, "sd-deserialize "+base64.StdEncoding.EncodeToString(data), &in)
	return in, err
}

// CacheStart starts a Java ServiceCache for the service name; it returns after the initial
// load. Changes arrive as events; see WaitCache.
func (p *Peer) CacheStart(ctx context.Context, name string) error {
	if err := word(name); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, "cache-start "+name)
	return err
}

// CacheInstances returns the cache's current instances (getInstances()), sorted by id.
func (p *Peer) CacheInstances(ctx context.Context, name string) ([]Instance, error) {
	if err := word(name); err != nil {
		return nil, err
	}
	var ins []Instance
	err := p.cmdJSON(ctx, "cache-instances "+name, &ins)
	return ins, err
}

// CacheClose closes the cache.
func (p *Peer) CacheClose(ctx context.Context, name string) error {
	if err := word(name); err != nil {
		return err
	}
	_, err := p.Cmd(ctx, "cache-close "+name)
	return err
}

// WaitCache waits for a cacheChanged event of the cache whose instance list (sorted by id)
// satisfies match, and returns that list. Only events after the one the previous WaitCache for
// this cache returned count, so a state the cache has since left is never matched again.
// match runs with the peer's event lock held: it must not call the Peer.
func (p *Peer) WaitCache(ctx context.Context, name string, match func([]Instance) bool) ([]Instance, error) {
	prefix := "cache " + name + " changed "
	var got []Instance
	_, err := p.waitEvent(ctx, func(ev string) bool {
		rest, ok := strings.CutPrefix(ev, prefix)
		if !ok {
			return false
		}
		var ins []Instance
		if json.Unmarshal([]byte(rest), &ins) != nil || !match(ins) {
			return false
		}
		got = ins
		return true
	}, func(ev string) bool { return strings.HasPrefix(ev, prefix) })
	return got, err
}

// WaitCacheState waits for the cache's forwarded connection state, e.g. "SUSPENDED".
func (p *Peer) WaitCacheState(ctx context.Context, name, state string) error {
	want := "cache " + name + " state " + state
	_, err := p.WaitEvent(ctx, func(ev string) bool { return ev == want })
	return err
}
