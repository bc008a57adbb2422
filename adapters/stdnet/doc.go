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
//   - The reader goroutine is the connection's owner, so it also runs what Post queues, between
//     reads: a post wakes a reader blocked in Read by setting a read deadline in the past (the
//     Read returns nothing and reading goes on), a paused reader by signalling it, and a
//     reader blocked writing to a peer that does not read by a write deadline in the past: a
//     flusher goroutine takes over the rest of that output while the reader runs the post (a
//     time limit that closes the connection, say). Posted
//     functions run in Post order, then their output is flushed as a callback's is. Write and
//     AsyncWrite bytes are in the connection's one queue the moment the call returns, so what a
//     posted function writes follows every write made before the Post. Post fails with
//     reactor.ErrConnClosed once the connection is closing, and what is still queued then is
//     dropped.
//   - AfterFunc arms a runtime timer whose goroutine only posts to the owner; the owner keeps
//     the connection's timers in a heap by deadline and runs every one that is due, in deadline
//     order, whichever timer's post arrives first. stop removes the timer from the heap, so it
//     reports true for a timer that fired but whose post has not run, and that timer does not
//     run. The timers left are stopped when the reader exits, before OnClose.
//   - PauseRead makes the reader wait instead of calling Read: on Unix in a read that takes no
//     bytes (syscall.RawConn) and asks the socket only for a pending error, so the kernel's
//     receive buffer fills and TCP slows the peer while a reset still ends the connection;
//     the peer's end of stream waits for ResumeRead. Posts and timers still run; ResumeRead lets
//     the reader read again. A Close, Abort or Shutdown wakes a paused reader, which then drains
//     the input and ends as any closing connection does. On Windows the runtime has no wait
//     that takes no bytes and does not spin while bytes wait, so a paused reader sleeps until a
//     post or a close, and sees a reset only when reading resumes or a write fails.
//   - Dial starts a dialer goroutine, which connects with backendkit.DialTCP (bounded by
//     Config.DialTimeout and the context) and then becomes the new connection's reader, exactly
//     as for an accepted one. The connection is the server's from the call on: Shutdown cancels
//     its connecting, the handler then hearing ErrDialFailed wrapping ErrServerClosed. A dial
//     that fails ends the dialer after the handler's OnClose, on that goroutine; the Conn it
//     was given acts as closed. Every connection has a goroutine of its own, a dialed one too,
//     so its callbacks may run while the asker's do (the second case of reactor.Conn.Dial).
//   - CloseWrite refuses further output and, once the queue is empty, shuts the socket's write
//     side down (the peer reads EOF after the last byte): at once when nothing is pending, else
//     by whoever flushes last, the reader after the callback or a flusher goroutine. Reading
//     goes on.
//   - At the peer's end of stream, a handler that is a reactor.HalfCloser gets OnReadEOF on the
//     reader, which from then on reads nothing more and waits as a paused reader does, so that
//     posts, timers and the connection's writes go on until it is closed. The unconsumed input is
//     dropped. Once both directions have ended (a CloseWrite before OnReadEOF, or in or after
//     it), the connection closes, with a nil cause.
//   - Buffered is an atomic copy of the queue's length, updated as bytes are queued and as
//     writes return, so it counts the bytes being written too. OnDrain is posted, when the
//     handler is a reactor.Drainer, by whichever goroutine's write takes the queue from above
//     Config.LowWater to at or below it, and runs on the reader like any post.
//
// Closing: Close flushes, shuts down the write side (the peer sees EOF after the last byte),
// then keeps reading and discarding for up to half a second so unread input does not turn
// the close into a reset that would destroy the reply in flight. The peer's EOF ends only its
// input: a reply still being written when it arrives (the answer to a request that asked for a
// close, an AsyncWrite) is written out before the socket is closed, within the same 5 s bound
// as Close, so a half-closed peer gets everything. Abort closes at once, with SO_LINGER 0 so
// that the peer gets a reset (RST), not an end of stream; so does a write past MaxOutbound.
//
// Costs: one goroutine stack and one read buffer per connection, about 10 KiB idle (measured in
// docs/progression.md: 10.1–10.7 KiB from 1,000 to 9,000 connections); every
// connection is a goroutine the scheduler can run, so this backend uses every core with no
// configuration. Config.Loops does not apply (there is no loop to size) and is ignored;
// EdgeTriggered has no meaning here either, and asking for it fails with
// reactor.ErrNotSupported rather than being silently dropped. ReusePort binds the one listener
// with SO_REUSEPORT, so that several processes can share the port (reactor serve --procs).
package stdnet
