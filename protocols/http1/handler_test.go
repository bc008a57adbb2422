package http1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/conntest"
)

func newHandler(t testing.TB, cfg Config) *Handler {
	t.Helper()
	h := New(cfg)
	t.Cleanup(h.Close)
	return h
}

// feedMode is how a test delivers its input: as the backend would after one big read, one
// byte per read, or in reads of a few bytes.
type feedMode struct {
	name string
	feed func(d *conntest.Driver, in []byte)
}

var feedModes = []feedMode{
	{"whole", func(d *conntest.Driver, in []byte) { d.Feed(in) }},
	{"bytewise", func(d *conntest.Driver, in []byte) { d.FeedBytewise(in) }},
	{"by7", func(d *conntest.Driver, in []byte) {
		for len(in) > 0 {
			n := min(7, len(in))
			if d.Feed(in[:n]) == reactor.Close {
				return
			}
			in = in[n:]
		}
	}},
}

// reply is one parsed response.
type reply struct {
	status int
	header http.Header
	body   string
}

// readReplies parses the responses in out with net/http, one per method in methods (HEAD
// replies have no body), and fails if bytes are left over.
func readReplies(t *testing.T, out []byte, methods []string) []reply {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(out))
	var got []reply
	for _, m := range methods {
		resp, err := http.ReadResponse(br, &http.Request{Method: m})
		if err != nil {
			t.Fatalf("reading reply %d to %s: %v\noutput: %q", len(got)+1, m, err, out)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("reading body of reply %d: %v", len(got)+1, err)
		}
		if resp.Close && resp.ProtoAtLeast(1, 1) {
			// net/http takes "Connection: close" out of the header and reports it here.
			resp.Header.Set("Connection", "close")
		}
		got = append(got, reply{resp.StatusCode, resp.Header, string(body)})
	}
	if rest, _ := io.ReadAll(br); len(rest) > 0 {
		t.Fatalf("got %d unexpected bytes after %d replies: %q", len(rest), len(methods), rest)
	}
	return got
}

