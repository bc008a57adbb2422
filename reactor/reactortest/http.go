package reactortest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/http1"
	"github.com/reactorlab/reactor/reactor"
)

const getPlaintext = "GET /plaintext HTTP/1.1\r\nHost: localhost\r\nUser-Agent: conformance\r\nAccept: */*\r\n\r\n"

func (s *suite) testHTTP(t *testing.T) {
	h := http1.New(http1.Config{MaxBody: 64 << 10})
	t.Cleanup(h.Close)
	srv := s.start(t, reactor.Config{}, h)
	t.Run("PipelinedBytewise", func(t *testing.T) { testHTTPPipelinedBytewise(t, srv) })
	t.Run("KeepAlive", func(t *testing.T) { testHTTPKeepAlive(t, srv) })
	t.Run("HTTP10Closes", func(t *testing.T) { testHTTP10(t, srv) })
	t.Run("Head", func(t *testing.T) { testHTTPHead(t, srv) })
	t.Run("EchoBody", func(t *testing.T) { testHTTPEchoBody(t, srv) })
	t.Run("Errors", func(t *testing.T) { testHTTPErrors(t, srv) })
}

// readResponse parses one response with net/http, which plays the independent client here.
func readResponse(t *testing.T, r *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(r, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading a response body: %v", err)
	}
	resp.Body.Close()
	return resp, string(body)
}

func checkPlaintext(t *testing.T, resp *http.Response, body string) {
	t.Helper()
	if resp.StatusCode != 200 || body != "Hello, World!" {
		t.Fatalf("got %d %q; want 200 %q", resp.StatusCode, body, "Hello, World!")
	}
	if resp.Header.Get("Date") == "" || resp.Header.Get("Server") == "" {
		t.Fatalf("response headers %v lack Date or Server", resp.Header)
	}
}

// testHTTPPipelinedBytewise: 100 pipelined requests written one byte per write; 100 correct
// responses in order, on the same connection.
func testHTTPPipelinedBytewise(t *testing.T, srv *server) {
	const n = 100
	c := srv.dial(t)
	c.SetNoDelay(true)
	go func() {
		// Ends after the last byte, or when the connection fails.
		all := strings.Repeat(getPlaintext, n)
		for i := 0; i < len(all); i++ {
			if _, err := c.Write([]byte{all[i]}); err != nil {
				return
			}
		}
	}()
	r := bufio.NewReader(c)
	for i := 0; i < n; i++ {
		resp, body := readResponse(t, r, "GET")
		checkPlaintext(t, resp, body)
	}
}

func testHTTPKeepAlive(t *testing.T, srv *server) {
	c := srv.dial(t)
	r := bufio.NewReader(c)
	for i, path := range []string{"/plaintext", "/json", "/plaintext"} {
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := readResponse(t, r, "GET")
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("request %d on one connection: %d, close=%v; want 200 kept alive", i, resp.StatusCode, resp.Close)
		}
		if path == "/json" && body != `{"message":"Hello, World!"}` {
			t.Fatalf("/json body = %q", body)
		}
	}
	// Connection: close is honoured: the reply says so and the server ends the stream.
	io.WriteString(c, "GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, body := readResponse(t, r, "GET")
	checkPlaintext(t, resp, body)
	if !resp.Close {
		t.Errorf("reply to Connection: close lacks Connection: close")
	}
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	if rest, _ := io.ReadAll(r); len(rest) != 0 {
		t.Errorf("%q after the last response; want the end of the stream", rest)
	}
}

