// Package netpoller runs reactor handlers on cloudwego/netpoll (github.com/cloudwego/netpoll),
// whose model is epoll pollers plus a goroutine pool: a few process-wide poller goroutines
// read every readable connection into a nocopy LinkBuffer, and each connection's handler runs
// on a pooled goroutine, one at a time per connection. The backend name users type is
// "netpoll".
//
// # How netpoll's model maps onto the contract
//
//   - Callbacks (contract 1). OnOpen runs in netpoll's OnConnect, OnData in its OnRequest and
//     OnClose in a close callback; netpoll runs them serially for a connection (its processing
//     lock) and calls the close callback once, after the last OnRequest. netpoll hangs up on a
//     peer that sends and half-closes before OnConnect ran, and then never runs OnConnect; the
//     adapter serves such a connection from the close callback (the descriptor is still open
//     there), so every accepted connection gets Open, its Data and Close.
//   - Inbound bytes (2). OnData is lent Reader.Peek of the buffered input (no copy when it
//     sits in one buffer node). netpoll requires every byte to be taken from the Reader on each
//     call — it calls OnRequest again at once while input remains — so the adapter always
//     Skips and Releases all of it and carries what the handler left unconsumed in a buffer of
//     its own, presented again joined with the next input. netpoll's poller reads a connection
//     whenever input arrives, with reads that double up to 8 MiB; the adapter bounds it to a
//     read window of 64 KiB: it cuts each read to fit, the read-all after a FIN included
//     (wrapping the Inputs and InputAck of the connection's FDOperator, exported fields
//     netpoll's poller calls around a read) and, once netpoll holds a full window the handler
//     has yet to take, has the poller stop watching the socket for input (the registration
//     change PauseRead makes) until the adapter has taken it. A peer that outruns its handler
//     meets TCP's flow control, as on a backend that reads only what it handles. The input is
//     shown in windows of 64 KiB, and between windows the output is sent.
//   - Write (3). Bytes go to a backendkit.Outbound under the connection's mutex and are sent when
//     the callback returns with one non-blocking writev on the descriptor.
//   - AsyncWrite (4). From any goroutine: queued under the same mutex, then one non-blocking
//     writev. Write and AsyncWrite share that one queue, so their bytes go out in the order
//     the calls took the mutex, which is consistent with happens-before (contract 4). Concurrent writers are serialized by the mutex; what the socket does not take
//     goes to a flusher goroutine (at most one per connection, while output is pending) that
//     blocks on a duplicate of the descriptor in Go's runtime poller. netpoll's Writer.Flush is
//     not used: it waits on a one-slot signal that its poller can fill twice for one drain, so a
//     later Flush may return while the poller still sends, which showed as stalled output under
//     chat broadcast load. The adapter uses netpoll for accepting, reading and scheduling.
//   - Close and Abort (5). Close flushes (through the flusher if need be) and then closes the
//     netpoll connection; a Close from another goroutine waits for the running callback to end,
//     so it never cuts a reply in half. Abort drops the queue and sets SO_LINGER 0 first, so
//     that the close resets the connection (the peer reads ECONNRESET).
//   - CloseWrite and HalfCloser. CloseWrite refuses later writes and shuts down the sending
//     half (shutdown with SHUT_WR) once the queue is empty: at the end of the turn, or when the
//     flusher has sent the rest. netpoll takes a peer's end of stream for the end of the
//     connection: the poller read that meets it detaches the connection and calls its
//     FDOperator's OnHup, which closes it. For a HalfCloser the adapter puts an OnHup of its own
//     in the operator (an exported field; the operator is found as for PauseRead): on an
//     orderly end of stream — told from a reset by the socket's state, CLOSE-WAIT — it keeps
//     the connection, delivers OnReadEOF on the owner after the input that came before, and
//     registers the descriptor with the poller again for errors alone, so that a later reset
//     still closes the connection (OnClose with the error). Writing goes on as before: the
//     adapter writes to the descriptor itself. A reset, and the hang-up that a closing
//     connection waits for, go to netpoll's own OnHup. Once CloseWrite has sent its FIN, a
//     reset and the peer's FIN end the socket alike (the poller's read took the error), so both
//     are delivered as the end of stream.
//   - Backpressure (6). Queued bytes above Config.MaxOutbound abort the connection with
//     ErrOutboundFull. A connection's own replies pace its reader: while the flusher holds more
//     than half the limit, the connection's goroutine waits before the next input window. The
//     read window is widened meanwhile to Config.MaxInbound, and the waiting goroutine watches
//     netpoll's buffered input and aborts with ErrInboundFull past it (a peer that sends but
//     never reads, whose timers — run by that goroutine — would otherwise never fire).
//   - Shutdown (7). New connections are closed in OnPrepare, open ones closed gracefully with
//     ErrServerClosed; once all are gone (or ctx ends and they are aborted) the event loop is shut
//     down, which closes the listener. netpoll's Shutdown is ignored if it lands before Serve
//     registered the listener, so it is repeated until Serve has returned. Shutdown returns when
//     every close callback ran; netpoll closes each descriptor in a callback of its own right
//     after, on its pool goroutine, so the descriptors are gone a moment later. Another
//     Shutdown waits for the first, aborting the connections left if its own ctx ends first.
//   - Post (9). The owner is whoever holds the connection's busy flag: a netpoll task running a
//     callback, or a runner goroutine of the adapter's. Posted functions join a FIFO under the
//     connection's mutex; the owner runs them at the end of its turn (settle), after the
//     callback's output is sent, each one followed by a send. Post to a connection with no
//     callback running starts a runner goroutine that takes the owner, runs the queue and exits;
//     f never runs on the poster's goroutine, which may be another connection's callback or hold
//     locks f needs. A netpoll task that finds a runner owning the connection waits for it, and
//     the close callback waits too, so OnClose never overlaps a posted function. An abort made
//     while the owner is busy leaves netpoll's Close to the end of the turn. Queued functions are
//     dropped once the connection is closing; Post then fails with reactor.ErrConnClosed.
//   - AfterFunc (10). One time.Timer per call, whose goroutine only posts a turn; the turn runs
//     every due timer of the connection, earliest deadline first, from a per-connection heap —
//     timer goroutines run in no particular order, so a later timer's post may come first. A
//     per-timer state word (armed, posted, done) lets stop report whether it kept f from running
//     even after the timer fired. The close stops and drops every timer before OnClose.
//   - Outbound connections (13). Dial connects on a goroutine of the adapter's with Go's
//     dialer, bounded by Config.DialTimeout and ctx, and hands a duplicate of the descriptor to
//     netpoll (NewFDConnection), which then reads and schedules it like an accepted connection.
//     The goroutine owns the new connection until OnOpen has returned; netpoll registers the
//     descriptor at once, so the goroutine holds its poller off the connection (the operator's
//     own busy flag, as netpoll's Reader.Release does) while it hooks in, and serves a hang-up
//     the poller saw before as the HalfCloser hook would. netpoll's own client is not used: its
//     DialConnection takes no context, and its connect reports a refusal, or a peer's FIN that
//     arrives before the poller noticed the connect, as "connection has been closed by peer",
//     losing the cause. netpoll has no loop per connection: a dialed connection's callbacks
//     never overlap each other, but may run in parallel with those of the connection that
//     dialed. Dialed connections are the server's: Shutdown cancels the dials in flight (OnClose
//     with ErrDialFailed and ErrServerClosed) and closes dialed connections as accepted ones.
//   - Write order (12). Write, AsyncWrite and writes inside posted functions append to the one
//     outbound queue at the moment they are made, so the socket sees them in that order.
//   - Flow control (11). Buffered is an atomic copy of the queue's length, updated under the
//     mutex wherever the queue changes. When it falls to Config.LowWater or below after having
//     been above, OnDrain is posted to the owner (usually by the flusher, which sees the fall).
//     PauseRead makes netpoll's poller stop reading the socket: netpoll has no such switch, so
//     the adapter rewrites the connection's epoll registration (epoll_ctl MOD, events EPOLLERR
//     only, the data netpoll's poller expects) using the poller's epoll descriptor, which it
//     finds in netpoll v0.7.2's unexported structs through a layout checked by reflect
//     (internals_linux.go; TestNetpollLayout). The kernel's receive buffer then fills and the
//     peer's window closes. Input netpoll had read before the pause took effect is held,
//     unpresented, in the adapter's carry-over; ResumeRead restores netpoll's registration
//     (level-triggered, so waiting input wakes the poller) and the held input is presented at
//     the end of the current turn, before what follows. While paused a peer's FIN goes
//     unnoticed (EPOLLRDHUP is off with EPOLLIN); a reset still closes the connection.
//     What netpoll read before the pause took effect is bounded by the read window: a pause
//     holds at most what the handler left of its input plus 64 KiB. (The same holds while
//     the window is full.) At the peer's end of stream a HalfCloser's input that the poller
//     left in the kernel is read by the adapter a window at a time, as the handler takes it,
//     before OnReadEOF.
//
// # Configuration and what netpoll cannot do
//
// Config.Loops sets netpoll's poller count (netpoll.Configure PollerNum). Its default is
// GOMAXPROCS/20+1 — one poller on most machines — which is why the adapter sets it. Pollers
// are process-wide: every netpoll server in the process shares them, so the first server
// started in a process sets the count and later ones share those pollers (growing them while
// a server accepts races inside netpoll; shrinking would close pollers other servers'
// connections live on; a later server that asks for more says so in its log). The adapter
// never stops them; they are not the backend's goroutines and outlive Shutdown, and a test that
// counts goroutines takes its baseline after a first netpoll server ran. netpoll's logger is
// process-wide too: the adapter routes it to the Config.Logger of the backend started last.
// Connections are spread over the pollers round-robin (netpoll's RoundRobin load balancing).
//
// Config.ReusePort binds the listener with SO_REUSEPORT and hands it to netpoll, so that other
// processes can share the port (reactor serve --procs); netpoll still has one listener.
//
// A connection that closes while netpoll accepts it (a client's reset at once, under load)
// stays in netpoll v0.7.2's map of its server's connections, closed, until the server ends:
// netpoll adds the callback that removes it only after registering the connection. The adapter
// has closed and forgotten it, and its descriptor is closed; what stays is netpoll's connection
// object.
// Shutdown does not wait on that map (it waits for the adapter's own connections), so such an
// entry cannot hold it up.
//
// Unsupported, and refused by New with reactor.ErrNotSupported: EdgeTriggered (netpoll reads
// level-triggered, with no switch) and ReadBufferSize
// (netpoll sizes each read itself, and its buffer size is a process-wide setting meant for
// init time).
//
// Linux only: the adapter is built for Linux; elsewhere New fails with
// reactor.ErrNotSupported.
package netpoller
