package discovery

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestParseURISpec(t *testing.T) {
	v := func(s string) URIPart { return URIPart{Value: s, Variable: true} }
	l := func(s string) URIPart { return URIPart{Value: s} }
	// Expected parts are what Curator 5.4's URISpec(String) gives.
	for tmpl, want := range map[string][]URIPart{
		"{scheme}://{address}:{port}": {v("scheme"), l("://"), v("address"), l(":"), v("port")},
		"x{}y":                        {l("x"), l("y")},
		"{ }":                         {v("")},
		"a{ b c }d":                   {l("a"), v("b c"), l("d")},
		"":                            nil,
		"{[}{]}":                      {v("["), v("]")},
		"plain":                       {l("plain")},
	} {
		got, err := ParseURISpec(tmpl)
		if err != nil {
			t.Errorf("%q: %v", tmpl, err)
			continue
		}
		if !reflect.DeepEqual(got.Parts, want) {
			t.Errorf("%q: got %#v, want %#v", tmpl, got.Parts, want)
		}
	}
}

func TestParseURISpecUnbalanced(t *testing.T) {
	for _, tmpl := range []string{"{a", "a}", "{a{b}}", "abc{", "}", "{{}}"} {
		if _, err := ParseURISpec(tmpl); !errors.Is(err, ErrInvalidURISpec) {
			t.Errorf("ParseURISpec(%q) = %v, want ErrInvalidURISpec", tmpl, err)
		}
	}
}

func TestURISpecStringRoundTrip(t *testing.T) {
	s := &URISpec{Parts: []URIPart{{Value: "a{b}c"}, {Value: "v", Variable: true}, {Value: "", Variable: true}}}
	back, err := ParseURISpec(s.String())
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

func TestURISpecJSON(t *testing.T) {
	s := MustParseURISpec("{scheme}://{address}:{port}")
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"parts":[{"value":"scheme","variable":true},{"value":"://","variable":false},{"value":"address","variable":true},{"value":":","variable":false},{"value":"port","variable":true}]}`
	if string(b) != want {
		t.Errorf("got %s\nwant %s", b, want)
	}
	var back URISpec
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(&back, s) {
		t.Errorf("unmarshal: %v %#v", err, back)
	}
	var lenient URISpec
	if err := json.Unmarshal([]byte(`{"parts":[{"value":"a"},{"variable":true},{}],"x":1}`), &lenient); err != nil {
		t.Fatal(err)
	}
	if want := []URIPart{{Value: "a"}, {Variable: true}, {}}; !reflect.DeepEqual(lenient.Parts, want) {
		t.Errorf("lenient: %#v", lenient.Parts)
	}
}

func TestMustParseURISpecPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	MustParseURISpec("{")
}
