// Package gnetloop runs reactor handlers on gnet v2 (github.com/panjf2000/gnet/v2), a
// multi-reactor event-loop library: one main reactor accepts and hands each connection to one
// of N event loops, each an epoll loop on its own goroutine that owns its connections outright.
// The backend name users type is "gnet".
//
// # How gnet's model maps onto the contract
//
//   - Callbacks. gnet calls OnOpen, OnTraffic and OnClose on the connection's loop goroutine, so
//     a connection's handler calls never overlap (contract 1). A gnet OnClose only fires for a
//     connection whose OnOpen ran, and gnet closes every connection when its engine stops, so
//     OnClose runs exactly once; the adapter turns gnet's causes into the contract's (io.EOF for
//     a peer close, ErrServerClosed on Shutdown, the recorded cause after Abort).
//   - Inbound bytes (2). OnData is lent Conn.Peek(-1): gnet's loop-wide read buffer when all the
//     bytes arrived in this read (no copy), or gnet's own copy of its inbound ring joined with the
//     new bytes. The adapter Discards what the handler consumed; gnet keeps the rest in the
//     connection's ring and presents it again. Past Config.MaxInbound the connection is aborted.
//   - Write (3). gnet's Conn.Write issues a write(2) per call, so Conn.Write here copies into a
//     reactor.Outbound instead and the loop hands the whole batch to gnet once the callback
//     returns (Write for one chunk, Writev for more): one system call per callback however
//     many Writes it made. What the
//     socket does not take, gnet keeps in its outbound buffer and sends on EPOLLOUT.
//   - AsyncWrite (4). gnet's own AsyncWrite keeps a reference to the caller's slice and costs a
//     task per call. The adapter instead copies into a per-connection queue under a mutex and
//     schedules at most one task on the connection's loop (EventLoop.Execute) while bytes are
//     queued; the task moves the whole queue to the socket in one Writev. Order among
//     AsyncWrites is the queue's order.
//   - Close and Abort (5). Close is applied on the loop between callbacks, so a Close from
//     another goroutine (Shutdown's among them) never cuts a callback's reply in half. It
//     flushes; because gnet's own close gives up on bytes its outbound buffer still holds when
//     the socket is full, the adapter waits (rechecking on a short, growing timer, at most
//     closeLinger) until gnet's buffer is empty before closing. Abort drops queued output and
//     sets SO_LINGER to 0 so the close resets the connection.
//   - Backpressure (6). Queued bytes plus gnet's OutboundBuffered, sampled on the loop, are held
//     against Config.MaxOutbound; past it the connection is aborted with ErrOutboundFull. gnet
//     cannot pause reading a connection, so the limit closes rather than pauses.
//   - Shutdown (7). New connections are closed as they arrive (gnet cannot stop accepting
//     without stopping the engine), every open connection is closed gracefully with cause
//     ErrServerClosed, and once they are gone (or ctx ends) the engine is stopped through the
//     Engine handed to OnBoot. gnet.Run returns only after all its loop goroutines exited;
//     Shutdown waits for that.
//
// # Configuration
//
// Config.Loops → gnet.WithNumEventLoop; connections are spread round-robin
// (gnet.WithLoadBalancing(gnet.RoundRobin)), or, with Config.ReusePort, by the kernel across one
// SO_REUSEPORT listener per loop (gnet.WithReusePort: each loop accepts for itself and no main
// reactor exists). Config.EdgeTriggered → gnet.WithEdgeTriggeredIO. Config.ReadBufferSize →
// gnet.WithReadBufferCap (gnet rounds it up to a power of two). TCP_NODELAY is set on every
// connection. Every option of reactor.Config is honoured, so Info().Unsupported is empty.
//
// Port 0: gnet binds the configured address once per listener, so with ReusePort and port 0
// every loop would get a different kernel-chosen port. The adapter therefore reserves a port
// first with a bound (not listening) SO_REUSEPORT socket, hands gnet that port, and closes the
// placeholder once gnet's first listener holds it. The bound address is read from a duplicate
// of gnet's listener descriptor (Engine.Dup) in OnBoot. Start returns once gnet's loops run:
// the engine's ticker (gnet.WithTicker) fires first right after they started, and that first
// tick is the signal.
//
// # Process-wide state and limits
//
// gnet keeps one default logger for the whole process; the adapter installs cfg.Logger through
// gnet.WithLogger, so with two gnet servers in one process the one started last receives gnet's
// package-level messages. gnet's goroutine pool (used only for client connections, which this
// adapter does not make) is created when the package loads and is not counted as the backend's.
// Linux only: the adapter is built for Linux; elsewhere New fails with reactor.ErrNotSupported.
package gnetloop
