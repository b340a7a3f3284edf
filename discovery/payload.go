package discovery

import (
	"bytes"
	"encoding"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// Java classes Jackson writes without type information: a reader gets them from the
// JSON value itself.
const (
	javaString  = "java.lang.String"
	javaInteger = "java.lang.Integer"
	javaDouble  = "java.lang.Double"
	javaBoolean = "java.lang.Boolean"
	javaLong    = "java.lang.Long"
	javaMap     = "java.util.LinkedHashMap"
	javaList    = "java.util.ArrayList"
)

var (
	rawMessageType    = reflect.TypeFor[json.RawMessage]()
	numberType        = reflect.TypeFor[json.Number]()
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// appendPayload appends v typed as Jackson types a payload declared as Object (see JSON).
// class is the configured Java class ("" for the defaults).
func appendPayload(b []byte, v any, class string) ([]byte, error) {
	if v == nil {
		return append(b, "null"...), nil
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return append(b, "null"...), nil
		}
		rv = rv.Elem()
	}
	switch rv.Type() {
	case rawMessageType:
		raw := rv.Bytes()
		if len(bytes.TrimSpace(raw)) == 0 {
			return append(b, "null"...), nil
		}
		out, err := appendJackson(b, raw)
		if err != nil {
			return nil, invalidf("payload json.RawMessage is not valid JSON: %v", err)
		}
		return out, nil
	case numberType:
		return appendNumberText(b, rv.String(), class)
	}
	t := rv.Type()
	if t.Implements(jsonMarshalerType) || t.Implements(textMarshalerType) ||
		reflect.PointerTo(t).Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType) {
		return appendMarshaled(b, v, class)
	}
	switch rv.Kind() {
	case reflect.String:
		return appendScalar(b, appendJavaString(nil, rv.String()), javaString, class), nil
	case reflect.Bool:
		return appendScalar(b, strconv.AppendBool(nil, rv.Bool()), javaBoolean, class), nil
	case reflect.Int32, reflect.Uint8, reflect.Uint16:
		return appendScalar(b, appendIntValue(nil, rv), javaInteger, class), nil
	case reflect.Int8:
		return appendWrapped(b, orClass(class, "java.lang.Byte"), appendIntValue(nil, rv)), nil
	case reflect.Int16:
		return appendWrapped(b, orClass(class, "java.lang.Short"), appendIntValue(nil, rv)), nil
	case reflect.Int, reflect.Int64:
		return appendWrapped(b, orClass(class, javaLong), appendIntValue(nil, rv)), nil
	case reflect.Uint, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		def := javaLong
		if rv.Uint() > math.MaxInt64 {
			def = "java.math.BigInteger"
		}
		return appendWrapped(b, orClass(class, def), appendIntValue(nil, rv)), nil
	case reflect.Float64:
		f := rv.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, invalidf("payload %v has no JSON form", f)
		}
		return appendScalar(b, appendJavaDouble(nil, f, 64), javaDouble, class), nil
	case reflect.Float32:
		f := rv.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, invalidf("payload %v has no JSON form", f)
		}
		return appendWrapped(b, orClass(class, "java.lang.Float"), appendJavaDouble(nil, f, 32)), nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return append(b, "null"...), nil
		}
		def := javaList
		if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			def = "[B" // Java's byte[]: Jackson writes it as a base64 string, as encoding/json does
		}
		inner, err := marshalJackson(v)
		if err != nil {
			return nil, err
		}
		return appendWrapped(b, orClass(class, def), inner), nil
	case reflect.Map:
		if rv.IsNil() {
			return append(b, "null"...), nil
		}
		return appendMarshaled(b, v, class)
	case reflect.Struct:
		return appendMarshaled(b, v, class)
	}
	return nil, invalidf("payload of type %T cannot be serialized", v)
}

// appendMarshaled encodes v with encoding/json and types the result by its JSON kind.
func appendMarshaled(b []byte, v any, class string) ([]byte, error) {
	raw, err := marshalJackson(v)
	if err != nil {
		return nil, err
	}
	switch raw[0] {
	case '{':
		b = append(b, `{"@class":`...)
		b = appendJavaString(b, orClass(class, javaMap))
		if len(raw) > 2 {
			b = append(b, ',')
		}
		return append(b, raw[1:]...), nil
	case '[':
		return appendWrapped(b, orClass(class, javaList), raw), nil
	case '"':
		return appendScalar(b, raw, javaString, class), nil
	case 't', 'f':
		return appendScalar(b, raw, javaBoolean, class), nil
	case 'n':
		return append(b, raw...), nil
	}
	return appendNumberText(b, string(raw), class)
}

