package discovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzDeserialize feeds arbitrary znode data to the serializer: it must never panic,
// every error must wrap ErrMalformed, and what it accepts must survive being written and
// read again.
func FuzzDeserialize(f *testing.F) {
	f.Add([]byte(`{"name":"bookService","id":"x","address":"127.0.0.1","port":8080,"sslPort":null,"payload":{"@class":"com.example.InstanceDetails","leader":true},"registrationTimeUTC":1700000000000,"serviceType":"DYNAMIC","uriSpec":null}`))
	f.Add([]byte(`{"payload":["java.lang.Long",5],"uriSpec":{"parts":[{"value":"scheme","variable":true}]},"enabled":null}`))
	f.Add([]byte(`{"payload":{"leader":1,"@class":"x"}}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzDecode(t, JSON[instanceDetails](WithJavaClass("com.example.InstanceDetails")), data, exactRoundTrip)
		fuzzDecode(t, JSON[any](), data, stableOutput)
		// Raw payloads are kept as read, but written as valid UTF-8.
		fuzzDecode(t, JSON[json.RawMessage](), data, encodes)
		fuzzDecode(t, JSON[[]int64](), data, exactRoundTrip)
		fuzzDecode(t, JSON[string](), data, exactRoundTrip)
		fuzzDecode(t, JSON[map[string]any](WithEnabledProperty()), data, stableOutput)
	})
}

type fuzzLevel int

const (
	stableOutput   fuzzLevel = iota // what decodes may fail to encode (a double out of range)
	encodes                         // what decodes encodes, and its output is stable
	exactRoundTrip                  // ... and reading it back gives the same instance
)

func fuzzDecode[T any](t *testing.T, s *JSONSerializer[T], data []byte, level fuzzLevel) {
	in, err := s.Deserialize(data)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("%T: error %v does not wrap ErrMalformed", s, err)
		}
		return
	}
	e1, err := s.Serialize(in)
	if err != nil {
		if level >= encodes {
			t.Fatalf("%T: Serialize(Deserialize(%q)) failed: %v", s, data, err)
		}
		return
	}
	d2, err := s.Deserialize(e1)
	if err != nil {
		t.Fatalf("%T: cannot read back own output %q: %v", s, e1, err)
	}
	if !s.writeEnabled {
		d2.Enabled = in.Enabled // not written in Curator's compatible mode
	}
	if level == exactRoundTrip && !reflect.DeepEqual(d2, in) {
		t.Fatalf("%T: round trip changed the instance:\n%#v\n%#v", s, in, d2)
	}
	e2, err := s.Serialize(d2)
	if err != nil || !bytes.Equal(e1, e2) {
		t.Fatalf("%T: output is not stable: %q then %q (%v)", s, e1, e2, err)
	}
}

// FuzzParseURISpec: the parser never panics, fails only with ErrInvalidURISpec, and a
// parsed spec survives String and JSON.
func FuzzParseURISpec(f *testing.F) {
	for _, s := range []string{"{scheme}://{address}:{port}", "{[}{]}", "a{ b }c{}", "{", "}", "{{}}", "x{ }y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tmpl string) {
		s, err := ParseURISpec(tmpl)
		if err != nil {
			if !errors.Is(err, ErrInvalidURISpec) {
				t.Fatalf("error %v does not wrap ErrInvalidURISpec", err)
			}
			return
		}
		_ = s.Build(map[string]any{"scheme": "http", "x": 1})
		again, err := ParseURISpec(s.String())
		if err != nil {
			t.Fatalf("String() %q of %q does not parse: %v", s.String(), tmpl, err)
		}
		if !reflect.DeepEqual(mergeLiterals(again.Parts), mergeLiterals(s.Parts)) {
			t.Fatalf("%q -> %q: parts %#v, then %#v", tmpl, s.String(), s.Parts, again.Parts)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back URISpec
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("cannot read own JSON %s: %v", b, err)
		}
		// JSON carries text: invalid UTF-8 comes back as U+FFFD.
		if utf8.ValidString(tmpl) && !reflect.DeepEqual(mergeLiterals(back.Parts), mergeLiterals(s.Parts)) {
			t.Fatalf("JSON %s changed the parts: %#v", b, back.Parts)
		}
	})
}

// mergeLiterals joins adjacent literal parts, which "x{}y" produces (as in Curator) and
// String cannot keep apart.
func mergeLiterals(parts []URIPart) []URIPart {
	var out []URIPart
	for _, p := range parts {
		if n := len(out); n > 0 && !p.Variable && !out[n-1].Variable {
			out[n-1].Value += p.Value
			continue
		}
		out = append(out, p)
	}
	return out
}
