// Package stdnet is the reactor backend on the standard net package: one goroutine per
// connection, blocking reads, the Go runtime's netpoller underneath. It is the thread-per-
// connection model of the classic progression (ThreadingMixIn) with goroutines in place of
// threads, which makes it the coroutine model too: code that reads as blocking, scheduled by
// the runtime on an epoll loop the program never sees.
//
// What runs where:
//   - One accept goroutine takes connections from the listener and starts a reader goroutine
//     for each. It exits when the listener is closed by Shutdown.
//   - The reader goroutine owns the connection's callbacks: OnOpen, then OnData after each read,
//     then OnClose when it exits. It reads into a buffer of its own (4 KiB, grown towards
//     Config.ReadBufferSize while reads fill it), which also holds the unconsumed tail between
//     calls, so nothing is copied except to move that tail to the front. It exits when the
//     socket is closed or fails.
//   - Output written by a callback is flushed by the reader itself right after the callback,
//     with one writev for everything pending. A peer that reads slowly therefore blocks only
//     its own reader — TCP backpressure, the simplest there is.
//   - AsyncWrite from another goroutine queues a copy and, when nobody is flushing, starts a
//     short-lived flusher goroutine that writes until the queue is empty and then exits. While
//     a flusher works, the reader stops reading once the queue passes half of MaxOutbound.
//     Write and AsyncWrite append to the same queue under the connection's mutex, so their
//     bytes go out in the order the calls were made (reactor's contract point 4).
//
// Closing: Close flushes, shuts down the write side (the peer sees EOF after the last byte),
// then keeps reading and discarding for up to half a second so unread input does not turn
// the close into a reset that would destroy the reply in flight. The peer's EOF ends only its
// input: a reply still being written when it arrives (the answer to a request that asked for a
// close, an AsyncWrite) is written out before the socket is closed, within the same 5 s bound
// as Close, so a half-closed peer gets everything. Abort closes at once.
//
// Costs: one goroutine stack and one read buffer per connection, roughly 8 KB idle; every
// connection is a goroutine the scheduler can run, so this backend uses every core with no
// configuration. Config.Loops does not apply (there is no loop to size) and is ignored;
// EdgeTriggered has no meaning here either, and asking for it fails with
// reactor.ErrNotSupported rather than being silently dropped. ReusePort binds the one listener
// with SO_REUSEPORT, so that several processes can share the port (reactor serve --procs).
package stdnet
