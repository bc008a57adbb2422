package reactortest

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reactorlab/reactor/protocols/chat"
	"github.com/reactorlab/reactor/protocols/http1"
	"github.com/reactorlab/reactor/reactor"
)

// halfCloseTries is how often each half-close case is repeated: the reply and the peer's FIN
// race inside the backend, and a backend that loses the race does so only some of the time.
const halfCloseTries = 50

// testHalfClose: a peer sends a request whose answer ends the connection and shuts down its
// write side straight after (what nc -N does, and any client that sends its last request and
// its FIN together). The FIN is an orderly end of the peer's input, not an abort: the peer must
// still get everything the server wrote before its close, then a clean end of stream.
func (s *suite) testHalfClose(t *testing.T) {
	h := http1.New(http1.Config{})
	t.Cleanup(h.Close)
	web := s.start(t, reactor.Config{}, h)
	room := s.start(t, reactor.Config{}, chat.New(chat.Config{}))

	const badRequest = "GET/plaintext HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range []struct {
		name  string
		srv   *server
		send  func(try int) string
		check func(got string) string // what is wrong with the bytes received, "" if nothing
	}{
		{"HTTP11ConnectionClose", web,
			func(int) string { return "GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" },
			func(got string) string { return checkResponses(got, 200) }},
		{"HTTP10", web,
			func(int) string { return "GET /plaintext HTTP/1.0\r\n\r\n" },
			func(got string) string { return checkResponses(got, 200) }},
		{"ValidThenRefused", web,
			func(int) string { return getPlaintext + badRequest },
			func(got string) string { return checkResponses(got, 200, 400) }},
		{"ChatQuit", room,
			func(try int) string { return "NAME: hc" + strconv.Itoa(try) + "\n/quit\n" },
			func(got string) string {
				if !strings.HasSuffix(got, "* bye\n") {
					return "want the stream to end with \"* bye\\n\""
				}
				return ""
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failed, example := 0, ""
			for try := 0; try < halfCloseTries; try++ {
				c := tc.srv.dial(t)
				io.WriteString(c, tc.send(try))
				c.CloseWrite()
				c.SetReadDeadline(time.Now().Add(ioTimeout))
				got, err := io.ReadAll(c)
				c.Close()
				problem := tc.check(string(got))
				if problem == "" && err != nil {
					problem = "want a clean end of stream"
				}
				if problem != "" {
					failed++
					if example == "" {
						example = fmt.Sprintf("got %q, %v: %s", got, err, problem)
					}
				}
			}
			if failed > 0 {
				t.Errorf("%d of %d half-closed peers did not get the whole answer; first: %s", failed, halfCloseTries, example)
			}
		})
	}
	t.Run("LateInputAtClose", func(t *testing.T) { testLateInputAtClose(t, web) })
}

// testLateInputAtClose: a peer asks for a reply too big to sit in the socket buffers, ends the
// connection with it, and sends more bytes while the reply is still going out, before its FIN.
// Closing a socket that holds unread input makes the kernel send a reset and throw away what
// it has not sent yet, so a backend that closes without reading the late bytes cuts the reply
// short; one that shuts down its write side and drains the input first delivers all of it.
func testLateInputAtClose(t *testing.T, srv *server) {
	const size = 768 << 10 // well past the loopback socket buffers of a peer that does not read
	body := strings.Repeat("x", size)
	c := srv.dial(t)
	io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: "+
		strconv.Itoa(size)+"\r\n\r\n"+body)
	// Give the server time to read the request and fill the buffers with its reply; were it
	// slower, the late bytes would be read with the request and the test would pass anyway.
	time.Sleep(100 * time.Millisecond)
	io.WriteString(c, "late input the server never asked for\r\n")
	time.Sleep(50 * time.Millisecond)
	c.CloseWrite()
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	got, err := io.ReadAll(c)
	resp, rerr := http.ReadResponse(bufio.NewReader(strings.NewReader(string(got))), &http.Request{Method: "POST"})
	if rerr != nil {
		t.Fatalf("got %d bytes, %v; no response: %v", len(got), err, rerr)
	}
	echoed, berr := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || len(echoed) != size || berr != nil || err != nil {
		t.Errorf("got %d and %d of %d echoed bytes (%v), then %v; want all of them and a clean end", resp.StatusCode, len(echoed), size, berr, err)
	}
}

// checkResponses parses got as complete HTTP responses with the given statuses, the 200s being
// /plaintext's, the last one announcing the close, and nothing after it. It says what is wrong,
// or returns "".
func checkResponses(got string, statuses ...int) string {
	r := bufio.NewReader(strings.NewReader(got))
	for i, want := range statuses {
		resp, err := http.ReadResponse(r, &http.Request{Method: "GET"})
		if err != nil {
			return fmt.Sprintf("response %d of %d: %v", i+1, len(statuses), err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			return fmt.Sprintf("response %d body: %v", i+1, err)
		case resp.StatusCode != want:
			return fmt.Sprintf("response %d is %d; want %d", i+1, resp.StatusCode, want)
		case want == 200 && string(body) != "Hello, World!":
			return fmt.Sprintf("response %d body %q; want %q", i+1, body, "Hello, World!")
		case i == len(statuses)-1 && !resp.Close:
			return fmt.Sprintf("response %d does not announce the close", i+1)
		}
	}
	if rest, _ := io.ReadAll(r); len(rest) > 0 {
		return fmt.Sprintf("%d bytes after the last response", len(rest))
	}
	return ""
}
