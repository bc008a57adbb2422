package http1

import (
	"strings"
	"testing"
)

// benchOnData feeds in to one connection of a fresh Handler b.N times; every call must consume
// all of it.
func benchOnData(b *testing.B, in []byte) {
	h := newHandler(b, Config{})
	c := &sinkConn{}
	h.OnOpen(c)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if n, _ := h.OnData(c, in); n != len(in) {
			b.Fatalf("got %d consumed; want %d", n, len(in))
		}
	}
}

func BenchmarkPlaintext(b *testing.B) {
	benchOnData(b, []byte(wrkPlaintext))
}

func BenchmarkPlaintextPipelined(b *testing.B) {
	benchOnData(b, []byte(strings.Repeat(wrkPlaintext, 16)))
}

func BenchmarkJSONPipelined(b *testing.B) {
	benchOnData(b, []byte(strings.Repeat(strings.Replace(wrkPlaintext, "/plaintext", "/json", 1), 16)))
}

func BenchmarkEcho4KiB(b *testing.B) {
	benchOnData(b, []byte("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4096\r\n\r\n"+strings.Repeat("e", 4096)))
}

func BenchmarkEchoChunked(b *testing.B) {
	benchOnData(b, []byte("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"+
		strings.Repeat("100\r\n"+strings.Repeat("c", 256)+"\r\n", 16)+"0\r\n\r\n"))
}

// BenchmarkParseBytewise: one request delivered a byte at a time, the parser resuming each
// time (the cost per byte should not grow with the request's size).
func BenchmarkParseBytewise(b *testing.B) {
	req := []byte(wrkPlaintext)
	p := newParser(Config{}.limits())
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		p.reset()
		for i := 1; i <= len(req); i++ {
			p.parse(req[:i])
		}
		if p.req.end != len(req) {
			b.Fatalf("got end %d; want %d", p.req.end, len(req))
		}
	}
}

// BenchmarkPipelined16: what `reactor bench --proto http` sends on its pipelined scenario, 16
// requests in one read, answered in one OnData: the per-request cost of parse and respond.
func BenchmarkPipelined16(b *testing.B) {
	benchOnData(b, []byte(strings.Repeat("GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 16)))
}

// TestCannedReplies: the whole replies assembled once a second are byte for byte what the
// reply would be assembled piece by piece.
func TestCannedReplies(t *testing.T) {
	h := newHandler(t, Config{})
	d := h.date.Load()
	for i := range routes {
		rt := &routes[i]
		if rt.echo {
			if d.n[i] != 0 {
				t.Errorf("%s: a canned reply for the echo route", rt.path)
			}
			continue
		}
		w := writer{h: h}
		w.grab()
		w.b = append(w.b, rt.head...)
		w.common(1, true)
		w.b = append(w.b, rt.body...)
		if got := d.reply[i][:d.n[i]]; string(got) != string(w.b) {
			t.Errorf("%s: canned %q; want %q", rt.path, got, w.b)
		}
	}
}