func TestRoutes(t *testing.T) {
	tests := []struct {
		name    string
		req     string
		method  string // of the request, for reading the reply
		status  int
		body    string
		header  map[string]string // "" value: must be absent
		closing bool
	}{
		{
			name: "plaintext", method: "GET", status: 200, body: "Hello, World!",
			req:    "GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n",
			header: map[string]string{"Content-Type": "text/plain", "Content-Length": "13", "Server": "reactor", "Connection": ""},
		},
		{
			name: "json", method: "GET", status: 200, body: `{"message":"Hello, World!"}`,
			req:    "GET /json HTTP/1.1\r\nHost: a\r\n\r\n",
			header: map[string]string{"Content-Type": "application/json", "Content-Length": "27"},
		},
		{
			name: "index", method: "GET", status: 200, body: indexBody,
			req:    "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
			header: map[string]string{"Content-Type": "text/plain; charset=utf-8"},
		},
		{
			name: "query ignored", method: "GET", status: 200, body: "Hello, World!",
			req: "GET /plaintext?x=1&y=%20 HTTP/1.1\r\nHost: a\r\n\r\n",
		},
		{
			name: "absolute-form", method: "GET", status: 200, body: "Hello, World!",
			req: "GET http://example.com:8080/plaintext?q HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
		},
		{
			name: "absolute-form without path", method: "GET", status: 200, body: indexBody,
			req: "GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
		},
		{
			name: "HEAD plaintext", method: "HEAD", status: 200, body: "",
			req:    "HEAD /plaintext HTTP/1.1\r\nHost: a\r\n\r\n",
			header: map[string]string{"Content-Type": "text/plain", "Content-Length": "13"},
		},
		{
			name: "HEAD json", method: "HEAD", status: 200, body: "",
			req:    "HEAD /json HTTP/1.1\r\nHost: a\r\n\r\n",
			header: map[string]string{"Content-Length": "27"},
		},
		{
			name: "echo with Content-Length", method: "POST", status: 200, body: "ping pong",
			req:    "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Type: text/x-test; a=b\r\nContent-Length: 9\r\n\r\nping pong",
			header: map[string]string{"Content-Type": "text/x-test; a=b", "Content-Length": "9"},
		},
		{
			name: "echo PUT without Content-Type", method: "PUT", status: 200, body: "xyz",
			req:    "PUT /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz",
			header: map[string]string{"Content-Type": "application/octet-stream"},
		},
		{
			name: "echo empty", method: "POST", status: 200, body: "",
			req:    "POST /echo HTTP/1.1\r\nHost: a\r\n\r\n",
			header: map[string]string{"Content-Length": "0"},
		},
		{
			name: "echo chunked with extensions and trailers", method: "POST", status: 200, body: "hello, chunked world",
			req: "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"5;name=value\r\nhello\r\n" + "F \r\n, chunked world\r\n" + "0;last\r\nX-Trailer: yes\r\nX-Other: 1\r\n\r\n",
			header: map[string]string{"Content-Length": "20"},
		},
		{
			name: "body on GET is read and ignored", method: "GET", status: 200, body: "Hello, World!",
			req: "GET /plaintext HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabcd",
		},
		{
			name: "Connection: close", method: "GET", status: 200, body: "Hello, World!", closing: true,
			req:    "GET /plaintext HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, Close\r\n\r\n",
			header: map[string]string{"Connection": "close"},
		},
		{
			name: "HTTP/1.0 closes", method: "GET", status: 200, body: "Hello, World!", closing: true,
			req:    "GET /plaintext HTTP/1.0\r\n\r\n",
			header: map[string]string{"Connection": "close"},
		},
		{
			name: "HTTP/1.0 keep-alive", method: "GET", status: 200, body: "Hello, World!",
			req:    "GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
			header: map[string]string{"Connection": "keep-alive"},
		},
		{
			name: "HTTP/1.0 ignores 100-continue", method: "POST", status: 200, body: "ab",
			req: "POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab", closing: true,
		},
		{
			name: "404 keeps the connection", method: "GET", status: 404, body: "404 Not Found: no such path\n",
			req:    "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n",
			header: map[string]string{"Connection": "", "Content-Type": "text/plain; charset=utf-8"},
		},
		{
			name: "404 for lower-case path", method: "GET", status: 404, body: "404 Not Found: no such path\n",
			req: "GET /PLAINTEXT HTTP/1.1\r\nHost: a\r\n\r\n",
		},
		{
			name: "HEAD 404 has no body", method: "HEAD", status: 404, body: "",
			req: "HEAD /nope HTTP/1.1\r\nHost: a\r\n\r\n",
		},
		{
			name: "405 on plaintext, body consumed", method: "POST", status: 405,
			body:   "405 Method Not Allowed: method not allowed for this path\n",
			req:    "POST /plaintext HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx",
			header: map[string]string{"Allow": "GET, HEAD", "Connection": ""},
		},
		{
			name: "405 on echo", method: "GET", status: 405,
			body:   "405 Method Not Allowed: method not allowed for this path\n",
			req:    "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n",
			header: map[string]string{"Allow": "POST, PUT"},
		},
		{
			name: "405 for lower-case method", method: "get", status: 405,
			body: "405 Method Not Allowed: method not allowed for this path\n",
			req:  "get /json HTTP/1.1\r\nHost: a\r\n\r\n",
		},
		{
			name: "HEAD refused for bad input has no body", method: "HEAD", status: 400, body: "", closing: true,
			req: "HEAD / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
		},
		{
			name: "417", method: "POST", status: 417, closing: true,
			body: "417 Expectation Failed: only 100-continue can be expected\n",
			req:  "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\nContent-Length: 5\r\n\r\n",
		},
		{
			name: "100-continue with the body already there", method: "POST", status: 200, body: "hello",
			req: "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
		},
	}
	for _, tt := range tests {
		for _, m := range feedModes {
			if m.name != "whole" && strings.Contains(tt.name, "100-continue") {
				// Split delivery makes the body late, so 100 Continue is due; TestContinue.
				continue
			}
			t.Run(tt.name+"/"+m.name, func(t *testing.T) {
				h := newHandler(t, Config{})
				d := conntest.Open(h, "")
				m.feed(d, []byte(tt.req))
				got := readReplies(t, d.C.Output(), []string{tt.method})[0]
				if got.status != tt.status {
					t.Errorf("got status %d; want %d", got.status, tt.status)
				}
				if got.body != tt.body {
					t.Errorf("got body %q; want %q", got.body, tt.body)
				}
				for k, v := range tt.header {
					if g := got.header.Get(k); g != v {
						t.Errorf("got %s %q; want %q", k, g, v)
					}
				}
				if got.header.Get("Server") != "reactor" {
					t.Errorf("got Server %q; want %q", got.header.Get("Server"), "reactor")
				}
				if _, err := http.ParseTime(got.header.Get("Date")); err != nil {
					t.Errorf("got Date %q; want an HTTP date: %v", got.header.Get("Date"), err)
				}
				if d.C.Closed() != tt.closing {
					t.Errorf("got closed %v; want %v", d.C.Closed(), tt.closing)
				}
				if aborted, _ := d.C.Aborted(); aborted {
					t.Errorf("got an aborted connection; want a Close action that flushes")
				}
				if len(d.Tail) != 0 && !tt.closing {
					t.Errorf("got %d unconsumed bytes; want 0", len(d.Tail))
				}
			})
		}
	}
}

