package discovery

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestParseUriSpec(t *testing.T) {
	v := func(s string) UriPart { return UriPart{Value: s, Variable: true} }
	l := func(s string) UriPart { return UriPart{Value: s} }
	// Expected parts are what Curator 5.4's UriSpec(String) gives.
	for tmpl, want := range map[string][]UriPart{
		"{scheme}://{address}:{port}": {v("scheme"), l("://"), v("address"), l(":"), v("port")},
		"x{}y":                        {l("x"), l("y")},
		"{ }":                         {v("")},
		"a{ b c }d":                   {l("a"), v("b c"), l("d")},
		"":                            nil,
		"{[}{]}":                      {v("["), v("]")},
		"plain":                       {l("plain")},
	} {
		got, err := ParseUriSpec(tmpl)
		if err != nil {
			t.Errorf("%q: %v", tmpl, err)
			continue
		}
		if !reflect.DeepEqual(got.Parts, want) {
			t.Errorf("%q: got %#v, want %#v", tmpl, got.Parts, want)
		}
	}
}

func TestParseUriSpecUnbalanced(t *testing.T) {
	for _, tmpl := range []string{"{a", "a}", "{a{b}}", "abc{", "}", "{{}}"} {
		if _, err := ParseUriSpec(tmpl); !errors.Is(err, ErrInvalidUriSpec) {
			t.Errorf("ParseUriSpec(%q) = %v, want ErrInvalidUriSpec", tmpl, err)
		}
	}
}

func TestUriSpecStringRoundTrip(t *testing.T) {
	s := &UriSpec{Parts: []UriPart{{Value: "a{b}c"}, {Value: "v", Variable: true}, {Value: "", Variable: true}}}
	back, err := ParseUriSpec(s.String())
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Build(map[string]any{"v": 1}); got != "a{b}c1" {
		t.Errorf("Build = %q", got)
	}
	if !reflect.DeepEqual(back.Build(nil), s.Build(nil)) {
		t.Errorf("String() %q does not parse back to the same spec", s.String())
	}
}

func TestUriSpecJSON(t *testing.T) {
	s := MustParseUriSpec("{scheme}://{address}:{port}")
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"parts":[{"value":"scheme","variable":true},{"value":"://","variable":false},{"value":"address","variable":true},{"value":":","variable":false},{"value":"port","variable":true}]}`
	if string(b) != want {
		t.Errorf("got %s\nwant %s", b, want)
	}
	var back UriSpec
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(&back, s) {
		t.Errorf("unmarshal: %v %#v", err, back)
	}
	var lenient UriSpec
	if err := json.Unmarshal([]byte(`{"parts":[{"value":"a"},{"variable":true},{}],"x":1}`), &lenient); err != nil {
		t.Fatal(err)
	}
	if want := []UriPart{{Value: "a"}, {Variable: true}, {}}; !reflect.DeepEqual(lenient.Parts, want) {
		t.Errorf("lenient: %#v", lenient.Parts)
	}
}

func TestMustParseUriSpecPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	MustParseUriSpec("{")
}
