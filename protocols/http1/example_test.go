package http1_test

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/reactorlab/reactor/protocols/http1"
	"github.com/reactorlab/reactor/reactor/conntest"
)

// Two pipelined requests, the second split across two reads, driven through an in-memory
// connection as a backend would drive them.
func Example() {
	h := http1.New(http1.Config{})
	defer h.Close()

	d := conntest.Open(h, "")
	d.Feed([]byte("GET /plaintext HTTP/1.1\r\nHost: example.com\r\n\r\nGET /json HT"))
	d.Feed([]byte("TP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"))

	// The Date header changes every second: show a placeholder. Lines end in CRLF on the
	// wire; print them with plain newlines.
	out := regexp.MustCompile(`Date: [^\r]*`).ReplaceAll(d.C.Output(), []byte("Date: <now>"))
	fmt.Println(strings.ReplaceAll(string(out), "\r\n", "\n"))
	fmt.Println("closed:", d.C.Closed())
	// Output:
	// HTTP/1.1 200 OK
	// Server: reactor
	// Content-Type: text/plain
	// Content-Length: 13
	// Date: <now>
	//
	// Hello, World!HTTP/1.1 200 OK
	// Server: reactor
	// Content-Type: application/json
	// Content-Length: 27
	// Date: <now>
	// Connection: close
	//
	// {"message":"Hello, World!"}
	// closed: true
}
