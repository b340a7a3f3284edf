package shared

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecodeCount: any bytes from ZooKeeper decode or give ErrMalformed, never panic, and
// a 4-byte node round-trips.
func FuzzDecodeCount(f *testing.F) {
	for _, s := range [][]byte{nil, {1, 2, 3}, {0, 0, 0, 7}, []byte("42"), []byte("\xff\xfe\xfd\xfc\xfb")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := DecodeCount("/fuzz", data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || len(data) == 4 {
				t.Fatalf("DecodeCount(%x): %v", data, err)
			}
			return
		}
		if !bytes.Equal(EncodeCount(n), data) {
			t.Fatalf("DecodeCount(%x) = %d, which encodes as %x", data, n, EncodeCount(n))
		}
	})
}

// FuzzDecodeLong is FuzzDecodeCount for the atomic long (where empty data is 0).
func FuzzDecodeLong(f *testing.F) {
	for _, s := range [][]byte{nil, {1, 2, 3}, {0, 0, 0, 0, 0, 0, 0, 1}, []byte("123456789")} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := DecodeLong("/fuzz", data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || len(data) == 0 || len(data) == 8 {
				t.Fatalf("DecodeLong(%x): %v", data, err)
			}
			return
		}
		if len(data) == 0 {
			if n != 0 {
				t.Fatalf("empty data decoded as %d", n)
			}
			return
		}
		if !bytes.Equal(EncodeLong(n), data) {
			t.Fatalf("DecodeLong(%x) = %d, which encodes as %x", data, n, EncodeLong(n))
		}
	})
}
