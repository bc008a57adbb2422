// Package evioloop is the reactor backend on github.com/tidwall/evio (v1.0.8): a fixed set of
// epoll event loops, level-triggered, all polling one shared listener, whose callbacks return
// the bytes to send instead of writing them. It stands for the epoll reactor of the classic
// progression as a library offers it, next to the hand-written one in adapters/epoll.
//
// # How evio's model maps onto the contract
//
//   - Config.Loops is evio's NumLoops. Balancing is evio's Random: every loop polls the
//     listener and whichever accepts first owns the connection. (RoundRobin and
//     LeastConnections make the other loops refuse the accept and, the listener being
//     level-triggered, spin until the chosen loop takes it.)
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
//     waiting connections again. No byte is lost and order is kept.
//   - Close flushes then closes, lingering: the adapter hands over the last output without
//     evio.Close (evio closes as soon as it has written, and a socket closed with input unread,
//     or that receives input after it is closed, is reset, which drops the end of the reply
//     the kernel has not sent yet). Once evio holds nothing, the adapter shuts the write side
//     down (the peer sees EOF) and evio goes on reading, the input dropped, until the peer's
//     FIN closes the connection or 500 ms pass and evio is told to close. A flush that makes
//     no progress for 2 s (closeStall: the peer does not read) is given up and the connection
//     aborted, with the cause the close was asked with; evio alone would keep trying for ever.
//   - Abort, and the limits: evio would write what it holds before acting on Close, forever if
//     the peer never reads, so the adapter shuts the socket down (zero linger) on the loop;
//     evio's pending write then fails and evio closes and reports it.
//   - Backpressure: evio does not read a connection while it holds output for it, so a peer
//     that does not read its replies stops being read. The adapter's own buffers are bounded
//     by Config.MaxOutbound each (the callback's output and the AsyncWrite queue); evio holds
//     at most one earlier hand-off besides. A connection past the mark is aborted with
//     ErrOutboundFull, so a silent peer costs at most about twice MaxOutbound plus the kernel's
//     socket buffer, and never delays the others.
//   - Shutdown: evio cannot stop accepting while its loops run, and stops only when a callback
//     returns evio.Shutdown. Shutdown therefore (1) asks every connection to flush and close
//     with ErrServerClosed, closing newcomers at once, (2) waits for that or for ctx, (3) dials
//     its own listener: the Opened call for that connection returns evio.Shutdown, evio stops
//     all loops and closes what is left, calling Closed (reported as ErrServerClosed), closes
//     its pollers and listener, and Serve returns. evio's Tick is not used: its ticker
//     goroutine outlives the server and then writes to a closed, perhaps reused, descriptor.
//     No goroutine or descriptor of the backend is left when Shutdown returns.
//
// # What evio cannot do, and what the adapter does about it
//
//   - Edge-triggered readiness and a read size other than the default (evio reads into a fixed
//     64 KiB buffer per loop) are refused by New with an error wrapping
//     reactor.ErrNotSupported; Info lists them. Config.ReusePort maps to evio's reuseport
//     option, SO_REUSEPORT on its one shared listener: other processes can share the port
//     (reactor serve --procs), but the loops still share one listener.
//   - evio's Conn tells neither its socket nor how much output it holds. The adapter reads both
//     from evio's unexported connection struct with reflect, on the connection's own loop
//     only; it never writes evio's state. go.mod pins evio v1.0.8 (the project is archived)
//     and the package's tests check the layout. The socket is also used to turn Nagle's
//     algorithm off (evio leaves it on) and to report the socket's real local address (evio
//     reports the listener's).
//   - evio's Serve waits on a sync.Cond for the first loop to stop, and starts its loops just
//     before it begins to wait; a loop that stops inside that window signals nobody, and Serve
//     never returns. A Shutdown right after Start hits it (the package's tests did, one loop,
//     under -race). Start therefore returns only once a stack dump shows Serve's goroutine
//     waiting on that Cond, one runtime.Stack call per Start, bounded to 5 s.
//   - An accept error (EMFILE when descriptors run out) ends evio's loop and so the whole
//     server; Wait then returns an error saying so.
//   - After its loops stop, evio closes each listener's descriptor and then the *os.File it
//     came from, which closes the same number again. Should another goroutine open a
//     descriptor in between, that one is closed. The window is two consecutive system calls
//     at the end of Shutdown; it is a bug in evio the adapter cannot reach.
//   - evio's loops also wake every 100 ms when idle (its epoll_wait timeout).
package evioloop