// TestHEADHeadersMatchGET: HEAD gets exactly GET's headers, without the body.
func TestHEADHeadersMatchGET(t *testing.T) {
	h := newHandler(t, Config{})
	for _, path := range []string{"/", "/plaintext", "/json"} {
		d := conntest.Open(h, "")
		d.Feed([]byte("GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\nHEAD " + path + " HTTP/1.1\r\nHost: a\r\n\r\n"))
		out := string(d.C.Output())
		get, rest, _ := strings.Cut(out, "\r\n\r\n")
		rest = strings.TrimPrefix(rest, routes[routeIndex(path)].body)
		head, tail, _ := strings.Cut(rest, "\r\n\r\n")
		if get != head || tail != "" {
			t.Errorf("%s: got GET headers %q, HEAD headers %q and %q after them; want equal headers and nothing after", path, get, head, tail)
		}
	}
}

func routeIndex(path string) int {
	for i := range routes {
		if routes[i].path == path {
			return i
		}
	}
	return -1
}

func TestRefusals(t *testing.T) {
	const host = "Host: a\r\n"
	long := strings.Repeat("a", DefaultMaxRequestLine)
	tests := []struct {
		name   string
		req    string
		status int
		reason string
	}{
		{"TLS handshake", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, "invalid method"},
		{"leading CRLF", "\r\nGET / HTTP/1.1\r\n" + host + "\r\n", 400, "invalid method"},
		{"bare LF request line", "GET / HTTP/1.1\n" + host + "\r\n", 400, "line not ended by CRLF"},
		{"bare LF header", "GET / HTTP/1.1\r\nHost: a\n\r\n", 400, "line not ended by CRLF"},
		{"bare LF end", "GET / HTTP/1.1\r\n" + host + "\n", 400, "line not ended by CRLF"},
		{"bare CR in value", "GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400, "invalid header value"},
		{"one field", "GET\r\n\r\n", 400, "invalid method"},
		{"two fields", "GET /\r\n\r\n", 400, "malformed request line"},
		{"double space", "GET  / HTTP/1.1\r\n" + host + "\r\n", 400, "malformed HTTP version"},
		{"HTTP/2.0", "GET / HTTP/2.0\r\n" + host + "\r\n", 505, "only HTTP/1.0 and HTTP/1.1 are served"},
		{"HTTP/1.2", "GET / HTTP/1.2\r\n" + host + "\r\n", 505, "only HTTP/1.0 and HTTP/1.1 are served"},
		{"HTTP/0.9", "GET / HTTP/0.9\r\n" + host + "\r\n", 505, "only HTTP/1.0 and HTTP/1.1 are served"},
		{"PRI", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "only HTTP/1.0 and HTTP/1.1 are served"},
		{"HTTP/1.10", "GET / HTTP/1.10\r\n" + host + "\r\n", 400, "malformed HTTP version"},
		{"lower-case version", "GET / http/1.1\r\n" + host + "\r\n", 400, "malformed HTTP version"},
		{"trailing space", "GET / HTTP/1.1 \r\n" + host + "\r\n", 400, "malformed HTTP version"},
		{"asterisk", "OPTIONS * HTTP/1.1\r\n" + host + "\r\n", 400, "request target must be origin-form or absolute-form"},
		{"authority-form", "CONNECT a:443 HTTP/1.1\r\n" + host + "\r\n", 400, "request target must be origin-form or absolute-form"},
		{"bad escape", "GET /a%zz HTTP/1.1\r\n" + host + "\r\n", 400, "invalid request target"},
		{"cut escape", "GET /a%4 HTTP/1.1\r\n" + host + "\r\n", 400, "invalid request target"},
		{"fragment", "GET /a#b HTTP/1.1\r\n" + host + "\r\n", 400, "invalid request target"},
		{"non-ASCII target", "GET /\xc3\xa9 HTTP/1.1\r\n" + host + "\r\n", 400, "invalid request target"},
		{"control in target", "GET /\x01 HTTP/1.1\r\n" + host + "\r\n", 400, "invalid request target"},
		{"bad absolute host", "GET http://a_b/ HTTP/1.1\r\n" + host + "\r\n", 400, "invalid request target"},
		{"method too long", long + " / HTTP/1.1\r\n", 400, "request line too long"},
		{"target too long", "GET /" + long + " HTTP/1.1\r\n" + host + "\r\n", 414, "request target too long"},
		{"target too long, unfinished", "GET /" + long, 414, "request target too long"},
		{"version part too long", "GET / " + long, 400, "request line too long"},
		{"header block too large", "GET / HTTP/1.1\r\n" + host + "X: " + strings.Repeat("b", DefaultMaxHeaderBytes) + "\r\n\r\n", 431, "header block too large"},
		{"header block too large, unfinished", "GET / HTTP/1.1\r\n" + strings.Repeat("X: b\r\n", DefaultMaxHeaderBytes/6+1), 431, "header block too large"},
		{"obs-fold", "GET / HTTP/1.1\r\n" + host + "X: a\r\n b\r\n\r\n", 400, "folded or indented header line"},
		{"indented first header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, "folded or indented header line"},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "invalid header name"},
		{"no colon", "GET / HTTP/1.1\r\n" + host + "Nonsense\r\n\r\n", 400, "malformed header line"},
		{"empty name", "GET / HTTP/1.1\r\n" + host + ": x\r\n\r\n", 400, "malformed header line"},
		{"control in value", "GET / HTTP/1.1\r\n" + host + "X: a\x00b\r\n\r\n", 400, "invalid header value"},
		{"DEL in value", "GET / HTTP/1.1\r\n" + host + "X: a\x7fb\r\n\r\n", 400, "invalid header value"},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400, "missing Host header"},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, "more than one Host header"},
		{"bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "invalid Host"},
		{"two Content-Lengths", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400, "more than one Content-Length"},
		{"negative Content-Length", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n", 400, "invalid Content-Length"},
		{"plus Content-Length", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: +1\r\n\r\nx", 400, "invalid Content-Length"},
		{"list Content-Length", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 1, 1\r\n\r\nx", 400, "invalid Content-Length"},
		{"empty Content-Length", "POST /echo HTTP/1.1\r\n" + host + "Content-Length:\r\n\r\n", 400, "invalid Content-Length"},
		{"hex Content-Length", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 0x1\r\n\r\nx", 400, "invalid Content-Length"},
		{"CL and TE", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "both Content-Length and Transfer-Encoding"},
		{"TE and CL", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400, "both Content-Length and Transfer-Encoding"},
		{"TE gzip", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\n\r\n", 400, "Transfer-Encoding other than a single chunked"},
		{"TE gzip, chunked", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n", 400, "Transfer-Encoding other than a single chunked"},
		{"TE chunked twice", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "Transfer-Encoding other than a single chunked"},
		{"TE identity", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: identity\r\n\r\n", 400, "Transfer-Encoding other than a single chunked"},
		{"TE on HTTP/1.0", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "Transfer-Encoding in an HTTP/1.0 request"},
		{"Trailer names CL", "POST /echo HTTP/1.1\r\n" + host + "Trailer: X, content-length\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "Trailer names a framing field"},
		{"body too large", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 1048577\r\n\r\n", 413, "request body too large"},
		{"huge Content-Length", "POST /echo HTTP/1.1\r\n" + host + "Content-Length: 99999999999999999999999999\r\n\r\n", 413, "request body too large"},
		{"chunk too large", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n100001\r\n", 413, "request body too large"},
		{"chunk size not hex", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "invalid chunk size"},
		{"chunk size empty", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n;x\r\n", 400, "invalid chunk size"},
		{"chunk size 17 digits", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n00000000000000001\r\nx\r\n0\r\n\r\n", 400, "invalid chunk size"},
		{"space before chunk extension", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n1 ;x\r\nx\r\n0\r\n\r\n", 400, "invalid chunk size"},
		{"control in chunk extension", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n1;\x01\r\nx\r\n0\r\n\r\n", 400, "invalid chunk extension"},
		{"bare LF chunk line", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n", 400, "line not ended by CRLF"},
		{"chunk data too long", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n", 400, "chunk data not followed by CRLF"},
		{"chunk data LF only", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n1\r\nx\n0\r\n\r\n", 400, "chunk data not followed by CRLF"},
		{"chunk line too long", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n1;" + strings.Repeat("e", maxChunkLine), 400, "chunk size line too long"},
		{"chunk overhead", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n" + strings.Repeat("1;"+strings.Repeat("e", 1000)+"\r\nx\r\n", 20), 400, "too much chunk framing for the data"},
		{"bad trailer", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer: x\r\n\r\n", 400, "invalid header name"},
		{"folded trailer", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n", 400, "folded or indented header line"},
		{"trailer too large", "POST /echo HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0\r\nX: " + strings.Repeat("t", DefaultMaxHeaderBytes) + "\r\n\r\n", 431, "trailer section too large"},
		{"Expect oversized", "POST /echo HTTP/1.1\r\n" + host + "Expect: 100-continue\r\nContent-Length: 2000000\r\n\r\n", 413, "request body too large"},
	}
	for _, tt := range tests {
		for _, m := range feedModes {
			t.Run(tt.name+"/"+m.name, func(t *testing.T) {
				h := newHandler(t, Config{})
				d := conntest.Open(h, "")
				m.feed(d, []byte(tt.req))
				got := readReplies(t, d.C.Output(), []string{"GET"})[0]
				if got.status != tt.status {
					t.Errorf("got status %d; want %d", got.status, tt.status)
				}
				want := reasonPhrases[tt.status] + ": " + tt.reason + "\n"
				if got.body != want {
					t.Errorf("got body %q; want %q", got.body, want)
				}
				if c := got.header.Get("Connection"); c != "close" {
					t.Errorf("got Connection %q; want close", c)
				}
				if !d.C.Closed() {
					t.Errorf("got an open connection; want it closed after the refusal")
				}
				if aborted, _ := d.C.Aborted(); aborted {
					t.Errorf("got an aborted connection; want a Close action that flushes")
				}
			})
		}
	}
}

// reasonPhrases are RFC 9110's, written out here rather than taken from the code under test.
var reasonPhrases = map[int]string{
	400: "400 Bad Request",
	413: "413 Content Too Large",
	414: "414 URI Too Long",
	431: "431 Request Header Fields Too Large",
	505: "505 HTTP Version Not Supported",
}

// TestRefusalIsImmediate: garbage and oversized declarations are refused as soon as they are
// recognisable, without waiting for more bytes.
func TestRefusalIsImmediate(t *testing.T) {
	tests := []struct {
		name, req string
		status    int
	}{
		{"binary first byte", "\x00", 400},
		{"oversized Content-Length", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 9999999\r\n\r\n", 413},
		{"unknown path, body awaiting 100", "POST /nope HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n", 404},
		{"wrong method, body awaiting 100", "PUT /json HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 100\r\n\r\n", 405},
		{"expectation failed", "PUT /echo HTTP/1.1\r\nHost: a\r\nExpect: x\r\nContent-Length: 100\r\n\r\n", 417},
		{"bad chunk terminator", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX", 400},
	}
	for _, tt := range tests {
		h := newHandler(t, Config{})
		d := conntest.Open(h, "")
		if a := d.Feed([]byte(tt.req)); a != reactor.Close {
			t.Errorf("%s: got action %v; want close", tt.name, a)
			continue
		}
		if got := readReplies(t, d.C.Output(), []string{"POST"})[0]; got.status != tt.status {
			t.Errorf("%s: got status %d; want %d", tt.name, got.status, tt.status)
		}
	}
}

func TestLimitsConfigurable(t *testing.T) {
	cfg := Config{MaxRequestLine: 64, MaxHeaderBytes: 64, MaxBody: 8}
	tests := []struct {
		name, req string
		status    int
	}{
		{"line at the limit", "GET /" + strings.Repeat("a", 64-len("GET / HTTP/1.1\r\n")) + " HTTP/1.1\r\nHost: a\r\n\r\n", 404},
		{"line over the limit", "GET /" + strings.Repeat("a", 65-len("GET / HTTP/1.1\r\n")) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414},
		{"headers at the limit", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("h", 64-len("Host: a\r\nX: \r\n\r\n")) + "\r\n\r\n", 200},
		{"headers over the limit", "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("h", 65-len("Host: a\r\nX: \r\n\r\n")) + "\r\n\r\n", 431},
		{"body at the limit", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 8\r\n\r\n12345678", 200},
		{"body over the limit", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\n123456789", 413},
		{"chunked at the limit", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n1234\r\n4\r\n5678\r\n0\r\n\r\n", 200},
		{"chunked over the limit", "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n1234\r\n5\r\n56789\r\n0\r\n\r\n", 413},
	}
	for _, tt := range tests {
		for _, m := range feedModes {
			h := newHandler(t, cfg)
			d := conntest.Open(h, "")
			m.feed(d, []byte(tt.req))
			method, _, _ := strings.Cut(tt.req, " ")
			if got := readReplies(t, d.C.Output(), []string{method})[0]; got.status != tt.status {
				t.Errorf("%s/%s: got status %d; want %d", tt.name, m.name, got.status, tt.status)
			}
		}
	}
}

func TestPipelining(t *testing.T) {
	batch := "GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n" +
		"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nfirst" +
		"HEAD /json HTTP/1.1\r\nHost: a\r\n\r\n" +
		"PUT /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsecond\r\n0\r\n\r\n" +
		"GET /json HTTP/1.1\r\nHost: a\r\n\r\n"
	methods := []string{"GET", "POST", "HEAD", "PUT", "GET"}
	bodies := []string{"Hello, World!", "first", "", "second", `{"message":"Hello, World!"}`}
	for _, m := range feedModes {
		t.Run(m.name, func(t *testing.T) {
			h := newHandler(t, Config{})
			d := conntest.Open(h, "")
			m.feed(d, []byte(batch))
			got := readReplies(t, d.C.Output(), methods)
			for i := range got {
				if got[i].status != 200 || got[i].body != bodies[i] {
					t.Errorf("reply %d: got %d %q; want 200 %q", i+1, got[i].status, got[i].body, bodies[i])
				}
			}
			if d.C.Closed() || len(d.Tail) != 0 {
				t.Errorf("got closed %v with %d bytes unconsumed; want open, all consumed", d.C.Closed(), len(d.Tail))
			}
		})
	}
}

// TestPipelineStopsAtClose: requests after one that closes the connection are not answered.
func TestPipelineStopsAtClose(t *testing.T) {
	for _, second := range []string{
		"GET /json HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
		"GET /json HTTP/1.0\r\n\r\n",
		"GET /json HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
	} {
		h := newHandler(t, Config{})
		d := conntest.Open(h, "")
		a := d.Feed([]byte("GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n" + second + "GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n"))
		if a != reactor.Close {
			t.Errorf("%q: got action %v; want close", second, a)
		}
		// readReplies fails on bytes beyond the two replies.
		got := readReplies(t, d.C.Output(), []string{"GET", "GET"})
		if got[1].header.Get("Connection") != "close" {
			t.Errorf("%q: got Connection %q; want close", second, got[1].header.Get("Connection"))
		}
	}
}

func TestContinue(t *testing.T) {
	for _, te := range []bool{false, true} {
		h := newHandler(t, Config{})
		d := conntest.Open(h, "")
		head := "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n"
		body := "hello"
		if te {
			head = "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"
			body = "5\r\nhello\r\n0\r\n\r\n"
		}
		d.FeedBytewise([]byte(head))
		if got := string(d.C.TakeOutput()); got != "HTTP/1.1 100 Continue\r\n\r\n" {
			t.Fatalf("chunked %v: after the header block got %q; want 100 Continue", te, got)
		}
		d.FeedBytewise([]byte(body[:3]))
		if got := d.C.TakeOutput(); len(got) != 0 {
			t.Fatalf("chunked %v: during the body got %q; want nothing (100 Continue is sent once)", te, got)
		}
		d.FeedBytewise([]byte(body[3:]))
		got := readReplies(t, d.C.TakeOutput(), []string{"POST"})[0]
		if got.status != 200 || got.body != "hello" {
			t.Errorf("chunked %v: got %d %q; want 200 %q", te, got.status, got.body, "hello")
		}
		// The next request starts afresh: no 100 Continue without Expect.
		d.Feed([]byte("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n"))
		if got := d.C.TakeOutput(); len(got) != 0 {
			t.Errorf("chunked %v: got %q for a request without Expect; want nothing yet", te, got)
		}
	}
}

// TestNotFoundWaitsForBody: a 404 or 405 to a well-framed request without Expect is sent
// once the body is consumed, and the connection serves the next request.
func TestNotFoundWaitsForBody(t *testing.T) {
	for _, m := range feedModes {
		h := newHandler(t, Config{})
		d := conntest.Open(h, "")
		m.feed(d, []byte("POST /nope HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n01234"))
		if out := d.C.Output(); len(out) != 0 {
			t.Fatalf("%s: got %q before the body was in; want nothing yet", m.name, out)
		}
		m.feed(d, []byte("56789PUT /json HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"))
		m.feed(d, []byte("GET /json HTTP/1.1\r\nHost: a\r\n\r\n"))
		got := readReplies(t, d.C.Output(), []string{"POST", "GET"})
		if got[0].status != 404 || got[1].status != 400 {
			t.Errorf("%s: got statuses %d, %d; want 404, then 400 (TE on HTTP/1.0)", m.name, got[0].status, got[1].status)
		}
		if !d.C.Closed() {
			t.Errorf("%s: got an open connection after the 400; want it closed", m.name)
		}
	}
	h := newHandler(t, Config{})
	d := conntest.Open(h, "")
	d.Feed([]byte("DELETE /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /json HTTP/1.1\r\nHost: a\r\n\r\n"))
	got := readReplies(t, d.C.Output(), []string{"DELETE", "GET"})
	if got[0].status != 405 || got[0].header.Get("Connection") != "keep-alive" || got[1].status != 200 {
		t.Errorf("got %d (Connection %q), %d; want 405 (keep-alive), 200", got[0].status, got[0].header.Get("Connection"), got[1].status)
	}
	if d.C.Closed() {
		t.Errorf("got the connection closed; want it open")
	}
}

// TestContinueNotForNoBody: with no body to wait for, the final reply comes at once.
func TestContinueNotForNoBody(t *testing.T) {
	h := newHandler(t, Config{})
	d := conntest.Open(h, "")
	d.Feed([]byte("GET /plaintext HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n"))
	got := readReplies(t, d.C.Output(), []string{"GET"})[0]
	if got.status != 200 {
		t.Errorf("got status %d; want 200 and no 100 Continue", got.status)
	}
}

// TestLargeEcho drives a body at the default limit through in 64 KiB reads, as a backend would.
func TestLargeEcho(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), DefaultMaxBody/16)
	h := newHandler(t, Config{})
	d := conntest.Open(h, "")
	in := append([]byte("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\n"), body...)
	in = append(in, "GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n"...)
	for len(in) > 0 {
		n := min(64<<10, len(in))
		d.Feed(in[:n])
		in = in[n:]
	}
	got := readReplies(t, d.C.Output(), []string{"POST", "GET"})
	if got[0].status != 200 || got[0].body != string(body) {
		t.Errorf("got status %d and %d body bytes; want 200 and the %d bytes sent", got[0].status, len(got[0].body), len(body))
	}
	if got[1].body != "Hello, World!" {
		t.Errorf("got second body %q; want Hello, World!", got[1].body)
	}
}

// TestWriteFailure: when the connection refuses output (over its outbound limit), the handler
// stops and asks for the close.
func TestWriteFailure(t *testing.T) {
	h := newHandler(t, Config{})
	d := conntest.Open(h, "")
	d.C.MaxOutbound = 100
	a := d.Feed([]byte(strings.Repeat("GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n", 10)))
	if a != reactor.Close {
		t.Errorf("got action %v; want close", a)
	}
	if aborted, cause := d.C.Aborted(); !aborted || cause != reactor.ErrOutboundFull {
		t.Errorf("got aborted %v (%v); want aborted with ErrOutboundFull", aborted, cause)
	}
}

// TestBytewiseIsLinear: a large header block delivered one byte per call is parsed in time
// linear in its size, because the parser resumes where it stopped.
func TestBytewiseIsLinear(t *testing.T) {
	req := []byte("GET /plaintext HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("v", DefaultMaxHeaderBytes-100) + "\r\n\r\n")
	h := newHandler(t, Config{})
	p := newParser(h.lim)
	steps := 0
	for i := 1; i <= len(req); i++ {
		st := p.parse(req[:i])
		steps++
		if st == failed {
			t.Fatalf("failed at byte %d: %v", i, p.err)
		}
		if st == complete && i != len(req) {
			t.Fatalf("complete at byte %d of %d", i, len(req))
		}
	}
	if p.req.end != len(req) {
		t.Errorf("got end %d; want %d", p.req.end, len(req))
	}
	// The proof of linearity is structural (scan only moves forward); time it loosely too.
	start := time.Now()
	d := conntest.Open(h, "")
	d.FeedBytewise(req)
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("bytewise delivery of %d bytes took %v; want it linear", len(req), el)
	}
	if got := readReplies(t, d.C.Output(), []string{"GET"})[0]; got.status != 200 {
		t.Errorf("got status %d; want 200", got.status)
	}
}

func TestDate(t *testing.T) {
	h := newHandler(t, Config{})
	first := string(h.date.Load().date[:])
	when, err := http.ParseTime(first)
	if err != nil {
		t.Fatalf("got Date %q; want an IMF-fixdate: %v", first, err)
	}
	if d := time.Since(when); d < -time.Second || d > 2*time.Second {
		t.Errorf("got Date %q, %v from now; want the current second", first, d)
	}
	if time.Now().UTC().Format(imfFixdate) != first && time.Now().UTC().Add(-time.Second).Format(imfFixdate) != first {
		t.Errorf("got Date %q; want now in IMF-fixdate form", first)
	}
	deadline := time.Now().Add(3 * time.Second)
	for string(h.date.Load().date[:]) == first {
		if time.Now().After(deadline) {
			t.Fatalf("Date still %q after 3s; want it refreshed every second", first)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCloseStopsDateGoroutine(t *testing.T) {
	h := New(Config{})
	h.Close()
	select {
	case <-h.done:
	default:
		t.Fatal("got the Date goroutine still running after Close; want it gone")
	}
	h.Close() // a second Close returns at once
}

func TestOnDataWithoutOnOpen(t *testing.T) {
	h := newHandler(t, Config{})
	c := conntest.NewConn("")
	n, a := h.OnData(c, []byte("GET /json HTTP/1.1\r\nHost: a\r\n\r\nGET"))
	if n != len("GET /json HTTP/1.1\r\nHost: a\r\n\r\n") || a != reactor.None {
		t.Errorf("got (%d, %v); want (%d, none)", n, a, len("GET /json HTTP/1.1\r\nHost: a\r\n\r\n"))
	}
	h.OnClose(c, nil)
	if c.Context() != nil {
		t.Errorf("got context %v after OnClose; want nil", c.Context())
	}
}

// TestExchangeOnlyWhileBusy: a connection holds a parser (an exchange) from a request's first
// byte until no byte of an unanswered request is left, and only a small conn in between. A
// request split across reads keeps its parser, also behind pipelined ones; an exchange put
// back, after an answer or at OnClose, is as fresh as a new one, holding nothing of the
// connection's bytes.
func TestExchangeOnlyWhileBusy(t *testing.T) {
	if n := unsafe.Sizeof(conn{}); n > 24 {
		t.Errorf("conn is %d bytes; want at most 24, what an idle keep-alive connection keeps", n)
	}
	h := newHandler(t, Config{})
	fresh := exchange{p: newParser(h.lim)}
	d := conntest.Open(h, "")
	state := func() *conn { return d.C.Context().(*conn) }
	if ex := state().ex; ex != nil {
		t.Fatalf("got an exchange before any input; want none")
	}

	const get = "GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n"
	post := "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
	d.Feed([]byte(get))
	if ex := state().ex; ex != nil {
		t.Errorf("got an exchange held after a whole request was answered; want it back in the pool")
	}

	// Two whole requests and the first half of a third, then the rest in two reads.
	cut := strings.Index(post, "\r\n\r\n") + 6
	d.Feed([]byte(get + get + post[:cut]))
	ex := state().ex
	if ex == nil || state().phase != waitBody {
		t.Fatalf("got exchange %p in phase %d after half a body; want one, waiting for the body", ex, state().phase)
	}
	d.Feed([]byte(post[cut : cut+1]))
	if state().ex != ex {
		t.Errorf("the request split across reads changed parser: %p, then %p", ex, state().ex)
	}
	d.Feed([]byte(post[cut+1:]))
	if state().ex != nil {
		t.Errorf("got an exchange held once the split request was answered; want none")
	}
	if *ex != fresh {
		t.Errorf("an exchange back in the pool is %+v; want it as new, %+v", *ex, fresh)
	}
	got := readReplies(t, d.C.Output(), []string{"GET", "GET", "GET", "POST"})
	if got[3].status != 200 || got[3].body != "hello" {
		t.Errorf("split request: got %d %q; want 200 hello", got[3].status, got[3].body)
	}

	// Closed with a request half in: OnClose puts its exchange back, reset.
	d.Feed([]byte("GET /plain"))
	ex = state().ex
	if ex == nil {
		t.Fatal("got no exchange with a request line half in")
	}
	d.Close(nil)
	if *ex != fresh {
		t.Errorf("an exchange put back at OnClose is %+v; want it as new, %+v", *ex, fresh)
	}
}
