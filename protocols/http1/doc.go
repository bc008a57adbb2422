// Package http1 is a minimal but honest HTTP/1.1 responder written as a reactor.Handler, so it
// runs unchanged on every backend.
//
// It serves four routes:
//
//	GET|HEAD /plaintext  200 text/plain        Hello, World!
//	GET|HEAD /json       200 application/json  {"message":"Hello, World!"}
//	POST|PUT /echo       200 the request body, with the request's Content-Type
//	GET|HEAD /           200 a short text index of the routes
//
// It works purely on the inbound bytes the backend lends it: every complete request is
// parsed in place and answered, an incomplete one is left unconsumed, and a small parser
// state kept while a request is in progress makes requests that trickle in one byte at a
// time cost linear time. That state is pooled: an idle keep-alive connection holds none, only
// its place for the time limits. Keep-alive is the default on HTTP/1.1 and on request on HTTP/1.0; pipelined requests
// are answered in order; HEAD gets GET's headers without the body; Expect: 100-continue is
// answered before the body is sent. Every reply carries Date (refreshed once a second by a
// goroutine of the Handler, never formatted per request) and Server: reactor.
//
// The parser is deliberately strict, because the ways parsers disagree are how requests get
// smuggled: it never accepts a request that net/http.ReadRequest would refuse (a fuzz test
// holds it to that), and it refuses more — bare LF line endings, obs-fold, duplicate
// Content-Length, Content-Length with Transfer-Encoding, any transfer coding but a single
// "chunked", Transfer-Encoding on HTTP/1.0, a missing or repeated Host. Every refusal is a
// 4xx or 5xx reply with a one-line text body naming the problem. Refusals of bad input (400,
// 413, 414, 417, 431, 505) close the connection after the reply, since where the next request
// starts can no longer be trusted; 404 and 405 answer well-formed requests and keep it. The
// bounds on the request line, header block and body are set in Config.
//
// Config also sets the time limits: an idle keep-alive connection is closed quietly, and a
// request whose head or body is too slow to arrive gets 408 Request Timeout and a close. Each
// connection keeps them with one timer (reactor.Conn.AfterFunc) that requests never touch, so
// they cost the request path a clock read per batch of input, not a timer per request.
//
// In steady state, answering pipelined requests allocates nothing.
package http1