func testHTTP10(t *testing.T, srv *server) {
	c := srv.dial(t)
	io.WriteString(c, "GET /plaintext HTTP/1.0\r\n\r\n")
	r := bufio.NewReader(c)
	resp, body := readResponse(t, r, "GET")
	checkPlaintext(t, resp, body)
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	if rest, err := io.ReadAll(r); len(rest) != 0 || err != nil {
		t.Errorf("HTTP/1.0 without keep-alive: %q, %v after the response; want a clean end", rest, err)
	}
	// With keep-alive asked, the connection stays for a second request.
	c2 := srv.dial(t)
	r2 := bufio.NewReader(c2)
	for i := 0; i < 2; i++ {
		io.WriteString(c2, "GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		resp, body := readResponse(t, r2, "GET")
		checkPlaintext(t, resp, body)
	}
}

func testHTTPHead(t *testing.T, srv *server) {
	c := srv.dial(t)
	r := bufio.NewReader(c)
	// A body after HEAD's headers would be taken for the start of the next response.
	io.WriteString(c, "HEAD /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"+getPlaintext)
	resp, body := readResponse(t, r, "HEAD")
	if resp.StatusCode != 200 || body != "" || resp.ContentLength != 13 {
		t.Fatalf("HEAD: %d, body %q, length %d; want 200, no body, Content-Length 13", resp.StatusCode, body, resp.ContentLength)
	}
	resp, body = readResponse(t, r, "GET")
	checkPlaintext(t, resp, body)
}

func testHTTPEchoBody(t *testing.T, srv *server) {
	c := srv.dial(t)
	r := bufio.NewReader(c)
	io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world")
	if resp, body := readResponse(t, r, "POST"); resp.StatusCode != 200 || body != "hello world" {
		t.Fatalf("POST /echo with Content-Length: %d %q; want 200 %q", resp.StatusCode, body, "hello world")
	}
	io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
	if resp, body := readResponse(t, r, "POST"); resp.StatusCode != 200 || body != "hello world" {
		t.Fatalf("POST /echo chunked: %d %q; want 200 %q", resp.StatusCode, body, "hello world")
	}
	// Expect: 100-continue gets the interim reply before the body is sent.
	io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("after Expect: 100-continue: %q, %v; want HTTP/1.1 100 Continue", line, err)
	}
	if blank, _ := r.ReadString('\n'); blank != "\r\n" {
		t.Fatalf("100 Continue not followed by an empty line: %q", blank)
	}
	io.WriteString(c, "ping")
	if resp, body := readResponse(t, r, "POST"); resp.StatusCode != 200 || body != "ping" {
		t.Fatalf("body after 100 Continue: %d %q; want 200 %q", resp.StatusCode, body, "ping")
	}
}

// testHTTPErrors: each kind of bad or unroutable request gets its status; 4xx/5xx for bad
// input close the connection cleanly, 404 and 405 keep it.
func testHTTPErrors(t *testing.T, srv *server) {
	for _, tc := range []struct {
		name, req string
		status    int
		closes    bool
	}{
		{"not found", "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404, false},
		{"method not allowed", "DELETE /plaintext HTTP/1.1\r\nHost: x\r\n\r\n", 405, false},
		{"garbage", "GARBAGE\r\n\r\n", 400, true},
		{"bad header name", "GET /plaintext HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", 400, true},
		{"missing host", "GET /plaintext HTTP/1.1\r\n\r\n", 400, true},
		{"body too large", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n", 413, true},
		{"uri too long", "GET /" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, true},
		{"headers too large", "GET /plaintext HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 20000) + "\r\n\r\n", 431, true},
		{"version not supported", "GET /plaintext HTTP/2.0\r\nHost: x\r\n\r\n", 505, true},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			c := srv.dial(t)
			io.WriteString(c, tc.req)
			r := bufio.NewReader(c)
			resp, _ := readResponse(t, r, "GET")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d; want %d", resp.StatusCode, tc.status)
			}
			if tc.closes {
				if !resp.Close {
					t.Errorf("error reply lacks Connection: close")
				}
				c.SetReadDeadline(time.Now().Add(ioTimeout))
				rest, err := io.ReadAll(r)
				var ne net.Error
				if len(rest) != 0 || errors.As(err, &ne) && ne.Timeout() {
					t.Errorf("after the error reply: %q, %v; want the end of the stream", rest, err)
				}
				return
			}
			// The connection is still good for a normal request.
			io.WriteString(c, getPlaintext)
			resp, body := readResponse(t, r, "GET")
			checkPlaintext(t, resp, body)
		})
	}
}
