package discovery

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Curator's built-in URISpec variable names.
const (
	FieldScheme              = "scheme"
	FieldName                = "name"
	FieldID                  = "id"
	FieldAddress             = "address"
	FieldPort                = "port"
	FieldSSLPort             = "ssl-port"
	FieldRegistrationTimeUTC = "registration-time-utc"
	FieldServiceType         = "service-type"
	// FieldOpenBrace and FieldCloseBrace are the variables {[} and {]}, which render as
	// literal braces.
	FieldOpenBrace  = "["
	FieldCloseBrace = "]"
)

// URISpec is Curator's URI template: literal text and {variables}, for example
// "{scheme}://{address}:{port}/api". It is stored with the instance, so readers in any
// language can build the URI.
type URISpec struct {
	Parts []URIPart
}

// URIPart is one piece of a URISpec: literal text, or the name of a variable.
type URIPart struct {
	Value    string
	Variable bool
}

// ParseURISpec parses a template the way Curator does: text outside braces is literal,
// "{ name }" is the variable "name" (trimmed), and "{[}" and "{]}" stand for literal
// braces. An empty "{}" is dropped. An unbalanced or nested brace is an error wrapping
// ErrInvalidURISpec that says where.
func ParseURISpec(template string) (*URISpec, error) {
	s := &URISpec{}
	inVar := false
	start := 0 // start of the current text run
	for i := 0; i < len(template); i++ {
		switch template[i] {
		case '{':
			if inVar {
				return nil, fmt.Errorf("%w %q: '{' at offset %d inside a variable", ErrInvalidURISpec, template, i)
			}
			if i > start {
				s.Parts = append(s.Parts, URIPart{Value: template[start:i]})
			}
			inVar, start = true, i+1
		case '}':
			if !inVar {
				return nil, fmt.Errorf("%w %q: '}' at offset %d without a '{'", ErrInvalidURISpec, template, i)
			}
			if i > start {
				s.Parts = append(s.Parts, URIPart{Value: strings.TrimSpace(template[start:i]), Variable: true})
			}
			inVar, start = false, i+1
		}
	}
	if inVar {
		return nil, fmt.Errorf("%w %q: variable opened at offset %d is not closed", ErrInvalidURISpec, template, start-1)
	}
	if start < len(template) {
		s.Parts = append(s.Parts, URIPart{Value: template[start:]})
	}
	return s, nil
}

// MustParseURISpec is ParseURISpec for templates written in the program; it panics on a
// bad template.
func MustParseURISpec(template string) *URISpec {
	s, err := ParseURISpec(template)
	if err != nil {
		panic(err)
	}
	return s
}

// Build renders the template with vars: a variable renders as fmt.Sprint of its value,
// an unknown or nil one as "", and {[} and {]} as braces. To render with an instance's
// built-in variables use Instance.URI.
func (s *URISpec) Build(vars map[string]any) string {
	if s == nil {
		return ""
	}
	var b strings.Builder
	for _, p := range s.Parts {
		if !p.Variable {
			b.WriteString(p.Value)
			continue
		}
		switch p.Value {
		case FieldOpenBrace:
			b.WriteByte('{')
		case FieldCloseBrace:
			b.WriteByte('}')
		default:
			switch v := vars[p.Value].(type) {
			case nil:
			case string:
				b.WriteString(v)
			default:
				fmt.Fprint(&b, v)
			}
		}
	}
	return b.String()
}

// String returns the template, with literal braces written as {[} and {]}: parsing it
// gives the same parts back.
func (s *URISpec) String() string {
	if s == nil {
		return ""
	}
	var b strings.Builder
	for _, p := range s.Parts {
		if p.Variable {
			v := p.Value
			if v == "" {
				v = " " // "{}" would be dropped when parsed again
			}
			b.WriteString("{" + v + "}")
			continue
		}
		for i := 0; i < len(p.Value); i++ {
			switch c := p.Value[i]; c {
			case '{':
				b.WriteString("{[}")
			case '}':
				b.WriteString("{]}")
			default:
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

// MarshalJSON writes Curator's form:
// {"parts":[{"value":"scheme","variable":true},{"value":"://","variable":false},...]}.
func (s URISpec) MarshalJSON() ([]byte, error) {
	return appendURISpec(nil, &s), nil
}

func appendURISpec(b []byte, s *URISpec) []byte {
	b = append(b, `{"parts":[`...)
	for i, p := range s.Parts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"value":`...)
		b = appendJavaString(b, p.Value)
		b = append(b, `,"variable":`...)
		if p.Variable {
			b = append(b, "true}"...)
		} else {
			b = append(b, "false}"...)
		}
	}
	return append(b, "]}"...)
}

// UnmarshalJSON reads Curator's form. Property names are case-sensitive, as in Jackson;
// unknown properties are ignored; a missing or null "parts", "value" or "variable" takes
// Java's default (no parts, "", false). Anything else is an error wrapping ErrMalformed.
func (s *URISpec) UnmarshalJSON(data []byte) error {
	// One pass into a typed shape (a map per part cost a dozen allocations each). null or a
	// missing property leaves the zero value, as Jackson does.
	var wire struct {
		Parts *[]*struct {
			Value    *string `json:"value"`
			Variable *bool   `json:"variable"`
		} `json:"parts"`
	}
	if len(data) == 0 || data[0] != '{' {
		return malformedf("uriSpec is not a JSON object: %.100q", data)
	}
	if err := json.Unmarshal(data, &wire); err != nil {
		return malformedf("uriSpec: %v in %.100q", err, data)
	}
	if wire.Parts == nil {
		s.Parts = []URIPart{}
		return nil
	}
	parts := make([]URIPart, 0, len(*wire.Parts))
	for i, wp := range *wire.Parts {
		if wp == nil {
			return malformedf("uriSpec part %d is not an object: null", i)
		}
		var p URIPart
		if wp.Value != nil {
			p.Value = *wp.Value
		}
		if wp.Variable != nil {
			p.Variable = *wp.Variable
		}
		parts = append(parts, p)
	}
	s.Parts = parts
	return nil
}
