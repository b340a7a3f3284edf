package discovery

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file writes JSON the way Jackson 2.14's UTF-8 generator does, so that what Go
// writes is byte for byte what Curator writes for the same instance.

const upperHex = "0123456789ABCDEF"

// appendJavaString appends s as a JSON string escaped like Jackson: '"', '\' and control
// characters escaped (\b \t \n \f \r short, the rest \u00XX), characters outside the
// Basic Multilingual Plane as a \uXXXX\uXXXX surrogate pair, everything else as raw UTF-8
// (no HTML escaping, no escaping of U+2028/U+2029 or '/'). Invalid UTF-8 becomes U+FFFD,
// as Java's decoding of such a string would.
func appendJavaString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\t':
				b = append(b, '\\', 't')
			case '\n':
				b = append(b, '\\', 'n')
			case '\f':
				b = append(b, '\\', 'f')
			case '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, '\\', 'u', '0', '0', upperHex[c>>4], upperHex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, "\uFFFD"...)
		case r >= 0x10000:
			b = append(b, s[start:i]...)
			r -= 0x10000
			b = appendU4(b, 0xd800+(r>>10))
			b = appendU4(b, 0xdc00+(r&0x3ff))
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendU4(b []byte, r rune) []byte {
	return append(b, '\\', 'u', upperHex[r>>12&0xf], upperHex[r>>8&0xf], upperHex[r>>4&0xf], upperHex[r&0xf])
}

// appendJavaDouble appends f as Java's Double.toString (which Jackson uses) prints it:
// "2.0", "0.001", "1234567.0", "1.2345678E7", "1.5E-7". The digits are the shortest that
// round-trip (two when one would do), as in Java 19 and later; older JDKs print a few
// values with extra digits.
// NaN and infinities have no JSON form and are rejected by the caller.
func appendJavaDouble(b []byte, f float64, bits int) []byte {
	if f == 0 {
		if math.Signbit(f) {
			return append(b, "-0.0"...)
		}
		return append(b, "0.0"...)
	}
	if f < 0 {
		b = append(b, '-')
		f = -f
	}
	// "d.dddde±XX": digits and decimal exponent of the shortest representation.
	e := strconv.FormatFloat(f, 'e', -1, bits)
	if len(e) > 1 && e[1] == 'e' {
		// One digit is enough to round-trip, but Java prints two ("d.d") and picks the
		// two-digit decimal closest to the value: 4.9E-324 rather than 5.0E-324.
		if two := strconv.FormatFloat(f, 'e', 1, bits); parsesTo(two, f, bits) {
			e = two
		}
	}
	mant, expStr, _ := strings.Cut(e, "e")
	digits := strings.TrimRight(strings.Replace(mant, ".", "", 1), "0")
	if digits == "" {
		digits = "0"
	}
	exp, _ := strconv.Atoi(expStr)
	if f >= 1e-3 && f < 1e7 {
		if exp >= 0 {
			intPart := digits
			frac := ""
			if len(digits) > exp+1 {
				intPart, frac = digits[:exp+1], digits[exp+1:]
			} else {
				intPart += strings.Repeat("0", exp+1-len(digits))
			}
			if frac == "" {
				frac = "0"
			}
			b = append(b, intPart...)
			b = append(b, '.')
			return append(b, frac...)
		}
		b = append(b, "0."...)
		b = append(b, strings.Repeat("0", -exp-1)...)
		return append(b, digits...)
	}
	b = append(b, digits[0], '.')
	if len(digits) > 1 {
		b = append(b, digits[1:]...)
	} else {
		b = append(b, '0')
	}
	b = append(b, 'E')
	return strconv.AppendInt(b, int64(exp), 10)
}

func parsesTo(s string, f float64, bits int) bool {
	g, err := strconv.ParseFloat(s, bits)
	return err == nil && g == f
}

// appendJackson appends the JSON value src with its strings re-escaped the Jackson way
// and insignificant whitespace removed. It fails when src is not valid JSON.
func appendJackson(b []byte, src []byte) ([]byte, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, src); err != nil {
		return b, err
	}
	c := compact.Bytes()
	for i := 0; i < len(c); {
		if c[i] != '"' {
			j := bytes.IndexByte(c[i:], '"')
			if j < 0 {
				return append(b, c[i:]...), nil
			}
			b = append(b, c[i:i+j]...)
			i += j
			continue
		}
		// c is valid JSON, so the string ends at the next quote not escaped by '\'.
		j := i + 1
		plain := true
		for c[j] != '"' {
			if c[j] == '\\' {
				plain = false
				j += 2
				continue
			}
			if c[j] >= 0xf0 { // a 4-byte UTF-8 sequence: Jackson escapes it
				plain = false
			}
			j++
		}
		if plain && !utf8.Valid(c[i:j+1]) {
			plain = false
		}
		if plain {
			b = append(b, c[i:j+1]...)
		} else {
			var s string
			if err := json.Unmarshal(c[i:j+1], &s); err != nil {
				return b, err
			}
			b = appendJavaString(b, s)
		}
		i = j + 1
	}
	return b, nil
}
