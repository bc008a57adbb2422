// Package overtls holds no code: its tests run the conformance suite's protocol scenarios over
// TLS (reactortest.OverTLS) on every mechanism of the epoll package, as a test binary of its
// own, so that `go test ./...` runs it beside the others rather than after them.
package overtls
