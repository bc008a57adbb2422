// Package reactortest is the conformance suite every backend passes, and the kit that runs a
// protocol's own tests on every backend.
//
// A backend's own test calls Run with its constructor:
//
//	func TestConformance(t *testing.T) { reactortest.Run(t, epoll.New) }
//
// Run starts real servers on 127.0.0.1:0 and talks to them over loopback with plain sockets. It
// checks the contract written in package reactor (open/data/close once and in order, lent
// inbound bytes, ordered AsyncWrite, flushing Close, resetting Abort, half-closes both ways,
// outbound connections made with Dial, bounded buffers, clean Shutdown with no goroutine or
// descriptor left behind, panics contained) and the protocols end to end (echo, http1, chat on
// both its wires, and the proxy, which needs Dial). Every wait is bounded, so a broken backend
// fails instead of hanging. What a backend lists in Info.Unsupported is skipped with the
// reason; a backend whose every connection has a goroutine of its own says so with the
// GoroutinePerConn option:
//
//	func TestConformance(t *testing.T) { reactortest.Run(t, stdnet.New, reactortest.GoroutinePerConn()) }
//
// A protocol's author runs the protocol's tests on every backend with ForEachBackend, serves
// the handler wrapped in an OrderChecker to have the callback order checked too, and uses
// Start, Dial and Stop to start, reach and stop a server (foreach_test.go is a whole example):
//
//	func TestGreeting(t *testing.T) {
//		reactortest.ForEachBackend(t, adapters.Registry(), func(t *testing.T, newBackend reactor.Constructor) {
//			oc := reactortest.NewOrderChecker(myproto.New())
//			b, addr := reactortest.Start(t, newBackend, reactor.Config{}, oc)
//			c := reactortest.Dial(t, addr)
//			… read the greeting from c …
//			reactortest.Stop(t, b) // every OnClose has run once Shutdown returns
//			oc.Check(t)
//		})
//	}
package reactortest
