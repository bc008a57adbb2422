// Package conformance holds no code: its tests run the conformance suite (reactortest) on the
// epoll package's newer mechanisms — io_uring, thread per connection, busy polling — and its
// subpackage overtls runs every mechanism over TLS. They live apart from package epoll's own
// tests so that `go test ./...` runs them as separate test binaries, side by side with the
// epoll package's rather than after it: on a 2-core CI machine the suite for a dozen shapes of
// one package made the longest test binary by far.
package conformance
