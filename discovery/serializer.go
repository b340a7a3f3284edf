package discovery

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// Serializer turns instances into znode data and back. JSON returns the one that is
// compatible with Curator; any other can be plugged into New, as long as every reader
// of the service uses the same format.
//
// Deserialize must return an error, not panic, for any input: the data comes from
// whoever can write to ZooKeeper. Errors about bad data should wrap ErrMalformed.
type Serializer[T any] interface {
	Serialize(Instance[T]) ([]byte, error)
	Deserialize(data []byte) (Instance[T], error)
}

// JSONSerializer is Curator's default JsonInstanceSerializer, byte for byte. Create it
// with JSON. It is safe for concurrent use.
type JSONSerializer[T any] struct {
	javaClass    string
	writeEnabled bool
}

// JSONOption configures a JSONSerializer.
type JSONOption func(*jsonConfig)

type jsonConfig struct {
	javaClass    string
	writeEnabled bool
}

// WithJavaClass names the Java class that the payload maps to, e.g.
// "com.example.InstanceDetails". It is written as the payload's "@class" (for struct and
// map payloads) or as the class of its wrapper array (for other kinds), which Java
// readers need to build their payload class. Reading, a payload that names a different
// class is an error wrapping ErrUnexpectedClass, so caches skip it; a payload without a
// class is accepted.
func WithJavaClass(name string) JSONOption { return func(c *jsonConfig) { c.javaClass = name } }

// WithEnabledProperty writes the "enabled" property, as Curator's serializer does in
// non-compatible mode (compatibleSerializationMode=false). By default it is left out, as
// Curator's default does, because readers older than Curator 2.10 reject it.
func WithEnabledProperty() JSONOption { return func(c *jsonConfig) { c.writeEnabled = true } }

// JSON returns a serializer that writes and reads what Curator 5.x's default
// JsonInstanceSerializer does: compact UTF-8, the properties name, id, address, port,
// sslPort, payload, registrationTimeUTC, serviceType and uriSpec in that order with
// explicit nulls, strings escaped as Jackson escapes them.
//
// The payload is typed the way Jackson's default typing does it for Java's Object:
//   - structs and maps: an object with "@class" first (WithJavaClass, default
//     "java.util.LinkedHashMap"), then the fields as encoding/json writes them;
//   - string, int32 (and uint8, uint16), float64 and bool: bare JSON values;
//   - other numbers: a wrapper array with their boxed class: int8 as java.lang.Byte,
//     int16 as java.lang.Short, int, int64 and the other unsigned ints as java.lang.Long
//     (java.math.BigInteger above MaxInt64), float32 as java.lang.Float;
//   - slices and arrays: ["java.util.ArrayList",[...]] ([]byte: ["[B","<base64>"]);
//   - a nil pointer, map, slice or interface: null;
//   - json.RawMessage: written as given (minus whitespace); typing it is up to the caller;
//   - types with their own MarshalJSON: by the kind of JSON they produce;
//   - json.Number: bare when it fits an int32 or is a fraction, else as a Long.
//
// With WithJavaClass, a bare kind is written in a wrapper with that class instead (a
// Java enum or Long, say), unless the class is the natural one (java.lang.String,
// Integer, Double, Boolean).
//
// Reading accepts all of the above: "@class" is removed wherever it is in the payload
// object, wrapper arrays are unwrapped, unknown properties are ignored and missing ones
// take Java's defaults (enabled true, serviceType DYNAMIC, registrationTimeUTC 0, the
// others null or ""). When T is an interface type, numbers are decoded as json.Number, so
// that 64-bit values survive. When T is json.RawMessage the payload is returned as it was
// written, "@class" and wrappers included. Anything malformed is an error wrapping
// ErrMalformed.
func JSON[T any](opts ...JSONOption) *JSONSerializer[T] {
	var c jsonConfig
	for _, o := range opts {
		o(&c)
	}
	return &JSONSerializer[T]{javaClass: c.javaClass, writeEnabled: c.writeEnabled}
}

// JavaClass returns the class name set with WithJavaClass ("" when none).
func (s *JSONSerializer[T]) JavaClass() string { return s.javaClass }

// Serialize returns the instance's JSON. It fails, wrapping ErrInvalidInstance, for an
// unknown service type, a port outside Java's int range or a payload that has no JSON
// form (a channel, a function, NaN, ...). It does not check the name and id; Discovery
// does before registering.
func (s *JSONSerializer[T]) Serialize(in Instance[T]) ([]byte, error) {
	if !in.ServiceType.Valid() {
		return nil, invalidf("unknown service type %q", string(in.ServiceType))
	}
	b := make([]byte, 0, 256)
	b = append(b, `{"name":`...)
	b = appendJavaString(b, in.Name)
	b = append(b, `,"id":`...)
	b = appendJavaString(b, in.ID)
	b = append(b, `,"address":`...)
	if in.Address == "" {
		b = append(b, "null"...)
	} else {
		b = appendJavaString(b, in.Address)
	}
	var err error
	if b, err = appendOptInt(b, `,"port":`, in.Port); err != nil {
		return nil, err
	}
	if b, err = appendOptInt(b, `,"sslPort":`, in.SSLPort); err != nil {
		return nil, err
	}
	b = append(b, `,"payload":`...)
	if b, err = appendPayload(b, any(in.Payload), s.javaClass); err != nil {
		return nil, err
	}
	b = append(b, `,"registrationTimeUTC":`...)
	b = strconv.AppendInt(b, in.RegistrationTimeUTC, 10)
	b = append(b, `,"serviceType":`...)
	b = appendJavaString(b, string(in.ServiceType.orDefault()))
	b = append(b, `,"uriSpec":`...)
	if in.URISpec == nil {
		b = append(b, "null"...)
	} else {
		b = appendURISpec(b, in.URISpec)
	}
	if s.writeEnabled {
		b = append(b, `,"enabled":`...)
		b = strconv.AppendBool(b, in.Enabled)
	}
	return append(b, '}'), nil
}

