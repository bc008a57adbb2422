package http1

import (
	"strconv"
	"sync"

	"github.com/reactorlab/reactor/reactor"
)

// route is one path the Handler serves.
type route struct {
	id    int // index in routes
	path  string
	allow string // the methods it accepts, for 405's Allow header
	echo  bool   // POST|PUT: reply with the request body
	// For fixed replies: everything up to and including Content-Length, and the body.
	head string
	body string
}

const indexBody = "reactor http1 routes:\n" +
	"  GET|HEAD /plaintext  Hello, World! as text/plain\n" +
	"  GET|HEAD /json       {\"message\":\"Hello, World!\"} as application/json\n" +
	"  POST|PUT /echo       the request body, with its Content-Type\n"

var routes = [...]route{
	fixed("/", "text/plain; charset=utf-8", indexBody),
	fixed("/plaintext", "text/plain", "Hello, World!"),
	fixed("/json", "application/json", `{"message":"Hello, World!"}`),
	{path: "/echo", allow: "POST, PUT", echo: true},
}

func init() {
	for i := range routes {
		routes[i].id = i
	}
}

func fixed(path, contentType, body string) route {
	return route{
		path:  path,
		allow: "GET, HEAD",
		head: "HTTP/1.1 200 OK\r\nServer: reactor\r\nContent-Type: " + contentType +
			"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n",
		body: body,
	}
}

// resolve finds the route for a request whose header block is complete. It refuses
// expectations other than 100-continue (417), unknown paths (404) and methods the path does
// not take (405; the route is returned for its Allow header). The query never takes part.
func resolve(r *request, buf []byte) (*route, *refusal) {
	if r.expectOther {
		return nil, errExpectation
	}
	path := buf[r.pathStart:r.pathEnd]
	var rt *route
	for i := range routes {
		// An absolute-form target may have an empty path, which means "/".
		if string(path) == routes[i].path || len(path) == 0 && routes[i].path == "/" {
			rt = &routes[i]
			break
		}
	}
	if rt == nil {
		return nil, errNotFound
	}
	ok := r.method == methodGET || r.method == methodHEAD
	if rt.echo {
		ok = r.method == methodPOST || r.method == methodPUT
	}
	if !ok {
		return rt, errMethodNotAllowed
	}
	return rt, nil
}

// Output sizes: replies are gathered in one pooled buffer per OnData call and handed to
// Conn.Write once, or when the buffer passes flushAt. Bodies of at least directAt bytes go to
// Conn.Write straight from the inbound bytes instead of being copied twice. Buffers that grew
// past keepCap are left to the garbage collector rather than pinned in the pool.
const (
	flushAt  = 32 << 10
	directAt = 4 << 10
	keepCap  = 64 << 10
)

var outPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 4<<10)
	return &b
}}

// writer gathers the replies of one OnData call. It lives on OnData's stack; its buffer
// comes from outPool on the first write and goes back in flush, so an idle connection holds
// no output buffer.
type writer struct {
	c    reactor.Conn
	h    *Handler
	bp   *[]byte
	b    []byte
	date *dated // loaded at the first reply of the call
	err  error
}

func (w *writer) grab() {
	if w.bp == nil {
		w.bp = outPool.Get().(*[]byte)
		w.b = (*w.bp)[:0]
	}
}

func (w *writer) raw(s string) {
	w.grab()
	w.b = append(w.b, s...)
}

// body appends p, or writes it directly when it is large.
func (w *writer) body(p []byte) {
	if len(p) < directAt {
		w.b = append(w.b, p...)
		return
	}
	w.send()
	if w.err == nil {
		_, w.err = w.c.Write(p)
	}
}

// send hands what is gathered to the connection, keeping the buffer.
func (w *writer) send() {
	if len(w.b) > 0 && w.err == nil {
		_, w.err = w.c.Write(w.b)
	}
	w.b = w.b[:0]
}

// flush sends what is left and returns the buffer to the pool.
func (w *writer) flush() {
	if w.bp == nil {
		return
	}
	w.send()
	if cap(w.b) <= keepCap {
		*w.bp = w.b
		outPool.Put(w.bp)
	}
	w.bp, w.b = nil, nil
}

