package discovery

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDeserializeDefaults(t *testing.T) {
	in, err := JSON[instanceDetails]().Deserialize([]byte(`{"name":"n"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Instance[instanceDetails]{Name: "n", ServiceType: Dynamic, Enabled: true}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("got %#v, want Java's defaults %#v", in, want)
	}
}

func TestDeserializeLenient(t *testing.T) {
	s := JSON[instanceDetails](WithJavaClass("com.example.InstanceDetails"))
	for _, data := range []string{
		// @class anywhere, unknown properties, whitespace, explicit nulls.
		`{"name":"n","payload":{"leader":true,"@class":"com.example.InstanceDetails"}}`,
		` { "extra" : [1,{"x":null}], "name" : "n", "payload" : { "@class" : "com.example.InstanceDetails" , "leader" : true , "unknown" : 1 } } `,
		// A payload without @class is accepted (Go knows the type).
		`{"name":"n","payload":{"leader":true},"address":null,"port":null,"uriSpec":null,"serviceType":null,"registrationTimeUTC":null}`,
	} {
		in, err := s.Deserialize([]byte(data))
		if err != nil {
			t.Errorf("%s: %v", data, err)
			continue
		}
		if in.Name != "n" || !in.Payload.Leader || in.ServiceType != Dynamic || !in.Enabled {
			t.Errorf("%s: got %#v", data, in)
		}
	}
}

func TestDeserializeEnabled(t *testing.T) {
	s := JSON[any]()
	for data, want := range map[string]bool{
		`{"name":"n"}`:                 true,
		`{"name":"n","enabled":true}`:  true,
		`{"name":"n","enabled":false}`: false,
		`{"name":"n","enabled":null}`:  false, // Jackson's null for a primitive boolean
	} {
		in, err := s.Deserialize([]byte(data))
		if err != nil || in.Enabled != want {
			t.Errorf("%s: enabled=%v err=%v, want %v", data, in.Enabled, err, want)
		}
	}
}

func TestDeserializeMalformed(t *testing.T) {
	s := JSON[instanceDetails](WithJavaClass("com.example.InstanceDetails"))
	for _, data := range []string{
		``,
		`   `,
		`not json`,
		`null`,
		`[]`,
		`"x"`,
		`{"name":"n"} trailing`,
		`{"name":1}`,
		`{"id":true}`,
		`{"port":"80"}`,
		`{"port":1.5}`,
		`{"port":5000000000}`,
		`{"sslPort":1e3}`,
		`{"registrationTimeUTC":"now"}`,
		`{"registrationTimeUTC":99999999999999999999}`,
		`{"serviceType":"dynamic"}`,
		`{"serviceType":""}`,
		`{"serviceType":"EPHEMERAL"}`,
		`{"serviceType":1}`,
		`{"uriSpec":"{scheme}"}`,
		`{"uriSpec":{"parts":{}}}`,
		`{"uriSpec":{"parts":[1]}}`,
		`{"uriSpec":{"parts":[{"value":1}]}}`,
		`{"uriSpec":{"parts":[{"variable":"yes"}]}}`,
		`{"enabled":"true"}`,
		`{"payload":{"@class":"com.example.Other","leader":true}}`,
		`{"payload":["com.example.Other",{"leader":true}]}`,
		`{"payload":{"@class":5,"leader":true}}`,
		`{"payload":{"leader":"yes"}}`,
		`{"payload":[1,2]}`,
		`{"payload":["a"]}`,
		`{"payload":["a","b","c"]}`,
		`{"payload":"str"}`,
		`{"name":"\ud800"`,
	} {
		_, err := s.Deserialize([]byte(data))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("Deserialize(%q) = %v, want ErrMalformed", data, err)
		}
	}
	_, err := s.Deserialize([]byte(`{"payload":{"@class":"com.example.Other"}}`))
	if !errors.Is(err, ErrUnexpectedClass) {
		t.Errorf("unexpected class: %v, want ErrUnexpectedClass", err)
	}
}

func TestPayloadAny(t *testing.T) {
	s := JSON[any]()
	cases := map[string]any{
		`{"@class":"com.example.InstanceDetails","leader":true}`: map[string]any{"leader": true},
		`["java.lang.Long",9007199254740993]`:                    json.Number("9007199254740993"),
		`["java.util.ArrayList",["a",1]]`:                        []any{"a", json.Number("1")},
		`"s"`:                                                    "s",
		`null`:                                                   nil,
		`2.5`:                                                    json.Number("2.5"),
	}
	for payload, want := range cases {
		in, err := s.Deserialize([]byte(`{"name":"n","payload":` + payload + `}`))
		if err != nil {
			t.Errorf("%s: %v", payload, err)
			continue
		}
		if !reflect.DeepEqual(in.Payload, want) {
			t.Errorf("%s: got %#v, want %#v", payload, in.Payload, want)
		}
	}
}

func TestPayloadRawMessage(t *testing.T) {
	s := JSON[json.RawMessage]()
	payload := `{"@class":"com.example.InstanceDetails","leader":true}`
	in, err := s.Deserialize([]byte(`{"name":"n","payload":` + payload + `}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(in.Payload) != payload {
		t.Errorf("RawMessage payload = %s, want it untouched", in.Payload)
	}
	in.Payload = json.RawMessage(` [ "java.lang.Long" , 5 ] `)
	out, err := s.Serialize(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"payload":["java.lang.Long",5],`) {
		t.Errorf("Serialize: %s", out)
	}
	in.Payload = json.RawMessage(`{bad`)
	if _, err := s.Serialize(in); !errors.Is(err, ErrInvalidInstance) {
		t.Errorf("invalid RawMessage: %v, want ErrInvalidInstance", err)
	}
}

type color string

type stamped struct {
	At time.Time `json:"at"`
}

// Every payload kind survives a round trip through its own type.
func TestPayloadRoundTrip(t *testing.T) {
	now := time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
	roundTrip(t, "string", "x", ``)
	roundTrip(t, "bool", false, ``)
	roundTrip(t, "int32", int32(-7), ``)
	roundTrip(t, "int", 1<<40, `["java.lang.Long",1099511627776]`)
	roundTrip(t, "int64", int64(-1), `["java.lang.Long",-1]`)
	roundTrip(t, "uint8", uint8(200), `200`)
	roundTrip(t, "uint16", uint16(65535), `65535`)
	roundTrip(t, "uint32", uint32(4000000000), `["java.lang.Long",4000000000]`)
	roundTrip(t, "uint64", uint64(math.MaxUint64), `["java.math.BigInteger",18446744073709551615]`)
	roundTrip(t, "float64", 3.25, `3.25`)
	roundTrip(t, "float32", float32(-2.5), `["java.lang.Float",-2.5]`)
	roundTrip(t, "slice", []int{1, 2}, `["java.util.ArrayList",[1,2]]`)
	roundTrip(t, "array", [2]string{"a", "b"}, `["java.util.ArrayList",["a","b"]]`)
	roundTrip(t, "nil slice", []int(nil), `null`)
	roundTrip(t, "map", map[string]int{"b": 2, "a": 1}, `{"@class":"java.util.LinkedHashMap","a":1,"b":2}`)
	roundTrip(t, "int map", map[int]string{1: "x"}, `{"@class":"java.util.LinkedHashMap","1":"x"}`)
	roundTrip(t, "struct", instanceDetails{Leader: true}, `{"@class":"java.util.LinkedHashMap","leader":true}`)
	roundTrip(t, "pointer", &instanceDetails{Leader: true}, `{"@class":"java.util.LinkedHashMap","leader":true}`)
	roundTrip(t, "nil pointer", (*instanceDetails)(nil), `null`)
	roundTrip(t, "bytes", []byte("hi"), `["[B","aGk="]`)
	roundTrip(t, "marshaler", now, `"2024-01-02T03:04:05.000000006Z"`)
	roundTrip(t, "struct with marshaler", stamped{At: now}, `{"@class":"java.util.LinkedHashMap","at":"2024-01-02T03:04:05.000000006Z"}`)
	roundTrip(t, "number int", json.Number("12"), `12`)
	roundTrip(t, "number long", json.Number("12345678901"), `["java.lang.Long",12345678901]`)
	roundTrip(t, "number frac", json.Number("0.5"), `0.5`)
	roundTrip(t, "enum", color("RED"), `["com.example.Color","RED"]`, WithJavaClass("com.example.Color"))
	roundTrip(t, "natural class", "s", `"s"`, WithJavaClass("java.lang.String"))
	roundTrip(t, "set", []string{"x"}, `["java.util.HashSet",["x"]]`, WithJavaClass("java.util.HashSet"))
	roundTrip(t, "html", "<a&b>", `"<a&b>"`)
}

func roundTrip[T any](t *testing.T, name string, v T, wantPayload string, opts ...JSONOption) {
	t.Helper()
	s := JSON[T](opts...)
	in := base("svc", v)
	data, err := s.Serialize(in)
	if err != nil {
		t.Errorf("%s: Serialize: %v", name, err)
		return
	}
	if wantPayload != "" && !strings.Contains(string(data), `"payload":`+wantPayload+`,`) {
		t.Errorf("%s: %s, want payload %s", name, data, wantPayload)
	}
	back, err := s.Deserialize(data)
	if err != nil {
		t.Errorf("%s: Deserialize(%s): %v", name, data, err)
		return
	}
	if !reflect.DeepEqual(back, in) {
		t.Errorf("%s: round trip gave %#v, want %#v", name, back.Payload, in.Payload)
	}
}

func TestSerializeInvalid(t *testing.T) {
	bad := base("svc", 0.0)
	bad.Payload = math.NaN()
	if _, err := JSON[float64]().Serialize(bad); !errors.Is(err, ErrInvalidInstance) {
		t.Errorf("NaN: %v", err)
	}
	ch := base[any]("svc", make(chan int))
	if _, err := JSON[any]().Serialize(ch); !errors.Is(err, ErrInvalidInstance) {
		t.Errorf("chan: %v", err)
	}
	port := base("svc", "")
	port.Port = intp(1 << 40)
	if _, err := JSON[string]().Serialize(port); !errors.Is(err, ErrInvalidInstance) {
		t.Errorf("port: %v", err)
	}
	st := base("svc", "")
	st.ServiceType = "dynamic"
	if _, err := JSON[string]().Serialize(st); !errors.Is(err, ErrInvalidInstance) {
		t.Errorf("service type: %v", err)
	}
}

func TestZeroServiceTypeWritesDynamic(t *testing.T) {
	in := base("svc", "")
	in.ServiceType = ""
	data, err := JSON[string]().Serialize(in)
	if err != nil || !strings.Contains(string(data), `"serviceType":"DYNAMIC"`) {
		t.Errorf("%s %v", data, err)
	}
}

func TestJavaDouble(t *testing.T) {
	for f, want := range map[float64]string{
		1: "1.0", 100: "100.0", 0.5: "0.5", 9999999: "9999999.0", 1e7: "1.0E7", 0.00099: "9.9E-4",
		-1.5e300: "-1.5E300", 123.456: "123.456", 5e-324: "4.9E-324",
	} {
		if got := string(appendJavaDouble(nil, f, 64)); got != want {
			t.Errorf("%v: got %s, want %s", f, got, want)
		}
	}
}
