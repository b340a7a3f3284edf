package shared

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// The layouts Curator 5.4 wrote for these values (CURATOR-COMPAT section 16).
func TestCountLayout(t *testing.T) {
	for _, c := range []struct {
		n   int32
		hex string
	}{{7, "00000007"}, {-2, "fffffffe"}, {0x01020304, "01020304"}, {0, "00000000"}} {
		if got := hex.EncodeToString(EncodeCount(c.n)); got != c.hex {
			t.Errorf("EncodeCount(%d) = %s, want %s", c.n, got, c.hex)
		}
		b, _ := hex.DecodeString(c.hex)
		if n, err := DecodeCount("/c", b); err != nil || n != c.n {
			t.Errorf("DecodeCount(%s) = %d, %v; want %d", c.hex, n, err, c.n)
		}
	}
}

func TestLongLayout(t *testing.T) {
	for _, c := range []struct {
		n   int64
		hex string
	}{{1, "0000000000000001"}, {-42, "ffffffffffffffd6"}, {0, "0000000000000000"}} {
		if got := hex.EncodeToString(EncodeLong(c.n)); got != c.hex {
			t.Errorf("EncodeLong(%d) = %s, want %s", c.n, got, c.hex)
		}
		b, _ := hex.DecodeString(c.hex)
		if n, err := DecodeLong("/l", b); err != nil || n != c.n {
			t.Errorf("DecodeLong(%s) = %d, %v; want %d", c.hex, n, err, c.n)
		}
	}
	if n, err := DecodeLong("/l", nil); err != nil || n != 0 {
		t.Errorf("DecodeLong(empty) = %d, %v; want 0 (Curator reads empty data as 0)", n, err)
	}
}

func TestMalformed(t *testing.T) {
	for _, c := range []struct {
		name string
		data []byte
		long bool
		want []string
	}{
		{"three bytes", []byte{1, 2, 3}, false, []string{"/app/count", "3 bytes", "0x010203"}},
		{"text", []byte("42"), false, []string{"/app/count", `"42"`}},
		{"empty count", nil, false, []string{"0 bytes"}},
		{"long of 3", []byte{1, 2, 3}, true, []string{"/app/count", "0x010203", "8 bytes"}},
		{"long text", []byte("12345678901"), true, []string{`"12345678901"`}},
		{"long binary", make([]byte, 40), true, []string{"40 bytes", "..."}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if c.long {
				_, err = DecodeLong("/app/count", c.data)
			} else {
				_, err = DecodeCount("/app/count", c.data)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
