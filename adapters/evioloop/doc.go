// Package evioloop is the reactor backend on github.com/tidwall/evio (v1.0.8): a fixed set of
// epoll event loops, level-triggered, whose callbacks return the bytes to send instead of
// writing them. It stands for the epoll reactor of the classic progression as a library offers
// it, next to the hand-written one in adapters/epoll.
//
// # Who accepts
//
// The adapter, not evio. evio accepts inside its loops, and any accept error but EAGAIN (EMFILE
// when descriptors run out) ends the loop and with it the whole server, every connection
// closed; evio has no hook to change that nor to take a connection accepted elsewhere. So:
//
//   - The adapter owns the public listener (net.Listen, or SO_REUSEPORT with Config.ReusePort)
//     and one goroutine accepts from it with raw accept4, sleeping in Go's poller while none
//     arrive. At the descriptor limit it waits and retries, 5 ms doubling to 1 s, and warns at
//     most once a second (internal/backoff); the connections wait in the kernel's queue, the
//     ones already served carry on, and the waiting ones are served once descriptors are free.
//   - evio serves only a private Unix socket in a fresh temporary directory. At Start the
//     adapter dials it once per loop (evio's LeastConnections balancing gives each loop one)
//     and removes its name, so nothing else can reach evio. evio's end of each of these
//     connections is that loop's doorbell: the handler never sees one, nor does Shutdown wait
//     for them to drain.
//   - Each accepted socket (TCP_NODELAY set, and its local address read when the listener is a
//     wildcard) is queued for the next loop in turn and that loop's doorbell rung with evio's
//     Wake. On the loop, in the doorbell's Data call, the adapter does what evio's own accept
//     would: a new evio connection {fd, peer address, loop} goes into the loop's table, its
//     epoll set (read and write) and its count. evio then opens it like any other and calls
//     Opened. Local and remote addresses are the TCP ones.
//
// Per connection that is accept4, setsockopt and, with a wildcard listener, getsockname on
// the accept goroutine, then one epoll_ctl on the loop, plus the eventfd write and read of a
// Wake, shared by the connections queued together. evio's own accept spent accept, two fcntl
// and epoll_ctl on the loop, and the adapter setsockopt and getsockname after it.
//
// # How evio's model maps onto the contract
//
//   - Config.Loops is evio's NumLoops; accepted connections go to the loops round-robin.
//   - Open → Data → Close: evio's Opened, Data and Closed callbacks run on the connection's
//     loop and call OnOpen, OnData and OnClose. evio gives Closed a nil error both for the
//     peer's FIN and for closes the adapter asked for; the adapter tells them apart and reports
//     io.EOF, nil, or the cause it recorded (ErrServerClosed, ErrOutboundFull, …).
//   - Lent input: the adapter asks for ReuseInputBuffer, so OnData sees evio's loop buffer with
//     no copy. evio keeps nothing between calls; the adapter keeps the unconsumed tail per
//     connection and presents tail and new bytes together. Past Config.MaxInbound unconsumed
//     bytes the connection is aborted with ErrInboundFull.
//   - Write collects the callback's output in a per-connection buffer that is returned to evio
//     when the callback ends; evio copies it and writes it when the socket is writable.
//   - AsyncWrite appends to a queue under a mutex and calls evio's Conn.Wake, which makes the
//     loop call Data with no input; the adapter then hands the whole queue over. evio replaces
//     (it does not append to) the output it still holds with what a wake returns, so the
//     adapter hands over nothing while evio holds bytes: it looks at evio's buffer (see below)
//     and, if it is not empty, waits for evio's PreWrite callback, which fires before each of
//     evio's writes and is the only sign evio gives that output moves; PreWrite wakes the
//     waiting connections again. No byte is lost and order is kept. Write and AsyncWrite
//     share one order (contract 4): a Write that finds the queue holding bytes (a flag it
//     reads anyway) first appends them to the callback's output, ahead of its own; evio holds
//     no output while a callback that may Write runs, so that is safe. A read takes the queue
//     before the handler sees the input, for the same reason.
//   - Close flushes then closes, lingering: the adapter hands over the last output without
//     evio.Close (evio closes as soon as it has written, and a socket closed with input unread,
//     or that receives input after it is closed, is reset, which drops the end of the reply
//     the kernel has not sent yet). Once evio holds nothing, the adapter shuts the write side
//     down (the peer sees EOF) and evio goes on reading, the input dropped, until the peer's
//     FIN closes the connection or 500 ms pass and evio is told to close. A flush that makes
//     no progress for 2 s (closeStall: the peer does not read) is given up and the connection
//     aborted, with the cause the close was asked with; evio alone would keep trying for ever.
//   - Abort, and the limits: the connection is reset, as the contract asks. On the loop the
//     adapter sets a zero linger, so that evio's close sends RST (the peer's read fails with
//     ECONNRESET); drops the output evio holds, which evio would otherwise write before it
//     acts on Close, for ever if the peer never reads; and shuts the socket's read side down,
//     which sends nothing but makes it readable, so that evio gets an event to act on even
//     from a peer that neither reads nor sends. (Shutting the write side down would send FIN
//     ahead of the reset, and the peer would read a clean end of stream.)
//   - Backpressure: evio does not read a connection while it holds output for it, so a peer
//     that does not read its replies stops being read. The adapter's own buffers are bounded
//     by Config.MaxOutbound each (the callback's output and the AsyncWrite queue); evio holds
//     at most one earlier hand-off besides. A connection past the mark is aborted with
//     ErrOutboundFull, so a silent peer costs at most about twice MaxOutbound plus the kernel's
//     socket buffer, and never delays the others.
//   - Shutdown: evio stops only when a callback returns evio.Shutdown. Shutdown therefore
//     (1) closes the public listener, so nothing new arrives, and refuses what was accepted
//     but not yet opened, (2) asks every connection to flush and close with ErrServerClosed,
//     (3) waits for that or for ctx, (4) rings the doorbells, whose Data call now returns
//     evio.Shutdown: evio stops all loops and closes what is left, calling Closed (reported as
//     ErrServerClosed), closes its pollers and private listener, and Serve returns. evio's Tick
//     is not used: its ticker goroutine outlives the server and then writes to a closed,
//     perhaps reused, descriptor. No goroutine or descriptor of the backend is left when
//     Shutdown returns. Another Shutdown waits for the first, aborting the connections left if
//     its own ctx ends first.
//
// # Contract v2: posted functions, timers, flow control
//
//   - Post appends f to a queue under the same lock as AsyncWrite's and wakes the loop the same
//     way (evio's Wake, then a Data call with no input). The functions run on the loop as that
//     call, or a read's, ends: after the callback, in Post order, after the bytes of every
//     AsyncWrite made before the Post. What they Write goes out in order: handed to evio at once
//     when evio holds nothing, otherwise put back in front of the AsyncWrite queue until
//     PreWrite's wake. Once the connection is closing Post fails with ErrConnClosed; queued
//     functions are dropped.
//   - AfterFunc is a time.AfterFunc (evio's Tick is per server, see Shutdown); its goroutine
//     posts one run of every due timer of the connection, which runs them in deadline order,
//     since timer goroutines may be scheduled out of order under load. A state word per timer
//     (armed, fired, done) makes stop exact while the run is posted; close stops them all.
//   - Buffered is the AsyncWrite queue, the callback's output and what evio held when the loop
//     last looked (evio's private out field), kept in an atomic. evio reports no write, so a
//     call that finds evio holding bytes wakes the loop to look again.
//   - OnDrain: a Drainer's connection whose pending output rose above Config.LowWater is woken
//     at each of evio's writes (PreWrite) until it falls to LowWater or below, then OnDrain runs
//     on the loop.
//   - PauseRead really stops reading: the socket's events in the loop's epoll set become 0, so
//     the kernel's window fills and the heap stays flat (measured: 2 KiB while the peer pushed
//     3.8 MB). evio turns reading back on by itself after Opened and after every write that
//     empties its buffer, and reads on any event of a connection holding no output, so the
//     adapter re-applies the pause after each of evio's writes (the paused connection is woken
//     by PreWrite, and the wake runs before the events of the next epoll_wait); against an event
//     already collected with that wake it clears evio's private opened flag, so evio calls
//     Opened for it, which the adapter answers with an action evio does not know (it then skips
//     its ModRead), instead of reading. Errors and hang-ups are still reported with events 0 and
//     close the connection. A read evio makes regardless is kept for ResumeRead, which sets
//     reading back on and presents it first.
//
// # Contract v2: outbound connections and half-closes
//
//   - Dial: evio has no client side, so the connecting is done off the loop. Dial checks the
//     address and returns; a goroutine connects with the standard library (bounded by
//     Config.DialTimeout and the context), takes a duplicate of the socket's descriptor
//     (close-on-exec, non-blocking, TCP_NODELAY as for accepted sockets) and closes the
//     net.TCPConn, then queues the socket for the asking connection's loop and rings that
//     loop's doorbell, as the acceptor does. The loop enrolls it with evio, which opens it
//     there: the new connection's callbacks and the asking one's run on the same goroutine,
//     never at the same time. Its addresses are the TCP ones, as the dial saw them.
//   - A dial that fails (refused, timed out, cancelled) is reported on that loop too: the
//     doorbell's Data call calls the handler's OnClose with the DialError, and OnOpen never
//     runs. Only when the loop has stopped does the dialling goroutine call OnClose itself,
//     with a cause wrapping ErrServerClosed.
//   - Shutdown cancels the dials in flight (their cause wraps ErrServerClosed) and waits for
//     their goroutines; a socket that connected all the same is refused by the loop, and its
//     handler told likewise. Dialled connections are the server's like accepted ones: drained,
//     then closed with ErrServerClosed.
//   - CloseWrite refuses writes from the call on (Write and AsyncWrite answer ErrConnClosed)
//     and, as the callback ends, hands evio what is queued, as a close's flush does; once evio
//     holds nothing, the adapter shuts the write side down (shutdown(SHUT_WR)): the peer reads
//     end of stream, and the connection goes on reading. Without HalfCloser, the peer's end of
//     stream then closes it, with io.EOF, as always.
//   - HalfCloser: evio closes a connection the moment a read returns 0, before any callback,
//     so a handler could never write after the peer's end of stream. For a handler that is a
//     reactor.HalfCloser the adapter therefore reads the socket itself: whenever evio holds no
//     output for the connection, its opened flag is cleared (as for PauseRead), so that evio
//     takes the socket's next event for its first and calls Opened, where the adapter reads,
//     into a buffer of the loop's, in evio's place. Input goes to OnData as usual. A read of 0
//     calls OnReadEOF (guarded against panics like every callback), drops what is
//     unconsumed, and stops watching the socket for input (its epoll events become 0), since a
//     socket read to its end is readable for good. The connection stays open for writing; a
//     later CloseWrite or Close closes it at once, nil the cause, without the lingering close's
//     wait for the peer's FIN, which was read. While evio holds output the flag stays set,
//     evio writes and does not read, and its PreWrite wake, which the loop handles before the
//     events of its next wait, clears the flag again once all is written. A paused connection
//     hears of the end of stream when it resumes, after the input read before it. One whose
//     write side is already shut down gets a hang-up from epoll at the peer's FIN, paused or
//     not, at every wait: the adapter then takes the socket out of the epoll set, reading
//     nothing, and puts it back on ResumeRead, when the input still in the kernel is read
//     before the end of stream (an error at that hang-up aborts the connection at once). An error after the end of stream (the peer's reset) is
//     found by SO_ERROR and aborts the connection with it. What it costs, to such connections
//     only: an epoll_ctl when a reply is handed to evio from Opened (evio asks for
//     writability after a read, not after Opened), and a wake at each of evio's writes.
//
// # Stats
//
// With Config.Stats each loop counts into its own shard. Accepts and dials are counted as
// the loop opens the connection, before OnOpen; closes as OnClose is called, with its cause;
// accept errors on the accept goroutine, in shard 0. Received is what evio hands Data, plus
// what the adapter reads itself for a HalfCloser. Buffered rises by what Write and
// AsyncWrite accept and falls by what is sent or dropped (an abort empties the callback's
// output, the AsyncWrite queue and evio's buffer; a close drops what is left).
//
// Sent is what evio wrote, and evio does not say how much it wrote, nor for which
// connection: its PreWrite callback says only that some loop is about to write. The adapter
// learns it from evio's output buffer (the private field Buffered reads too) wherever it
// looks anyway, at a read, a wake and the close; and, so that a connection that goes quiet is
// counted too, PreWrite rings the doorbell of every loop that has handed evio output since
// (once until that loop has looked), and the doorbell's call, after the write, looks at those
// connections. Sent and Buffered therefore lag by what a loop wrote since it last looked, no
// longer than that loop's next turn, and are exact once traffic stops. The cost, when
// counting: an atomic add per counted event, and at most one doorbell ring per loop per
// sweep while output moves; nothing is allocated on the read path.
//
// # What evio cannot do, and what the adapter does about it
//
//   - Edge-triggered readiness and a read size other than the default (evio reads into a fixed
//     64 KiB buffer per loop) are refused by New with an error wrapping
//     reactor.ErrNotSupported; Info lists them. Config.ReusePort sets SO_REUSEPORT on the
//     adapter's listener: other processes can share the port (reactor serve --procs).
//   - evio's unexported state, used on a loop's own goroutine only, from its callbacks: the
//     adapter reads how much output evio holds for a connection (evio's Conn does not tell)
//     and empties it for Abort,
//     writes a loop's connection table, epoll set and count to enroll a connection, and, for
//     PauseRead and for a HalfCloser's connection, a connection's events in the epoll set and
//     its opened flag, as described above. go.mod pins evio v1.0.8 (the project is archived);
//     Start checks the layout of evio's structs once, by reflect, and fails if it differs, and
//     the package's tests check it too.
//   - Each server holds, besides its connections, the listener, evio's private listener, and
//     two descriptors per loop for the doorbells.
//   - evio's Serve waits on a sync.Cond for the first loop to stop, and starts its loops just
//     before it begins to wait; a loop that stops inside that window signals nobody, and Serve
//     never returns. A Shutdown right after Start hits it (the package's tests did, one loop,
//     under -race). Start therefore returns only once a stack dump shows Serve's goroutine
//     waiting on that Cond, one runtime.Stack call per Start, bounded to 5 s.
//   - After its loops stop, evio closes its listener's descriptor and then the *os.File it
//     came from, which closes the same number again. Should another goroutine open a
//     descriptor in between, that one is closed. The window is two consecutive system calls
//     at the end of Shutdown, on the private listener now; it is a bug in evio the adapter
//     cannot reach.
//   - evio's loops also wake every 100 ms when idle (its epoll_wait timeout).
package evioloop
