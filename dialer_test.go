package zkrecipes

import (
	"bytes"
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// connectRequest encodes a connect request as go-zk v1.0.4 does (framed).
func connectRequest(lastZxid int64, timeout int32, session int64, passwd []byte) []byte {
	body := binary.BigEndian.AppendUint32(nil, 0) // protocol version
	body = binary.BigEndian.AppendUint64(body, uint64(lastZxid))
	body = binary.BigEndian.AppendUint32(body, uint32(timeout))
	body = binary.BigEndian.AppendUint64(body, uint64(session))
	body = binary.BigEndian.AppendUint32(body, uint32(len(passwd)))
	body = append(body, passwd...)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// connectResponse encodes a server's connect response (framed), with the read-only flag.
func connectResponse(timeout int32, session int64, passwd []byte) []byte {
	body := binary.BigEndian.AppendUint32(nil, 0)
	body = binary.BigEndian.AppendUint32(body, uint32(timeout))
	body = binary.BigEndian.AppendUint64(body, uint64(session))
	body = binary.BigEndian.AppendUint32(body, uint32(len(passwd)))
	body = append(body, passwd...)
	body = append(body, 0)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// replyFrame encodes a reply: xid, zxid, err and a body of n bytes.
func replyFrame(xid int32, zxid int64, n int) []byte {
	body := binary.BigEndian.AppendUint32(nil, uint32(xid))
	body = binary.BigEndian.AppendUint64(body, uint64(zxid))
	body = binary.BigEndian.AppendUint32(body, 0)
	body = append(body, make([]byte, n)...)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func TestRewriteConnect(t *testing.T) {
	pw := bytes.Repeat([]byte{7}, 16)
	offer := &resumeOffer{id: 0x1234, passwd: pw, zxid: 99}
	got, ok := rewriteConnect(connectRequest(0, 4000, 0, make([]byte, 16)), offer, 0)
	if !ok {
		t.Fatal("a new-session request was not rewritten")
	}
	if want := connectRequest(99, 4000, 0x1234, pw); !bytes.Equal(got, want) {
		t.Fatalf("rewritten request\n%x\nwant\n%x", got, want)
	}
	// A password of another length re-frames the request.
	got, ok = rewriteConnect(connectRequest(0, 4000, 0, make([]byte, 16)), &resumeOffer{id: 5, passwd: []byte{1, 2}, zxid: 1}, 0)
	if want := connectRequest(1, 4000, 5, []byte{1, 2}); !ok || !bytes.Equal(got, want) {
		t.Fatalf("rewritten request %x (ok %v), want %x", got, ok, want)
	}
	// go-zk's own session, and what is not a connect request, are left alone.
	for name, p := range map[string][]byte{
		"own session": connectRequest(5, 4000, 0x99, pw),
		"short":       {0, 0, 0, 1, 0},
		"bad length":  append(connectRequest(0, 4000, 0, pw), 0),
		"bad passwd":  connectRequest(0, 4000, 0, nil)[:28],
	} {
		if _, ok := rewriteConnect(p, offer, 0); ok {
			t.Errorf("%s: rewritten", name)
		}
	}
	// go-zk's own session with a zxid below what the Client has seen: only the zxid is raised.
	got, ok = rewriteConnect(connectRequest(5, 4000, 0x99, pw), nil, 77)
	if want := connectRequest(77, 4000, 0x99, pw); !ok || !bytes.Equal(got, want) {
		t.Fatalf("raised request %x (ok %v), want %x", got, ok, want)
	}
	if _, ok := rewriteConnect(connectRequest(80, 4000, 0x99, pw), nil, 77); ok {
		t.Error("a request with a higher zxid was rewritten")
	}
}

func FuzzRewriteConnect(f *testing.F) {
	f.Add(connectRequest(0, 4000, 0, make([]byte, 16)), int64(0x1234), []byte("0123456789abcdef"), int64(9))
	f.Add([]byte{0, 0, 0, 0}, int64(1), []byte{}, int64(0))
	f.Fuzz(func(t *testing.T, p []byte, id int64, pw []byte, zxid int64) {
		if len(p) >= 28 {
			binary.BigEndian.PutUint64(p[20:28], 0) // a request for a new session
			binary.BigEndian.PutUint64(p[8:16], 0)
		}
		got, ok := rewriteConnect(p, &resumeOffer{id: id, passwd: pw, zxid: zxid}, 0)
		if !ok {
			return
		}
		if int(binary.BigEndian.Uint32(got[:4])) != len(got)-4 {
			t.Fatalf("frame length %d for %d bytes", binary.BigEndian.Uint32(got[:4]), len(got)-4)
		}
		if g := int64(binary.BigEndian.Uint64(got[8:16])); g != max(zxid, 0) {
			t.Fatalf("zxid %d, want %d", g, max(zxid, 0))
		}
		if g := int64(binary.BigEndian.Uint64(got[20:28])); g != id {
			t.Fatalf("session %d, want %d", g, id)
		}
		if !bytes.Equal(got[32:32+len(pw)], pw) {
			t.Fatal("password not offered")
		}
	})
}

// FuzzFrameTracker checks that the tracker finds the highest zxid of the replies to
// requests in a stream of frames, however the reads split it.
func FuzzFrameTracker(f *testing.F) {
	f.Add([]byte("\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x05\x03"), uint8(3))
	f.Add([]byte("\xff\xff\xff\xfe\x00\x00\x00\x00\x00\x00\x00\x09\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x04\x10"), uint8(0))
	f.Fuzz(func(t *testing.T, seed []byte, split uint8) {
		var stream []byte
		var want int64
		for len(seed) >= 13 {
			xid := int32(binary.BigEndian.Uint32(seed[:4]))
			zxid := int64(binary.BigEndian.Uint64(seed[4:12]))
			n := int(seed[12] % 64)
			seed = seed[13:]
			stream = append(stream, replyFrame(xid, zxid, n)...)
			if xid >= 0 && zxid > want {
				want = zxid
			}
		}
		var tr frameTracker
		var last atomic.Int64
		step := int(split%7) + 1
		for i := 0; i < len(stream); i += step {
			tr.feed(stream[i:min(i+step, len(stream))], &last)
		}
		if got := last.Load(); got != want {
			t.Fatalf("last zxid %d, want %d", got, want)
		}
	})
}

// The connect response, read a byte at a time, gives the timeout, the session and its
// password, and the bytes after it go to the frame tracker.
func TestSnoopHandshake(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var nt negotiatedTimeout
	s := &snoopConn{Conn: a, nt: &nt, resume: &resumeOffer{}}
	pw := bytes.Repeat([]byte{3}, 16)
	stream := append(connectResponse(6000, 0x77, pw), replyFrame(1, 42, 5)...)
	for i := range stream {
		if s.past.Load() {
			s.frames.feed(stream[i:i+1], &nt.lastZxid)
			continue
		}
		if err := s.snoopHandshake(stream[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if got := nt.get(0); got != 6*time.Second {
		t.Errorf("negotiated timeout %v, want 6s", got)
	}
	if sc := nt.session.Load(); sc == nil || sc.id != 0x77 || !bytes.Equal(sc.passwd, pw) {
		t.Errorf("session %+v, want 0x77 with its password", sc)
	}
	if !s.resume.answered.Load() {
		t.Error("the resume offer was not marked answered")
	}
	if got := nt.lastZxid.Load(); got != 42 {
		t.Errorf("last zxid %d, want 42", got)
	}
	// An expired session's response (id 0) records no session.
	var nt2 negotiatedTimeout
	s2 := &snoopConn{Conn: a, nt: &nt2}
	if err := s2.snoopHandshake(connectResponse(4000, 0, make([]byte, 16))); err != nil {
		t.Fatal(err)
	}
	if nt2.session.Load() != nil {
		t.Error("an expired session's response recorded a session")
	}
	// Not ZooKeeper: a huge first frame is refused before go-zk allocates it.
	s3 := &snoopConn{Conn: a, nt: &negotiatedTimeout{}}
	if err := s3.snoopHandshake([]byte{0x48, 0x54, 0x54, 0x50}); err == nil {
		t.Error("an HTTP reply was taken for a connect response")
	}
}