// common appends the headers every reply carries: Date and Connection (Server is in the
// fixed part), and the empty line.
func (w *writer) common(minor int, keep bool) {
	if w.date == nil {
		w.date = w.h.date.Load()
	}
	w.b = append(w.b, "Date: "...)
	w.b = append(w.b, w.date.date[:]...)
	switch {
	case !keep:
		w.b = append(w.b, "\r\nConnection: close\r\n\r\n"...)
	case minor == 0:
		w.b = append(w.b, "\r\nConnection: keep-alive\r\n\r\n"...)
	default:
		w.b = append(w.b, "\r\n\r\n"...)
	}
}

// respond writes the 200 reply to a complete request that resolve accepted; buf starts at the
// request's first byte.
func (w *writer) respond(rt *route, r *request, buf []byte, keep bool) {
	w.grab()
	head := r.method == methodHEAD
	if w.date == nil {
		w.date = w.h.date.Load()
	}
	if n := w.date.n[rt.id]; n > 0 && !head && keep && r.minor == 1 {
		// The common case, a keep-alive GET: the reply of this second, whole.
		w.b = append(w.b, w.date.reply[rt.id][:n]...)
	} else if !rt.echo {
		w.b = append(w.b, rt.head...)
		w.common(r.minor, keep)
		if !head {
			w.b = append(w.b, rt.body...)
		}
	} else {
		w.b = append(w.b, "HTTP/1.1 200 OK\r\nServer: reactor\r\nContent-Type: "...)
		if r.ctypeEnd > 0 {
			// Safe to echo: the parser let no control byte (CR, LF) into a field value.
			w.b = append(w.b, buf[r.ctypeStart:r.ctypeEnd]...)
		} else {
			w.b = append(w.b, "application/octet-stream"...)
		}
		w.b = append(w.b, "\r\nContent-Length: "...)
		w.b = strconv.AppendInt(w.b, r.bodyLen, 10)
		w.b = append(w.b, "\r\n"...)
		w.common(r.minor, keep)
		switch {
		case r.chunked:
			it := chunkIter{buf: buf, pos: r.bodyStart}
			for p := it.next(); p != nil && w.err == nil; p = it.next() {
				w.body(p)
			}
		default:
			w.body(buf[r.bodyStart : r.bodyStart+int(r.bodyLen)])
		}
	}
	if len(w.b) >= flushAt {
		w.send()
	}
}

// refuse writes the reply to a request that cannot be served: its status and a short text
// body naming the problem (none for HEAD). rt, when not nil, gives the Allow header of a 405.
// keep is false, and the reply says Connection: close, for every refusal but a 404 or 405 to
// a well-framed request: after bad input, where the next request begins cannot be trusted.
func (w *writer) refuse(e *refusal, head bool, rt *route, minor int, keep bool) {
	w.h.counts.refusal(e.status)
	w.grab()
	text := statusText(e.status)
	w.b = append(w.b, "HTTP/1.1 "...)
	w.b = strconv.AppendInt(w.b, int64(e.status), 10)
	w.b = append(w.b, ' ')
	w.b = append(w.b, text...)
	w.b = append(w.b, "\r\nServer: reactor\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	// The body: "400 Bad Request: reason\n".
	w.b = strconv.AppendInt(w.b, int64(3+1+len(text)+2+len(e.reason)+1), 10)
	w.b = append(w.b, "\r\n"...)
	if e.status == 405 && rt != nil {
		w.b = append(w.b, "Allow: "...)
		w.b = append(w.b, rt.allow...)
		w.b = append(w.b, "\r\n"...)
	}
	w.common(minor, keep)
	if !head {
		w.b = strconv.AppendInt(w.b, int64(e.status), 10)
		w.b = append(w.b, ' ')
		w.b = append(w.b, text...)
		w.b = append(w.b, ": "...)
		w.b = append(w.b, e.reason...)
		w.b = append(w.b, '\n')
	}
}
