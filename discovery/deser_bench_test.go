package discovery

import (
	"testing"
)

// BenchmarkDeserialize decodes one instance as Curator's JsonInstanceSerializer writes it,
// with a typed payload: the cost a cache pays per changed instance.
func BenchmarkDeserialize(b *testing.B) {
	s := JSON[instanceDetails](WithJavaClass("com.example.InstanceDetails"))
	in, err := NewInstance("bookService", instanceDetails{Leader: true}, WithID("node-1"), WithAddress("10.0.0.1"), WithPort(8080),
		WithURISpec(MustParseURISpec("{scheme}://{address}:{port}/api")))
	if err != nil {
		b.Fatal(err)
	}
	data, err := s.Serialize(in)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for range b.N {
		if _, err := s.Deserialize(data); err != nil {
			b.Fatal(err)
		}
	}
}
