package reactortest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/http1"
	"github.com/reactorlab/reactor/reactor"
)

// badRequests are inputs a strict HTTP/1.1 server must refuse. statuses lists the acceptable
// answers (0: closing without a reply is acceptable too). After the refusal the connection must
// end, and nothing after the bad request may be answered — that is what stops smuggling.
var badRequests = []struct {
	name     string
	req      string
	statuses []int
}{
	{"no space after method", "GET/plaintext HTTP/1.1\r\nHost: x\r\n\r\n", []int{400}},
	{"extra request-line field", "GET /plaintext HTTP/1.1 extra\r\nHost: x\r\n\r\n", []int{400, 505}},
	{"empty method", " /plaintext HTTP/1.1\r\nHost: x\r\n\r\n", []int{400}},
	{"control byte in target", "GET /plain\x01text HTTP/1.1\r\nHost: x\r\n\r\n", []int{400}},
	{"bare LF line endings", "GET /plaintext HTTP/1.1\nHost: x\n\n", []int{400}},
	{"bare LF in headers", "GET /plaintext HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", []int{400}},
	{"space in header name", "GET /plaintext HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", []int{400}},
	{"space before colon", "GET /plaintext HTTP/1.1\r\nHost : x\r\n\r\n", []int{400}},
	{"header without colon", "GET /plaintext HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", []int{400}},
	{"obs-fold", "GET /plaintext HTTP/1.1\r\nHost: x\r\nX: a\r\n  b\r\n\r\n", []int{400}},
	{"control byte in value", "GET /plaintext HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", []int{400}},
	{"two Host headers", "GET /plaintext HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", []int{400}},
	{"duplicate Content-Length", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", []int{400}},
	{"conflicting Content-Length", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", []int{400}},
	{"Content-Length list", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", []int{400}},
	{"negative Content-Length", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", []int{400}},
	{"signed Content-Length", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", []int{400}},
	{"non-numeric Content-Length", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", []int{400}},
	{"huge Content-Length", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", []int{400, 413}},
	{"Content-Length with chunked", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n", []int{400}},
	{"chunked then Content-Length", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", []int{400}},
	{"unknown transfer coding", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", []int{400, 501}},
	{"chunked not last", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", []int{400, 501}},
	{"two Transfer-Encoding headers", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", []int{400}},
	{"bad chunk size", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", []int{400}},
	{"overflowing chunk size", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n", []int{400, 413}},
	{"chunk without CRLF", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", []int{400}},
	{"chunk size bare LF", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", []int{400}},
	{"TLS handshake bytes", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + strings.Repeat("\x00", 40) + "\r\n\r\n", []int{400}},
	{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", []int{400, 505}},
	{"HTTP/0.9", "GET /plaintext\r\n\r\n", []int{400}},
	{"HTTP/1.2", "GET /plaintext HTTP/1.2\r\nHost: x\r\n\r\n", []int{400, 505}},
	{"lower-case version", "GET /plaintext http/1.1\r\nHost: x\r\n\r\n", []int{400}},
	{"unknown Expect", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nExpect: teapot\r\n\r\nx", []int{417}},
}

func (s *suite) testBadHTTP(t *testing.T) {
	h := http1.New(http1.Config{MaxBody: 64 << 10})
	t.Cleanup(h.Close)
	srv := s.start(t, reactor.Config{}, h)

	// A bystander keeps a keep-alive connection through all of it and must be served throughout.
	bystander := srv.dial(t)
	br := bufio.NewReader(bystander)
	askBystander := func(t *testing.T) {
		t.Helper()
		bystander.SetDeadline(time.Now().Add(ioTimeout))
		io.WriteString(bystander, getPlaintext)
		resp, body := readResponse(t, br, "GET")
		checkPlaintext(t, resp, body)
	}

	for _, tc := range badRequests {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			c := srv.dial(t)
			// A good request first: a bad one must not undo what came before it.
			io.WriteString(c, getPlaintext+tc.req+getPlaintext)
			r := bufio.NewReader(c)
			resp, body := readResponse(t, r, "GET")
			checkPlaintext(t, resp, body)
			status, rest := refusal(t, c, r)
			if !containsInt(tc.statuses, status) {
				t.Errorf("answered %d; want one of %v", status, tc.statuses)
			}
			if rest != "" {
				t.Errorf("after the refusal: %q; want the end of the stream (nothing after a bad request is served)", rest)
			}
			askBystander(t)
		})
	}
}

// refusal reads the answer to a bad request: its status (0 when the server just closed) and
// anything that arrived after it before the end of the stream.
func refusal(t *testing.T, c net.Conn, r *bufio.Reader) (int, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	if _, err := r.Peek(1); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("no answer and no close within %v", ioTimeout)
		}
		return 0, ""
	}
	resp, err := http.ReadResponse(r, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatalf("unparseable answer to a bad request: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	if !resp.Close {
		t.Errorf("a %d refusal without Connection: close", resp.StatusCode)
	}
	rest, err := io.ReadAll(r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("connection still open %v after a refusal", ioTimeout)
	}
	return resp.StatusCode, string(rest)
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// testHTTPTenThousandPipelined: 10,000 requests in one write, answered in order while the
// client reads concurrently.
func (s *suite) testHTTPTenThousandPipelined(t *testing.T) {
	h := http1.New(http1.Config{})
	t.Cleanup(h.Close)
	srv := s.start(t, reactor.Config{}, h)
	const n = 10000
	c := srv.dial(t)
	batch := strings.Repeat(getPlaintext, n)
	werr := make(chan error, 1)
	go func() {
		_, err := io.WriteString(c, batch)
		werr <- err
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(r, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatalf("response %d of %d: %v", i, n, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || string(body) != "Hello, World!" {
			t.Fatalf("response %d: %d %q %v", i, resp.StatusCode, body, err)
		}
	}
	if err := <-werr; err != nil {
		t.Fatalf("writing %d pipelined requests: %v", n, err)
	}
}

// testHTTPFaults: peers that half-close, reset mid-response or vanish; none disturbs the server
// or the other connections.
func (s *suite) testHTTPFaults(t *testing.T) {
	h := http1.New(http1.Config{})
	t.Cleanup(h.Close)
	tr := NewOrderChecker(h)
	srv := s.start(t, reactor.Config{}, tr)

	t.Run("HalfCloseAfterRequest", func(t *testing.T) {
		c := srv.dial(t)
		io.WriteString(c, getPlaintext+getPlaintext)
		c.CloseWrite()
		r := bufio.NewReader(c)
		for i := 0; i < 2; i++ {
			resp, body := readResponse(t, r, "GET")
			checkPlaintext(t, resp, body)
		}
		c.SetReadDeadline(time.Now().Add(ioTimeout))
		if rest, err := io.ReadAll(r); len(rest) != 0 || err != nil {
			t.Errorf("after the responses to a half-closed peer: %q, %v; want a clean end", rest, err)
		}
	})
	t.Run("ResetMidResponse", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			c := srv.dial(t)
			// Lots of output in flight, then a reset after reading a little of it.
			io.WriteString(c, strings.Repeat(getPlaintext, 2000))
			readFull(t, c, 100)
			c.SetLinger(0)
			c.Close()
		}
	})
	t.Run("ConnectAndVanish", func(t *testing.T) {
		for i := 0; i < 50; i++ {
			c := srv.dial(t)
			switch i % 3 {
			case 1:
				io.WriteString(c, "GET /plain") // a partial request, then gone
			case 2:
				c.SetLinger(0)
			}
			c.Close()
		}
	})
	t.Run("StillServing", func(t *testing.T) {
		c := srv.dial(t)
		io.WriteString(c, getPlaintext)
		resp, body := readResponse(t, bufio.NewReader(c), "GET")
		checkPlaintext(t, resp, body)
		c.Close()
		// Every connection of the faults above was closed exactly once.
		if !eventually(ioTimeout, func() bool { o, cl := tr.Counts(); return o == cl }) {
			o, cl := tr.Counts()
			t.Errorf("%d connections opened, %d closed; want equal once every peer is gone", o, cl)
		}
		tr.Check(t)
	})
}

// testConnectChurn: 20,000 connect/disconnect cycles in a burst, a tenth of them with a request;
// every connection is opened and closed exactly once and the server keeps serving.
func (s *suite) testConnectChurn(t *testing.T) {
	h := http1.New(http1.Config{})
	t.Cleanup(h.Close)
	tr := NewOrderChecker(h)
	srv := s.start(t, reactor.Config{}, tr)
	const workers, cycles = 8, 20000
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures := 0
	var firstFailure error
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if failures++; firstFailure == nil {
			firstFailure = err
		}
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for i := w; i < cycles; i += workers {
				c, err := net.DialTimeout("tcp", srv.addr, ioTimeout)
				if err != nil {
					fail(err)
					continue
				}
				tc := c.(*net.TCPConn)
				if i%10 == 0 {
					tc.SetDeadline(time.Now().Add(ioTimeout))
					io.WriteString(tc, getPlaintext)
					if n, err := tc.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
						fail(fmt.Errorf("request on connection %d: %q, %v", i, buf[:n], err))
					}
				}
				// Mostly resets, so the client side does not pile up TIME_WAIT sockets.
				if i%5 != 0 {
					tc.SetLinger(0)
				}
				tc.Close()
			}
		}()
	}
	wg.Wait()
	if failures > 0 {
		t.Errorf("%d of %d cycles failed (dial or request); the first: %v", failures, cycles, firstFailure)
	}
	if !eventually(ioTimeout, func() bool { _, cl := tr.Counts(); return cl >= cycles-failures }) {
		o, cl := tr.Counts()
		t.Fatalf("after %d cycles: %d opened, %d closed", cycles, o, cl)
	}
	o, cl := tr.Counts()
	if o != cl {
		t.Errorf("%d opened, %d closed; want equal", o, cl)
	}
	tr.Check(t)
	c := srv.dial(t)
	io.WriteString(c, getPlaintext)
	resp, body := readResponse(t, bufio.NewReader(c), "GET")
	checkPlaintext(t, resp, body)
}
