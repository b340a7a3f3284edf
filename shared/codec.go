package shared

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"unicode/utf8"
)

var (
	// ErrMalformed is matched (errors.Is) by the error for a node whose data is not in
	// the format of the recipe reading it: a count that is not 4 bytes, an atomic long
	// that is neither empty nor 8 bytes. The message names the path and the data found.
	ErrMalformed = errors.New("shared: malformed value")
	// ErrClosed is returned by the methods of a Value or Count after Close, and by Start
	// after Close.
	ErrClosed = errors.New("shared: closed")
	// ErrNotStarted is returned by the methods of a Value or Count that need Start first.
	ErrNotStarted = errors.New("shared: not started")
	// ErrStarted is returned by a second Start.
	ErrStarted = errors.New("shared: already started")
	// ErrInvalidArgument is matched by the error for a bad path or option.
	ErrInvalidArgument = errors.New("shared: invalid argument")
)

// EncodeCount returns Curator's SharedCount layout of n: 4 bytes, big-endian two's
// complement.
func EncodeCount(n int32) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(n))
}

// DecodeCount reads Curator's SharedCount layout. Anything but exactly 4 bytes gives an
// error matching ErrMalformed that names path and shows the data. (Java reads the first
// 4 bytes of a longer node; a Go reader refuses it, since such a node was not written by
// a SharedCount.)
func DecodeCount(path string, data []byte) (int32, error) {
	if len(data) != 4 {
		return 0, malformed(path, data, "a shared count is 4 bytes (big-endian int32)")
	}
	return int32(binary.BigEndian.Uint32(data)), nil
}

// EncodeLong returns Curator's DistributedAtomicLong layout of n: 8 bytes, big-endian
// two's complement.
func EncodeLong(n int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(n))
}

// DecodeLong reads Curator's DistributedAtomicLong layout: empty data is 0 (as in
// Curator), 8 bytes are the value, anything else gives an error matching ErrMalformed
// that names path and shows the data.
func DecodeLong(path string, data []byte) (int64, error) {
	switch len(data) {
	case 0:
		return 0, nil
	case 8:
		return int64(binary.BigEndian.Uint64(data)), nil
	}
	return 0, malformed(path, data, "an atomic long is 8 bytes (big-endian int64) or empty")
}

// malformed names the path and shows what it holds: as quoted text when it is short
// printable UTF-8 (someone wrote "42" as a string), otherwise in hex, cut at 32 bytes.
func malformed(path string, data []byte, want string) error {
	return fmt.Errorf("%w: %s holds %d bytes %s; %s", ErrMalformed, path, len(data), show(data), want)
}

func show(data []byte) string {
	const max = 32
	cut := data
	if len(cut) > max {
		cut = cut[:max]
	}
	text := len(cut) > 0 && utf8.Valid(cut)
	for _, r := range string(cut) {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			text = false
			break
		}
	}
	var s string
	if text {
		s = fmt.Sprintf("%q", cut)
	} else {
		s = "0x" + hex.EncodeToString(cut)
	}
	if len(cut) < len(data) {
		s += "..."
	}
	if text {
		return "(text " + s + ")"
	}
	return "(" + s + ")"
}
