// Package reactor holds the contracts shared by every protocol and every event-loop backend:
// the Handler a protocol implements, the Conn it writes to, the Backend that runs it, the
// Config that tunes a backend, the sentinel errors, and a Registry of backend constructors.
//
// One protocol layer runs unchanged on every backend. That works because every backend keeps
// the same promises, checked by the conformance suite in package reactortest:
//
//  1. Open, then Data zero or more times, then Close — exactly once each, in that order, per
//     connection, never concurrently for one connection. OnClose runs once whatever ended the
//     connection (peer EOF, reset, error, Close, Shutdown) and is given the cause.
//  2. Inbound bytes are lent, not given. OnData sees every byte received and not yet consumed;
//     the slice is valid only during the call. The handler returns how many bytes it consumed;
//     the backend keeps the rest and presents it again, followed by whatever arrives next.
//  3. Conn.Write from inside the connection's own callbacks is ordered and cheap: the bytes are
//     copied into the connection's outbound buffer and flushed by the backend after the callback,
//     coalescing many small writes into few system calls.
//  4. Conn.AsyncWrite is safe from any goroutine and is the only way to write to a connection
//     from another connection's callback or from a timer. The bytes are copied before it
//     returns, so the caller may reuse them. Write and AsyncWrite share one order: the bytes
//     of every call reach the peer whole and in an order consistent with the order the calls
//     were made (happens-before). So AsyncWrite(x) then Write(y) in a callback sends x then y;
//     an AsyncWrite that returned before a callback learnt of it (through a channel, or
//     because the peer answered the bytes it sent) goes out before what that callback Writes
//     next; AsyncWrites from one goroutine keep their order. Only calls that race, unordered
//     by happens-before, may go out either way round. Protocols with sequence numbers (TLS
//     records) depend on this.
//  5. Conn.Close flushes what was written, then closes. A peer that does not take that output
//     within a few seconds is not waited for: the close becomes an abort. Conn.Abort drops
//     pending output and closes at once; it exists for errors.
//  6. Backpressure is bounded. Output pending for a connection beyond Config.MaxOutbound closes
//     it with ErrOutboundFull (a backend that can pause reading does so first, so a connection's
//     own replies slow its reader instead of piling up). Unconsumed input beyond
//     Config.MaxInbound closes it with ErrInboundFull. Protocols set tighter limits of their own.
//  7. Backend.Shutdown stops accepting, lets written bytes drain, closes every connection
//     (OnClose runs with ErrServerClosed) and returns when all of that is done or its context
//     expires. No goroutine or file descriptor of the backend outlives it.
//  8. Backends report what they are (Info): name, the concurrency model they stand for, whether
//     they run on this operating system, and their limits.
//  9. Conn.Post runs a function on the connection's owner — its loop or its goroutine — from
//     any goroutine, never alongside its callbacks, in Post order, after the writes that
//     happened before it. It is how other goroutines reach the owner-only methods.
//  10. Conn.AfterFunc runs a function on the owner once a duration has passed, never earlier,
//     unless stopped; a connection's timers stop when it closes and never fire after OnClose.
//  11. Flow control: Conn.PauseRead stops reading the socket (no OnData; the kernel's window
//     fills and the server's memory stays flat) until ResumeRead; Conn.Buffered tells the
//     output not yet sent; a Handler that implements Drainer hears OnDrain when that output
//     falls back to Config.LowWater.
//
// Point 4's single write order covers what Post's functions write too. What a backend cannot
// honour it says: gnet built with edge-triggered reads cannot pause them, and its PauseRead
// aborts the connection with ErrNotSupported (see that adapter's documentation).
//
// Callbacks must not block. A backend with event loops serves many connections from one
// goroutine, and a callback that waits stalls every one of them. Slow work (a database query, a
// file, a call to another server) goes to a goroutine of the handler's own; that goroutine sends
// the result with Conn.AsyncWrite and may end the connection with Conn.Close or Conn.Abort, which
// are safe from any goroutine. The callback itself only parses, writes and returns.
//
// To serve, pick a backend (package adapters names them all), embed NopHandler in a handler
// that defines the callbacks the protocol needs, and call Serve; it shuts the backend down
// gracefully when its context is done. Package reactortest runs a protocol's own tests on every
// backend and checks the callback order of point 1.
//
// A handler that panics does not bring the server down: the backend recovers, logs the panic
// once with its stack, and aborts that connection with an error wrapping ErrHandlerPanic.
package reactor
