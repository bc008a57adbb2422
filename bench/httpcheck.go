package bench

import "bytes"

// plaintextBody is what GET /plaintext must answer.
var plaintextBody = []byte("Hello, World!")

// plaintextRequest is the request every HTTP load generator sends.
const plaintextRequest = "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

// closeRequest is the close scenario's one request per connection.
const closeRequest = "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"

// maxResponseHead bounds a response's status line and headers; past it the stream is declared
// malformed instead of buffering without end.
const maxResponseHead = 8 << 10

// checkResponse looks for one complete HTTP/1.x response at the start of buf and validates it
// as the answer to GET /plaintext: status 200, a Content-Length, the exact body. It returns the
// response's length and errKind(-1) when it is right; the length and an error kind when it is
// complete but wrong (the stream stays in step); 0 and -1 when more bytes are needed; and -1 and
// errMalformed when the stream cannot be followed any more. It never allocates: the load
// generator calls it once per response, on the core next to the server's.
func checkResponse(buf []byte) (n int, kind errKind) {
	end := bytes.Index(buf, crlfcrlf)
	if end < 0 {
		if len(buf) > maxResponseHead {
			return -1, errMalformed
		}
		return 0, -1
	}
	head := buf[:end]
	line, rest := cutLine(head)
	if len(line) < 12 || !bytes.HasPrefix(line, http11) && !bytes.HasPrefix(line, http10) || line[8] != ' ' {
		return -1, errMalformed
	}
	status := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return -1, errMalformed
		}
		status = status*10 + int(c-'0')
	}
	length := -1
	for len(rest) > 0 {
		line, rest = cutLine(rest)
		switch {
		case hasPrefixFold(line, "content-length:"):
			v := bytes.TrimSpace(line[len("content-length:"):])
			if len(v) == 0 || len(v) > 9 {
				return -1, errMalformed
			}
			length = 0
			for _, c := range v {
				if c < '0' || c > '9' {
					return -1, errMalformed
				}
				length = length*10 + int(c-'0')
			}
		case hasPrefixFold(line, "transfer-encoding:"):
			// /plaintext is answered with a length; a chunked answer is not what a
			// minimal server should send, and following it is beyond this checker.
			return -1, errMalformed
		}
	}
	if length < 0 {
		if status == 204 || status == 304 {
			length = 0
		} else {
			return -1, errMalformed
		}
	}
	total := end + len(crlfcrlf) + length
	if len(buf) < total {
		return 0, -1
	}
	if status != 200 {
		return total, errStatus
	}
	if !bytes.Equal(buf[end+len(crlfcrlf):total], plaintextBody) {
		return total, errBody
	}
	return total, -1
}

var (
	crlfcrlf = []byte("\r\n\r\n")
	http11   = []byte("HTTP/1.1")
	http10   = []byte("HTTP/1.0")
)

// cutLine splits b at the first CRLF.
func cutLine(b []byte) (line, rest []byte) {
	if i := bytes.Index(b, crlf); i >= 0 {
		return b[:i], b[i+2:]
	}
	return b, nil
}

var crlf = []byte("\r\n")

// hasPrefixFold reports whether b starts with the lower-case ASCII prefix p, ignoring case.
func hasPrefixFold(b []byte, p string) bool {
	if len(b) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}
