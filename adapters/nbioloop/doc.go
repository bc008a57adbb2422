// Package nbioloop runs reactor handlers on nbio (github.com/lesismal/nbio), a non-blocking
// I/O library whose Engine runs N epoll pollers, each a goroutine that serves the connections
// whose descriptor is its index modulo N. The adapter runs nbio edge-triggered, accepts the
// connections itself, and makes each poller the event loop that owns its connections: every
// callback of a connection runs on one poller's goroutine, never two at once. The backend name
// users type is "nbio".
//
// # How nbio's model maps onto the contract
//
//   - Loops and Post (9). nbio cannot run a function on a poller, so each poller gets a
//     control connection: one end of a Unix socket pair, registered with that poller (the
//     pair is made again until its descriptor lands there). Post, AsyncWrite, timers, and
//     hand-overs from other goroutines queue a task and write a byte to the other end; the
//     poller's read event of the control connection runs the queue. Tasks run in the order
//     they were queued; functions posted to a closing connection are dropped, and Post fails
//     with ErrConnClosed once a close or an abort was asked for.
//   - Callbacks (1). The adapter owns the listener: accepted sockets are turned into nbio
//     connections (nbio keeps a duplicate) and registered by a task on their poller, which
//     then runs OnOpen before it can take any event of the connection. nbio's own events
//     include EPOLLRDHUP, on which nbio closes the connection at the peer's end of stream; the
//     adapter replaces that registration at once, from the same goroutine, with edge-triggered
//     input and output only (epoll_ctl MOD on the poller's epoll descriptor, an unexported
//     field of nbio v1.6.8 found by name and kind; another layout makes Start fail with
//     ErrNotSupported). OnClose runs once, on the owner, whatever ended the connection: the
//     adapter's own close, or nbio's (an error or hang-up event, a failed write), which nbio
//     reports on a goroutine of its own and the adapter brings to the owner.
//   - Inbound bytes (2). nbio's OnRead tells the adapter a connection is readable; the owner
//     reads into its poller's read buffer (Config.ReadBufferSize) until EAGAIN — edge-
//     triggered, and a FIN that came with the data raises no edge of its own — and lends each
//     read to OnData. nbio keeps no unconsumed input: the adapter keeps the tail the handler
//     left and presents it again joined with the next read. Input held over (read while paused,
//     salvaged before a hang-up) is presented in pieces of one read at most, as the socket's
//     reads would have been. Past Config.MaxInbound the connection is aborted with
//     ErrInboundFull.
//   - Write (3). nbio's Conn.Write makes a system call per call, so Write copies into a
//     backendkit.Outbound and the owner sends the batch after the callback with one write(2)
//     or writev(2), made under nbio's connection lock so that nbio cannot close the descriptor
//     meanwhile. What the socket does not take is handed to nbio's Write, which keeps it and
//     sends it on EPOLLOUT; while nbio holds output, later batches go to it too, in order.
//   - AsyncWrite (4) and write order (12). Write and AsyncWrite append to the one outbound
//     queue under the connection's mutex, so the socket sees bytes in the order the calls
//     took it; AsyncWrite then queues one flush on the owner (not one per call).
//   - Close and Abort (5). Close is applied on the owner after the callback: the output is
//     flushed, and once nbio reports (OnWrittenSize) that it has sent what it held, the write
//     side is shut down and input discarded until the peer's FIN or 500 ms, so that unread
//     input does not turn the close into a reset that destroys the reply. A peer that takes
//     nothing is cut off by TCP_USER_TIMEOUT (5 s). Abort drops the output (nbio's too), sets
//     SO_LINGER 0 and closes: the peer reads a reset.
//   - Backpressure (6). Output pending in the adapter and in nbio (Buffered) is held against
//     Config.MaxOutbound: a Write past it aborts the connection with ErrOutboundFull. nbio's
//     own limit, MaxWriteBufferSize, is set to the same figure; nbio closes a connection that
//     passes it with ErrOverflow, which OnClose reports as ErrOutboundFull.
//   - Shutdown (7). The listener is closed, dials in flight are cancelled (ErrServerClosed),
//     every connection is closed gracefully with ErrServerClosed, and once all are gone (or
//     ctx ends and the rest are aborted) the engine is stopped: nbio's Stop returns when its
//     pollers have exited.
//   - AfterFunc (10). A time.Timer per call (backendkit.PostedTimers) whose function posts a
//     run of the connection's due timers, in deadline order, to the owner; a state word per
//     timer lets stop report whether it kept f from running. A connection's timers are stopped
//     when it closes.
//   - Flow control (11). PauseRead stops the owner reading the socket: edge-triggered, nbio
//     raises no further event for input already waiting, so nothing spins, and the kernel's
//     window closes. ResumeRead presents the held tail and reads the socket again, from a task.
//     Buffered is an atomic sum, safe from any goroutine; OnDrain is called on the owner when
//     it falls to Config.LowWater from above — nbio's reports of bytes written wake the owner
//     to look.
//   - CloseWrite and HalfCloser. With EPOLLRDHUP out of the registration, a peer's FIN reaches
//     the owner as a read of zero bytes: a HalfCloser gets OnReadEOF (the connection stays
//     open for writing), any other handler a graceful close with io.EOF. CloseWrite flushes,
//     waits for nbio's share to go, then shuts down the write side. nbio still closes on
//     EPOLLHUP and EPOLLERR, which the kernel always reports, right after the read event and
//     whatever the socket holds; so where the adapter would leave input in the socket (a
//     paused connection, a spent read budget) it first polls for a hang-up, and if there is
//     one reads what is left (bounded by the kernel's receive buffer: the peer has finished)
//     and presents it, and the end of stream, before OnClose. A paused connection's socket
//     error is kept (SO_ERROR) for OnClose's cause.
//   - Dial (13). Go's dialer on a goroutine of the adapter's (bounded by Config.DialTimeout
//     and ctx), then the socket is registered, as an accepted one, by its poller — nbio picks
//     the poller by descriptor — and owned by the loop of the connection that dialed: its
//     callbacks run there, never beside the dialer's. Its poller reads it (so that input is
//     taken before nbio acts on a hang-up) and hands the input to the owner as a task, reading
//     ahead of the handler by one buffer at most; the owner asks for more.
//
// # Configuration
//
// Config.Loops → nbio's NPoller; Config.ReadBufferSize → nbio's ReadBufferSize (the poller's
// read buffer the adapter reads into); Config.MaxOutbound → MaxWriteBufferSize as well as the
// adapter's own check. Config.ReusePort sets SO_REUSEPORT on the adapter's listener.
// Config.EdgeTriggered changes nothing: the adapter always runs nbio edge-triggered, as it
// needs (see Callbacks). Info().Unsupported is empty.
//
// nbio logs through one process-wide logger; the adapter routes it to the Config.Logger of
// the backend started last (its start and stop notes at Debug). Linux only: elsewhere New
// fails with reactor.ErrNotSupported.
package nbioloop