func appendOptInt(b []byte, prop string, v *int) ([]byte, error) {
	b = append(b, prop...)
	if v == nil {
		return append(b, "null"...), nil
	}
	if *v < math.MinInt32 || *v > math.MaxInt32 {
		return nil, invalidf("%s %d is outside Java's int range", prop[2:len(prop)-2], *v)
	}
	return strconv.AppendInt(b, int64(*v), 10), nil
}

// Deserialize reads an instance written by Curator or by Serialize. See JSON for what it
// accepts; errors wrap ErrMalformed.
func (s *JSONSerializer[T]) Deserialize(data []byte) (Instance[T], error) {
	var zero Instance[T]
	if len(bytes.TrimSpace(data)) == 0 {
		return zero, malformedf("empty data")
	}
	// One pass into the instance's shape, each property kept raw for the checks below (a
	// map of every property cost an allocation per entry). A missing property stays nil;
	// JSON null is kept as "null".
	var top instanceWire
	if string(bytes.TrimSpace(data)) == "null" {
		return zero, malformedf("JSON null instead of an instance")
	}
	if err := json.Unmarshal(data, &top); err != nil {
		return zero, malformedf("not a JSON object: %v", err)
	}
	in := Instance[T]{ServiceType: Dynamic, Enabled: true}
	for _, f := range []struct {
		key string
		dst *string
		raw json.RawMessage
	}{{"name", &in.Name, top.Name}, {"id", &in.ID, top.ID}, {"address", &in.Address, top.Address}} {
		if err := decodeString(f.raw, f.dst); err != nil {
			return zero, malformedf("%s: %v", f.key, err)
		}
	}
	var err error
	if in.Port, err = decodeOptInt32(top.Port); err != nil {
		return zero, malformedf("port: %v", err)
	}
	if in.SSLPort, err = decodeOptInt32(top.SSLPort); err != nil {
		return zero, malformedf("sslPort: %v", err)
	}
	if raw := top.RegistrationTimeUTC; raw != nil && !isNull(raw) {
		if in.RegistrationTimeUTC, err = parseIntLiteral(raw, 64); err != nil {
			return zero, malformedf("registrationTimeUTC: %v", err)
		}
	}
	if raw := top.ServiceType; raw != nil && !isNull(raw) {
		var st string
		if err := json.Unmarshal(raw, &st); err != nil {
			return zero, malformedf("serviceType is not a string: %.100s", raw)
		}
		in.ServiceType = ServiceType(st)
		if st == "" || !in.ServiceType.Valid() {
			return zero, malformedf("unknown serviceType %q (want DYNAMIC, DYNAMIC_SEQUENTIAL, STATIC or PERMANENT)", st)
		}
	}
	if raw := top.URISpec; raw != nil && !isNull(raw) {
		in.URISpec = new(URISpec)
		if err := in.URISpec.UnmarshalJSON(raw); err != nil {
			return zero, err
		}
	}
	if raw := top.Enabled; raw != nil {
		// Jackson turns null into false for a primitive boolean.
		if isNull(raw) {
			in.Enabled = false
		} else if err := json.Unmarshal(raw, &in.Enabled); err != nil {
			return zero, malformedf("enabled is not a boolean: %.100s", raw)
		}
	}
	if in.Payload, err = decodePayload[T](top.Payload, s.javaClass); err != nil {
		return zero, err
	}
	return in, nil
}

// instanceWire is the JSON object of an instance, each property raw.
type instanceWire struct {
	Name                json.RawMessage `json:"name"`
	ID                  json.RawMessage `json:"id"`
	Address             json.RawMessage `json:"address"`
	Port                json.RawMessage `json:"port"`
	SSLPort             json.RawMessage `json:"sslPort"`
	RegistrationTimeUTC json.RawMessage `json:"registrationTimeUTC"`
	ServiceType         json.RawMessage `json:"serviceType"`
	URISpec             json.RawMessage `json:"uriSpec"`
	Enabled             json.RawMessage `json:"enabled"`
	Payload             json.RawMessage `json:"payload"`
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// decodeString reads a JSON string or null ("") into dst; a missing property leaves dst.
func decodeString(raw json.RawMessage, dst *string) error {
	if raw == nil || isNull(raw) {
		return nil
	}
	if raw[0] != '"' {
		return errorf("not a string: %.100s", raw)
	}
	// The document is valid JSON (it was decoded whole), so a string without escapes and
	// in valid UTF-8 (json.Unmarshal would replace bad bytes) is its bytes between the quotes.
	if inner := raw[1 : len(raw)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		*dst = string(inner)
		return nil
	}
	return json.Unmarshal(raw, dst)
}

// decodeOptInt32 reads a nullable Java Integer.
func decodeOptInt32(raw json.RawMessage) (*int, error) {
	if raw == nil || isNull(raw) {
		return nil, nil
	}
	v, err := parseIntLiteral(raw, 32)
	if err != nil {
		return nil, err
	}
	i := int(v)
	return &i, nil
}

// parseIntLiteral parses a JSON integer literal (no fraction, no exponent, no quotes) that
// fits in bits.
func parseIntLiteral(raw json.RawMessage, bits int) (int64, error) {
	s := string(raw)
	digits := s
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if digits == "" {
		return 0, errorf("not an integer: %.100s", s)
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, errorf("not an integer: %.100s", s)
		}
	}
	v, err := strconv.ParseInt(s, 10, bits)
	if err != nil {
		return 0, errorf("%.100s does not fit in %d bits", s, bits)
	}
	return v, nil
}
