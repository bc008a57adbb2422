package http1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"
)

// FuzzParse holds the parser to one invariant against net/http.ReadRequest on the same bytes:
// we are never more lenient. Every request we accept, net/http accepts too, with the same
// method, request target, protocol version, body (chunked bodies decoded) and length on the
// wire; whatever net/http refuses we refuse, or we still wait for more bytes. We may refuse
// more than net/http; the package documentation lists where, and why.
//
// Pipelined input is followed request by request for as long as both sides accept.
func FuzzParse(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Small limits, so that the fuzzer reaches them too.
		p := newParser(limits{requestLine: 256, header: 512, body: 1024})
		rd := bytes.NewReader(data)
		br := bufio.NewReader(rd)
		off := 0
		for off < len(data) {
			p.reset()
			st := p.parse(data[off:])
			// Parsing byte by byte must give the same verdict as parsing at once.
			p2 := newParser(p.lim)
			var st2 parseStatus
			for i := 1; i <= len(data)-off; i++ {
				if st2 = p2.parse(data[off : off+i]); st2 != needMore {
					break
				}
			}
			if st2 != st || st == complete && p2.req.end != p.req.end || st == failed && p2.err != p.err {
				t.Fatalf("at once: %v, end %d, err %v; byte by byte: %v, end %d, err %v",
					st, p.req.end, p.err, st2, p2.req.end, p2.err)
			}

			theirs, err := http.ReadRequest(br)
			var body []byte
			if err == nil {
				body, err = io.ReadAll(theirs.Body)
			}
			if st == needMore && err == nil {
				// All the bytes are there, yet we see a longer request than net/http does: the
				// two would frame what follows differently.
				t.Fatalf("net/http accepted %q (body %q); we wait for more bytes", data[off:], body)
			}
			if st != complete {
				// We refused, or net/http refused too: never more lenient.
				return
			}
			ours := data[off : off+p.req.end]
			if err != nil {
				t.Fatalf("we accepted %q; net/http refused it: %v", ours, err)
			}
			r := &p.req
			if got, want := theirs.Method, string(ours[:r.methodEnd]); got != want {
				t.Fatalf("%q: net/http got method %q; we got %q", ours, got, want)
			}
			if got, want := theirs.RequestURI, string(ours[r.targetStart:r.targetEnd]); got != want {
				t.Fatalf("%q: net/http got target %q; we got %q", ours, got, want)
			}
			if theirs.ProtoMajor != 1 || theirs.ProtoMinor != r.minor {
				t.Fatalf("%q: net/http got HTTP/%d.%d; we got HTTP/1.%d", ours, theirs.ProtoMajor, theirs.ProtoMinor, r.minor)
			}
			if got, want := string(body), string(ourBody(r, ours)); got != want {
				t.Fatalf("%q: net/http got body %q; we got %q", ours, got, want)
			}
			if theirs.Close == r.keepAlive() {
				t.Fatalf("%q: net/http got close %v; we got keep-alive %v", ours, theirs.Close, r.keepAlive())
			}
			// Both must have used the same bytes, or they would see different next requests.
			if used := len(data) - rd.Len() - br.Buffered(); used != off+r.end {
				t.Fatalf("%q: net/http used %d bytes; we used %d", data[off:], used-off, r.end)
			}
			off += r.end
		}
	})
}

// ourBody returns the body of a complete request, decoded, as the handler sees it.
func ourBody(r *request, buf []byte) []byte {
	if !r.chunked {
		return buf[r.bodyStart : r.bodyStart+int(r.bodyLen)]
	}
	var body []byte
	it := chunkIter{buf: buf, pos: r.bodyStart}
	for p := it.next(); p != nil; p = it.next() {
		body = append(body, p...)
	}
	return body
}

// TestOurBody checks the helper the fuzz test trusts.
func TestOurBody(t *testing.T) {
	in := []byte("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n")
	p := newParser(Config{}.limits())
	if st := p.parse(in); st != complete {
		t.Fatalf("got %v (%v); want complete", st, p.err)
	}
	if got := string(ourBody(&p.req, in)); got != "abcde" {
		t.Errorf("got body %q; want %q", got, "abcde")
	}
	if p.req.end != len(in) || p.req.bodyLen != 5 {
		t.Errorf("got end %d, body length %d; want %d, 5", p.req.end, p.req.bodyLen, len(in))
	}
}