// marshalJackson encodes v with encoding/json, re-escaped the Jackson way.
func marshalJackson(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, invalidf("payload: %v", err)
	}
	out, err := appendJackson(nil, buf.Bytes())
	if err != nil {
		return nil, invalidf("payload: %v", err)
	}
	return out, nil
}

// appendNumberText types a JSON number given as text: an int32 bare, a larger integer as
// a Long (or BigInteger), a fraction bare as a double.
func appendNumberText(b []byte, s, class string) ([]byte, error) {
	if !json.Valid([]byte(s)) || s == "" || !(s[0] == '-' || s[0] >= '0' && s[0] <= '9') {
		return nil, invalidf("payload %q is not a JSON number", s)
	}
	if !strings.ContainsAny(s, ".eE") {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			if v >= math.MinInt32 && v <= math.MaxInt32 {
				return appendScalar(b, []byte(s), javaInteger, class), nil
			}
			return appendWrapped(b, orClass(class, javaLong), []byte(s)), nil
		}
		return appendWrapped(b, orClass(class, "java.math.BigInteger"), []byte(s)), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, invalidf("payload %q does not fit a double", s)
	}
	return appendScalar(b, appendJavaDouble(nil, f, 64), javaDouble, class), nil
}

// appendScalar writes a value Jackson writes bare when its class is natural, and in a
// wrapper array with the configured class otherwise.
func appendScalar(b, value []byte, natural, class string) []byte {
	if class == "" || class == natural {
		return append(b, value...)
	}
	return appendWrapped(b, class, value)
}

func appendWrapped(b []byte, class string, value []byte) []byte {
	b = append(b, '[')
	b = appendJavaString(b, class)
	b = append(b, ',')
	b = append(b, value...)
	return append(b, ']')
}

func orClass(class, def string) string {
	if class != "" {
		return class
	}
	return def
}

func appendIntValue(b []byte, rv reflect.Value) []byte {
	if rv.CanInt() {
		return strconv.AppendInt(b, rv.Int(), 10)
	}
	return strconv.AppendUint(b, rv.Uint(), 10)
}

// decodePayload reads the payload property (nil when missing) into a T, removing the
// type information Jackson adds. class, when set, is the only Java class accepted.
func decodePayload[T any](raw json.RawMessage, class string) (T, error) {
	var p T
	if raw == nil {
		return p, nil
	}
	if rm, ok := any(&p).(*json.RawMessage); ok {
		if !isNull(raw) {
			*rm = append(json.RawMessage(nil), raw...)
		}
		return p, nil
	}
	value, got, err := untype(raw)
	if err != nil {
		return p, err
	}
	if class != "" && got != "" && got != class {
		return p, malformedf("payload: %w: %q, want %q", ErrUnexpectedClass, got, class)
	}
	if reflect.TypeFor[T]().Kind() == reflect.Interface {
		dec := json.NewDecoder(bytes.NewReader(value))
		dec.UseNumber()
		err = dec.Decode(&p)
	} else {
		err = json.Unmarshal(value, &p)
	}
	if err != nil {
		var zero T
		return zero, malformedf("payload: %v", err)
	}
	return p, nil
}

// untype strips Jackson's type information from a payload: the "@class" property of an
// object (wherever it is) or the [class, value] wrapper array. It returns the bare value
// and the class ("" when there was none).
func untype(raw json.RawMessage) (json.RawMessage, string, error) {
	switch raw[0] {
	case '[':
		var w []json.RawMessage
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, "", malformedf("payload: %v", err)
		}
		if len(w) != 2 || len(w[0]) == 0 || w[0][0] != '"' {
			return nil, "", malformedf("payload array is not a [\"class\", value] wrapper: %.100s", raw)
		}
		var class string
		if err := json.Unmarshal(w[0], &class); err != nil {
			return nil, "", malformedf("payload: %v", err)
		}
		return w[1], class, nil
	case '{':
		return stripClass(raw)
	}
	return raw, "", nil
}

// stripClass removes the "@class" property from a JSON object, keeping the order of the
// others.
func stripClass(raw json.RawMessage) (json.RawMessage, string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, "", malformedf("payload: %v", err)
	}
	out := []byte{'{'}
	class := ""
	found := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, "", malformedf("payload: %v", err)
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, "", malformedf("payload: %v", err)
		}
		if key == "@class" {
			if !found {
				if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &class) != nil {
					return nil, "", malformedf("payload @class is not a string: %.100s", v)
				}
			}
			found = true
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		kb, _ := json.Marshal(key)
		out = append(out, kb...)
		out = append(out, ':')
		out = append(out, v...)
	}
	if !found {
		return raw, "", nil
	}
	return append(out, '}'), class, nil
}
