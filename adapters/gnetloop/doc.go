// Package gnetloop runs reactor handlers on gnet v2 (github.com/panjf2000/gnet/v2), a
// multi-reactor event-loop library: N event loops, each an epoll loop on its own goroutine that
// owns its connections outright. gnet's own acceptor would end the engine when accept runs out
// of descriptors, so the adapter accepts and enrolls each connection with a loop (see
// "Accepting, and the descriptor limit" below).
// The backend name users type is "gnet".
//
// # How gnet's model maps onto the contract
//
//   - Callbacks. gnet calls OnOpen, OnTraffic and OnClose on the connection's loop goroutine, so
//     a connection's handler calls never overlap (contract 1). A gnet OnClose only fires for a
//     connection whose OnOpen ran, and gnet closes every connection when its engine stops, so
//     OnClose runs exactly once; the adapter turns gnet's causes into the contract's (io.EOF for
//     a peer close, ErrServerClosed on Shutdown, the recorded cause after Abort). A connection
//     the adapter took over from gnet at the peer's end of stream (see CloseWrite and
//     HalfCloser) gets its OnClose from the adapter, on the same loop.
//   - Inbound bytes (2). OnData is lent Conn.Peek(-1): gnet's loop-wide read buffer when all the
//     bytes arrived in this read (no copy), or gnet's own copy of its inbound ring joined with the
//     new bytes. The adapter Discards what the handler consumed; gnet keeps the rest in the
//     connection's ring and presents it again. Past Config.MaxInbound the connection is aborted.
//   - Write (3). gnet's Conn.Write issues a write(2) per call, so Conn.Write here copies into a
//     backendkit.Outbound instead and the loop hands the whole batch to gnet once the callback
//     returns (Write for one chunk, Writev for more): one system call per callback however
//     many Writes it made. What the
//     socket does not take, gnet keeps in its outbound buffer and sends on EPOLLOUT.
//   - AsyncWrite (4). gnet's own AsyncWrite keeps a reference to the caller's slice and costs a
//     task per call. The adapter instead copies into a per-connection queue under a mutex and
//     schedules at most one task on the connection's loop (EventLoop.Execute) while bytes are
//     queued; the task moves the whole queue to the socket in one Writev. Order among
//     AsyncWrites is the queue's order. Write and AsyncWrite share one order (contract 4): a
//     Write that finds the queue holding bytes (an atomic flag, so the common case takes no
//     lock) first moves them into the callback's output, ahead of its own bytes, so it never
//     overtakes an AsyncWrite made before it; a close sends the callback's output, then the
//     queue.
//   - Close and Abort (5). Close is applied on the loop between callbacks, so a Close from
//     another goroutine (Shutdown's among them) never cuts a callback's reply in half. It
//     flushes; because gnet's own close gives up on bytes its outbound buffer still holds when
//     the socket is full, the adapter waits (rechecking on a short, growing timer, at most
//     closeLinger) until gnet's buffer is empty before closing. Abort drops queued output, and
//     what gnet's outbound buffer holds, and sets SO_LINGER to 0, so that gnet's close resets
//     the connection (RST) at once.
//   - Backpressure (6). Queued bytes plus gnet's OutboundBuffered, sampled on the loop, are held
//     against Config.MaxOutbound; past it the connection is aborted with ErrOutboundFull. A
//     handler that wants to slow a peer down instead uses PauseRead (below).
//   - Shutdown (7). The adapter's listener is closed first, so no connection arrives; every
//     open connection is closed gracefully with cause ErrServerClosed, and once they are gone
//     (or ctx ends) the engine is stopped through the Engine handed to OnBoot. gnet.Run
//     returns only after all its loop goroutines exited; Shutdown waits for that. Another
//     Shutdown waits for the first, aborting the connections left if its own ctx ends first.
//
// # Contract v2 on gnet
//
//   - Post (9). f joins the AsyncWrite queue's run task: under the same mutex, into a list the
//     task takes together with the queued bytes, which it sends first; the functions then run
//     in order, and the task settles as after a callback (flush, Close applied). Post fails
//     with ErrConnClosed once a close was asked for; functions still queued at the close are
//     dropped, as are the rest of a batch once one of them closes the connection.
//   - AfterFunc (10). gnet has no per-loop timers (EventLoop.Schedule returns
//     ErrUnsupportedOp; OnTick is one per engine), so each timer is a time.Timer
//     (backendkit.PostedTimers), which never fires early, whose function Posts a run to the
//     loop. The run calls, in deadline order,
//     every timer of the connection that is due: time.Timers' goroutines may reach the loop out
//     of order on a busy machine. A state word per timer (pending, fired, stopped, done) lets
//     stop report true also when the timer fired and its run still waits in the queue. A
//     connection's timers are stopped when it closes; stop then reports false.
//   - PauseRead and ResumeRead (11). gnet cannot stop reading one connection, so the adapter
//     rewrites the connection's entry in its loop's epoll set (epoll_ctl MOD on Conn.Fd):
//     input and EPOLLRDHUP out, EPOLLOUT kept while gnet holds output, so writes go on. Errors
//     and hang-ups are still reported, and gnet closes the connection on them. The epoll
//     descriptor is gnet's unexported Poller.fd, reached through its conn and eventloop structs
//     by offsets found with reflect and checked against gnet v2.10.0 (TestInternals); a
//     mismatch aborts the pausing connection with ErrNotSupported rather than guess. In
//     level-triggered mode gnet puts input back into the entry whenever its outbound buffer
//     fills or empties, so the adapter takes it out again after every callback and task while
//     paused; between gnet's emptying and the adapter's next turn gnet may read once
//     (Config.ReadBufferSize), bytes that wait unseen in gnet's inbound buffer. In
//     edge-triggered mode (Config.EdgeTriggered) PauseRead is not supported: gnet's reader
//     re-triggers itself after every full read until the socket is empty, whatever the epoll
//     entry says, so a peer that keeps sending would be read without end; PauseRead aborts the
//     connection with ErrNotSupported instead, and Info().Unsupported says so. ResumeRead restores gnet's own events; input that
//     waited is delivered by a loop task, or by the next read, whichever comes first. The
//     kernel's window fills while paused; the scenarios see the heap stay flat. A peer's FIN
//     goes unnoticed while paused.
//   - Buffered and OnDrain (11). An atomic count of the bytes Written and AsyncWritten and not
//     yet handed to gnet, plus gnet's OutboundBuffered as last sampled on the loop (at every
//     callback's start and after every flush), so Buffered is safe from any goroutine. After
//     every callback and task the loop compares it with Config.LowWater and calls OnDrain when
//     it has fallen to it from above. gnet empties its buffer on EPOLLOUT without a callback,
//     so while the output stays above LowWater a timer looks again: after 1 ms while it
//     shrinks, backing off to 50 ms while the peer reads nothing.
//   - Dial (13). gnet's own client dial (EventLoop.Register with an address) calls net.Dial on
//     gnet's goroutine pool with neither a timeout nor a context, so the adapter dials on a
//     goroutine of its own with backendkit.DialTCP, bounded by Config.DialTimeout and ctx, and
//     hands the socket to the asking connection's loop with that loop's EventLoop.Enroll, as
//     accepted connections are handed: gnet opens it on that loop, so the two connections'
//     callbacks never overlap. Its addresses are the socket's; TCP_NODELAY is set, as Go sets
//     it on every TCP connection. A dial that fails reaches the handler's OnClose through a
//     task on the same loop (EventLoop.Execute), with backendkit's DialError; OnOpen is never
//     called. Shutdown cancels the dials in flight (their cause ErrServerClosed; a connection
//     made meanwhile is turned away by OnOpen) and waits for every answer before it stops the
//     engine; dialed connections that opened are closed and drained like accepted ones.
//   - CloseWrite and HalfCloser. CloseWrite sends, after the callback, what was written before
//     it (AsyncWrites queued before it included), then shutdown(SHUT_WR) on the socket once
//     gnet's outbound buffer is empty; gnet says nothing when it empties, so until then a timer
//     looks again (1 ms while it shrinks, backing off to 50 ms). Writes after it fail with
//     ErrConnClosed; input goes on. gnet itself has no half-close: it reads the peer's end of
//     stream (a read of zero bytes, or EPOLLRDHUP) and closes the connection on the spot, its
//     OnClose the first the adapter hears of it, and its close then writes only what the socket
//     takes at once of the output it holds. Where the contract wants the connection to live on
//     — a HalfCloser's, output still to send (which the contract flushes before the close),
//     input a paused handler has not seen, in gnet's buffer or still in the kernel (epoll
//     reports the hang-up of a paused socket whose two directions are shut without gnet
//     reading it; the adapter reads it, a read buffer at a time, as the handler takes it; a
//     reset, told by its pending socket error, closes as before) — the adapter takes it over
//     in that OnClose: it
//     duplicates the descriptor, moves gnet's outbound buffer into its own (reached as
//     PauseRead reaches the epoll descriptor) and lets gnet close its descriptor. The
//     connection stays on its loop (its writes, posts and timers are loop tasks as before) and
//     the adapter writes to the socket itself with writev; the socket is in no epoll set any
//     more, so output the socket does not take waits for the same retry timer, and a peer's
//     reset is learnt at the next write. The handler then gets OnReadEOF (guarded like every
//     callback; a paused one gets it, after the input that waited, once it resumes) and may
//     go on writing until it closes, returns Close or calls CloseWrite (then the connection
//     closes, OnClose with a nil cause); a handler that is no HalfCloser has its output sent,
//     then OnClose with io.EOF. Shutdown closes detached connections like any other; if the
//     engine stops on its own, they are closed once its loops have exited.
//
// # Stats
//
// Config.Stats is kept with a shard per gnet loop (gnet does not number its loops; each takes
// the next shard when it first makes a connection), with the meaning reactor.Stats gives every
// counter. gnet reads and writes by itself and tells the adapter of neither, so the bytes are
// counted by difference, on the loop, and nothing is counted twice:
//   - Received: at every OnTraffic (gnet calls it after every read, paused or not), what gnet's
//     inbound buffer holds less what the adapter left in it.
//   - Sent: the bytes handed to gnet, less the growth of its outbound buffer, each time the
//     adapter looks at that buffer (every callback and task, every hand-over); a connection
//     taken over at the peer's end of stream counts its own writev the same way.
//   - Buffered: the adapter's queue plus gnet's outbound buffer as last looked at, the sum of
//     Conn.Buffered over the open connections. gnet sends on EPOLLOUT without a callback, so
//     while counting, a connection whose output gnet holds is looked at again on the drain
//     timer: Sent and Buffered lag the kernel by at most that timer's period (1 ms while the
//     output shrinks, up to 50 ms while the peer reads nothing), and are exact once it ran.
//   - At a close, what gnet still holds is written as gnet's own close would (what the socket
//     takes at once; the adapter makes that write in OnClose so that it is counted) and the
//     rest is dropped: off Buffered, not Sent. An Abort drops gnet's output at once.
//   - AcceptErrors counts the adapter's failed accepts and the accepted connections no loop
//     could take (a failed enrollment), not those turned away by Shutdown.
//
// # Accepting, and the descriptor limit
//
// gnet's own acceptor ends the whole engine, and every connection with it, on any accept error
// it does not know, EMFILE and ENFILE included. The adapter therefore owns the listener
// (net.Listen, so SO_REUSEADDR is set and a restart binds at once past the sockets of
// connections open at the stop; bind errors name the address). One goroutine accepts and
// enrolls each connection with a loop, round-robin (gnet's Engine.Register, which runs
// EventLoop.Enroll on gnet's goroutine pool; gnet keeps a duplicate of the socket), with at
// most 64 enrollments in flight, every one of them answered before Shutdown goes on. When
// accept runs out of descriptors the connection stays queued in the kernel and the goroutine
// backs off, 5 ms doubling to 1 s, while the loops serve the connections they have; once
// descriptors are free the queued connections are served. The warning is logged at most once
// a second. gnet's Engine accepts Register and Stop only when it has a listener of its own, so
// gnet gets a Unix socket whose name is removed as soon as it is bound: no client can reach it.
//
// # Configuration
//
// Config.Loops → gnet.WithNumEventLoop; connections are dealt round-robin to the loops
// (gnet.WithLoadBalancing(gnet.RoundRobin)). Config.ReusePort sets SO_REUSEPORT on the
// adapter's one listener, so that other servers (reactor serve --procs) can share the port.
// Config.EdgeTriggered → gnet.WithEdgeTriggeredIO. Config.ReadBufferSize →
// gnet.WithReadBufferCap (gnet rounds it up to a power of two). TCP_NODELAY is set on every
// connection (Go sets it on what the listener accepts). Every option of reactor.Config is
// honoured, so Info().Unsupported names no option; it names the contract point gnet cannot
// keep under one of them, "PauseRead with EdgeTriggered" (see Flow control). Start returns once gnet's loops run: the engine's
// ticker (gnet.WithTicker) fires first right after they started, and that first tick is the
// signal.
//
// # Process-wide state and limits
//
// gnet keeps one default logger for the whole process; the adapter installs cfg.Logger through
// gnet.WithLogger, so with two gnet servers in one process the one started last receives gnet's
// package-level messages. gnet's goroutine pool, which enrolls each connection, is process-wide:
// the package replaces it as it loads with the same pool whose idle workers exit after 1 s
// instead of 10 s, so that a stopped server's workers are gone soon after Shutdown.
// Linux only: the adapter is built for Linux; elsewhere New fails with reactor.ErrNotSupported.
package gnetloop
