// Package reactortest is the conformance suite every backend passes. A backend's own test calls
// Run with its constructor:
//
//	func TestConformance(t *testing.T) { reactortest.Run(t, epoll.New) }
//
// Run starts real servers on 127.0.0.1:0 and talks to them over loopback with plain sockets. It
// checks the contract written in package reactor (open/data/close once and in order, lent
// inbound bytes, ordered AsyncWrite, flushing Close, bounded buffers, clean Shutdown with no
// goroutine or descriptor left behind, panics contained) and the three protocols end to end
// (echo, http1, chat). Every wait is bounded, so a broken backend fails instead of hanging.
package reactortest
