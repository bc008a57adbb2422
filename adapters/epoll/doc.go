// Package epoll is the hand-written reactor backend: event loops built directly on epoll(7)
// through golang.org/x/sys/unix, with no runtime network poller in between. Users select it
// as "epoll"; the same loops also wait with poll(2) ("poll") and select(2) ("select"), or do
// their I/O through io_uring ("uring"). It runs on Linux; elsewhere the package builds and
// each constructor returns an error wrapping reactor.ErrNotSupported.
//
// # The readiness mechanism is pluggable
//
// The loop asks one question of the kernel — which of my sockets are ready? — through a small
// interface (poller) with three answers, each a backend of its own:
//
//   - "epoll" (New): the kernel keeps the interest set; epoll_wait returns only what is ready,
//     so a wait costs in proportion to the ready sockets. Level- or edge-triggered.
//   - "poll" (NewPoll): the loop keeps the interest list and hands all of it to poll(2) on
//     every wait, then scans all of it for results: each wait costs in proportion to every
//     registered socket, idle ones included. No limit on descriptor numbers.
//   - "select" (NewSelect): fd_set bitmaps copied in and out on every wait and scanned up to
//     the highest descriptor; and no descriptor numbered 1024 (FD_SETSIZE) or more can be
//     watched at all. Such a connection is refused at accept — closed, and logged at most
//     once a second — and the server serves on.
//
// Two more backends run the same loop and connection code with the model of the progression
// changed around it:
//
//   - "thread" (NewThread): thread per connection. One acceptor loop; every accepted connection
//     gets a loop of its own whose goroutine is locked to an OS thread (runtime.LockOSThread)
//     and waits in poll(2) on that connection's socket and the loop's eventfd, so that an idle
//     connection is a kernel thread blocked in a system call. It blocks in poll(2) rather than
//     in read(2) on a blocking socket, as ThreadingMixIn's handler did, because the contract
//     needs to reach the thread from other goroutines (AsyncWrite, Post, AfterFunc, Close,
//     Shutdown), which the eventfd in the same poll does; a thread blocked in read(2) could be
//     woken by nothing but its peer. The goroutine exits with the connection and its thread
//     with it. A connection it dials lives on its loop and thread.
//     Past 8,192 connections (Info.MaxConns; the Go runtime ends a program past 10,000
//     threads) a new connection is refused, closed at once and logged, as select does.
//   - "busypoll" (NewBusyPoll): a poller whose wait makes no system call and returns every
//     watched descriptor as ready; the accept, read or write that follows finds out, by
//     EAGAIN, that there was nothing. A loop spins its core whole, idle or not; Start logs a
//     warning saying so, and it runs one loop unless Config.Loops says otherwise. Like select,
//     it does not see an error on a socket it does not watch for input, and sweeps paused
//     connections for one four times a second.
//
// ServeFD serves one connected socket handed over by another process (the process backend's
// children, package adapters/process) on a loop of the thread kind.
//
// Everything else below — loops, buffers, writes, wake-ups, closing — is shared by all of them,
// which is what makes their measured differences (docs/progression.md) differences of the
// mechanism alone. The text speaks of epoll; for poll and select read "the loop's interest
// list". Edge-triggered readiness exists only for epoll.
//
// # Completion instead of readiness: uring
//
// "uring" (NewURing) keeps the loops, connections, inbox, timers and closing rules, and asks
// the kernel a different question: not "which sockets are ready?" but "which of the requests I
// made are done?" (io_uring, through internal/iouring: raw io_uring_setup/enter/register and
// the mapped rings, no cgo). What changes for a connection:
//
//   - Reading: a receive request stays armed per reading connection (multishot, ending after
//     64 KiB and re-armed, where the kernel keeps such a limit — Linux 6.17 and later — and a
//     single receive per request elsewhere). The kernel picks a buffer from the loop's ring of
//     provided buffers; OnData is lent that buffer, which goes back to the kernel when the
//     callback returns; only an unconsumed tail is copied. Input that completes while reading
//     is paused waits in the connection's tail buffer (at most 64 KiB and a buffer) until
//     reading resumes. PauseRead cancels the receive; ResumeRead arms it again.
//   - Writing: at most one send (or gathering sendmsg) in flight per connection. Its chunks
//     stay in the outbound queue, untouched, until its completion says how much the kernel
//     took; what was written meanwhile goes in the next send. A send that completes with
//     EAGAIN (a full socket whose peer has sent its FIN: io_uring's polls also watch for
//     EPOLLRDHUP, which such a socket reports for good, so they cannot wait for room) waits
//     for EPOLLOUT in an epoll set of the loop's, whose descriptor the ring polls.
//   - Accepting: sixteen accepts in flight on the listener, each with its own slot for the
//     peer's address.
//   - Closing: a connection that closes has what it has in flight cancelled and its socket
//     closed through the ring, behind any request still queued for it; its slot (which names
//     it in every request) is reused only once every completion is back. The loop exits only
//     when nothing of its own is in flight, so Shutdown leaves no request and no descriptor.
//   - Waking: the eventfd is read through the ring; a post that writes it completes the read.
//
// At construction, and for URingInfo, a probe sets up a ring and tries every operation the
// backend uses; where io_uring is disabled (kernel.io_uring_disabled, a seccomp profile) or
// too old, URingInfo says why and NewURing refuses with reactor.ErrNotSupported. A paused
// connection has no request in flight, so it hears of a reset only by the sweep that select
// uses too (SO_ERROR four times a second). docs/progression.md has the measurements.
//
// # What runs where
//
// The backend runs Config.Loops event loops (default: one per CPU the Go scheduler uses).
// Each loop is one goroutine that owns
//
//   - an epoll instance, in which it registers its connections' sockets;
//   - an eventfd, also in that epoll set, by which other goroutines wake it;
//   - a read buffer of Config.ReadBufferSize bytes that all its connections read into;
//   - a table of its connections, indexed by a slot number that rides in each epoll event's
//     data word, so finding the connection for an event is one slice index;
//   - an inbox: tasks posted by other goroutines, behind a mutex;
//   - its connections' timers (Conn.AfterFunc), in a min-heap by deadline.
//
// A connection belongs to one loop for its whole life, and every callback for it (OnOpen,
// OnData, OnReadEOF, OnDrain, OnClose) and every function posted to it or arranged by
// AfterFunc runs on that loop's goroutine, one after another. The loop repeats one round: wait
// in epoll_wait; for each ready socket, read and call OnData, or write what is pending; run
// the timers that are due; carry out the inbox; settle the connections the round touched (send
// their output, call OnDrain where it is due); then wait again. Nothing else runs: no
// goroutine per connection and no runtime timer. Every couple of milliseconds a loop yields to
// the Go scheduler (runtime.Gosched): a goroutine that never parks is otherwise treated as a
// runaway, preempted by force and robbed of its processor at every system call, which was
// measured to cost far more than the yield. The loop goroutines are not locked to their OS
// threads, although the first design did so: measured on a 2-core VM, locking made each yield
// a hand-over between two threads and cost a quarter more CPU per echo round trip at a steady
// rate, and without the yield it left the retakes in place (up to 8% under pipelined load).
// Unlocked and yielding, the loop matched a native gnet server on both workloads.
//
// # Accepting
//
// By default there is one listening socket, registered in the first loop's epoll set. That
// loop accepts (accept4, non-blocking, close-on-exec), sets TCP_NODELAY, and deals the new
// connections out to the loops in turn: its own it opens at once, the others it posts to their
// owners' inboxes. With Config.ReusePort every loop has a listening socket of its own on the
// same port (SO_REUSEPORT) and the kernel spreads incoming connections among them by a hash
// of the addresses; each loop keeps what it accepts.
//
// The single acceptor is the default — it is what the zero Config means — and it was kept
// after measuring both. It deals connections out exactly evenly, whatever their number, where
// SO_REUSEPORT's hash can leave a loop with more than its share of a few long connections; a
// connection never waits in the queue of a busy loop while another idles; and no other
// process of the same user can join the port and take connections. SO_REUSEPORT is cheaper
// where connections are short-lived, because nothing is handed between threads. Measured on a
// 2-core VM (2 loops, GOMAXPROCS=2, wrk -t1 on the same machine, 5 interleaved rounds of 4 s,
// medians of per-round ratios): with a new connection per request (wrk -c50 -H "Connection:
// close", /plaintext) SO_REUSEPORT served 13% more requests per second at 13% less server CPU
// per request (39 against 48 µs); on keep-alive traffic (wrk -c100) the gap was 6% and 4%. So
// servers that live on connection churn should set ReusePort; the default stays predictable.
//
// # Dialing
//
// Conn.Dial connects on the loop of the connection that asks, and the new connection stays
// there, so the two are never served at the same time. Dial never blocks: it opens a
// non-blocking socket, starts connect (EINPROGRESS) and registers the socket for
// writability, which comes when the connection is made or has failed (SO_ERROR says which).
// Made, it opens like an accepted connection — TCP_NODELAY, OnOpen, its addresses as the
// kernel has them — served by the handler given to Dial. A dial counts among the loop's
// connections from the start: Shutdown waits for it, and fails it if it is still connecting.
//
// An IP literal is connected to at once (an empty host means 0.0.0.0, the local system, as
// net.Dial has it). A host name is looked up on a goroutine of the dial's own
// (net.DefaultResolver.LookupNetIP), whose answer comes back through the inbox; its addresses
// are tried in order, one at a time, until one connects, and if none does the first failure is
// the cause reported. The deadline, Config.DialTimeout or ctx's deadline if earlier, is a
// timer in the loop's heap; ctx's end reaches the loop as a task (context.AfterFunc), and a
// connect that completes after either is not opened. When the dial ends, whichever way, the
// timer and the watch on ctx are stopped and the lookup is cancelled; the last loop to exit
// waits for lookups still returning. A dial that cannot connect calls the handler's OnClose
// with backendkit.DialError(addr, cause) — the connect's error, context.DeadlineExceeded,
// context.Cause(ctx), or reactor.ErrServerClosed at Shutdown — and never OnOpen; a failure
// known inside the asking callback waits for it to return.
//
// # Reading
//
// Sockets are non-blocking. Level-triggered (the default), a loop makes one read per
// readiness event, which is fair to the other connections: if more is waiting, epoll says so
// again on the next round. Edge-triggered (Config.EdgeTriggered), epoll reports only new
// arrivals, so the loop reads until a short read shows the socket drained — or, when the
// peer's FIN has arrived too (EPOLLRDHUP), until read reports the end — and after a few full
// reads re-arms the socket instead, which puts it behind the others.
//
// The kernel copies into the loop's read buffer, and OnData gets that buffer itself: no copy.
// What the handler leaves unconsumed (half a request) is copied into a small pooled buffer of
// the connection's own, presented again with the next read, and given back as soon as it is
// consumed. So an idle connection holds no buffer at all. A read is at most half of
// Config.MaxOutbound, and unconsumed input beyond Config.MaxInbound aborts the connection with
// reactor.ErrInboundFull.
//
// # Writing
//
// Conn.Write, from the connection's own callback, copies the bytes into the connection's
// backendkit.Outbound: a list of pooled 16 KiB chunks in which small writes share space. When
// the callback returns, the loop sends everything pending with one writev. If the socket
// takes it all, that is the end of it: no epoll call. If not, the loop asks epoll for
// EPOLLOUT (level-triggered; edge-triggered sockets are registered for both directions from
// the start) and sends the rest when the socket has room; write interest is dropped again
// once nothing is pending. Drained chunks go back to the pool.
//
// # AsyncWrite, Close and Abort from other goroutines
//
// Conn.AsyncWrite may be called from any goroutine (a chat room broadcasting, a timer). It
// copies the bytes into the owning loop's inbox under the inbox mutex — the caller may reuse
// its slice as soon as AsyncWrite returns — and appends a task naming the connection. The
// loop, on its next round, moves the bytes into the connection's outbound queue (the second
// copy) and sends everything a round brought a connection with one writev. Tasks are carried
// out in the order they were posted, so AsyncWrites to one connection keep their order. The
// inbox is two slices swapped under the mutex, so steady traffic allocates nothing.
//
// Conn implements reactor.SharedWriter: AsyncWriteShared's slice, immutable by contract, rides
// in its task and joins the outbound queue by reference (backendkit.Outbound.WriteShared),
// copied nowhere, so a line broadcast to a room is held once however many members wait for it.
//
// Write and AsyncWrite share one order (reactor's contract point 4): a Write must not overtake
// AsyncWrite bytes still in the inbox, which happened before it. The connection's backlog
// counts AsyncWrite bytes from the moment they enter the inbox, its outbound queue only once
// they are moved; so when the two differ, Write first moves that connection's bytes out of the
// inbox into the queue, in order, under the mutex, and marks their tasks done. Otherwise —
// the common case — Write costs the one atomic load it made anyway for the high-water mark:
// no lock, no scan.
//
// What wakes what: the kernel wakes a loop through epoll_wait when a socket is ready. A
// goroutine that posts a task wakes the loop by writing its eventfd — but only when the loop
// is asleep in epoll_wait (an atomic flag the loop sets before waiting and clears after), so
// a busy loop, which looks at its inbox before it next waits, costs posters no system call.
//
// Close and Abort, from anywhere, set an atomic flag on the connection (so later writes fail
// with reactor.ErrConnClosed at once) and post a task; called from the connection's own
// callback, they take effect as soon as the callback returns.
//
// # Post and AfterFunc
//
// Conn.Post, from any goroutine, queues its function as a task in the inbox, behind the
// AsyncWrites posted before it; the task holds the func value, so Post allocates nothing of
// its own. The loop runs it in its turn among the tasks and settles the connection at the end
// of the round as after a callback. A Write in the function follows every AsyncWrite that
// happened before it, those further on in the same batch of tasks included. Post fails with
// reactor.ErrConnClosed once Close or Abort was asked or the connection is closed; a function
// still queued when its connection begins to close is dropped.
//
// Conn.AfterFunc puts a node in the loop's deadline heap and in the connection's list of
// timers; epoll_wait's timeout is the time to the earliest deadline (rounded up to the
// millisecond), and after every wait the loop runs, in deadline order, the timers whose
// deadline the clock has passed — never one early. A connection's timers are stopped when it
// begins to close, so none runs after OnClose. Nodes (48 bytes) are recycled by the loop; the
// stop function AfterFunc returns is its one allocation (24 bytes), which has to name this
// timer and not a later one that reuses the node. Arming and stopping cost O(log n) in the
// loop's timers, plus a walk of the connection's own list (a timer or two).
//
// # Flow control
//
// Conn.PauseRead and the loop's own backpressure pause (below, under Limits) are kept apart,
// so that lifting one leaves the other in force; reading goes on only when neither holds.
// Level-triggered, a paused connection is dropped from epoll's input interest, which leaves
// the input in the kernel and closes the peer's window; edge-triggered, input events are left
// unanswered, and ResumeRead re-arms the socket so that what arrived meanwhile is reported
// again. ResumeRead also presents once more, without waiting for new bytes, input that the
// handler had left unconsumed. epoll and poll report a socket error whatever the interest;
// select reports it only as readability, so a select loop asks its paused connections'
// sockets for an error every 250 ms. Conn.Buffered is the connection's backlog, an atomic
// counter (see Limits). A handler that implements reactor.Drainer gets OnDrain, at the end of
// the round, when a flush takes the backlog from above Config.LowWater to or below it.
//
// # Limits
//
// Every connection has a high-water mark, Config.MaxOutbound, counted over everything
// accepted for sending and not yet sent, AsyncWrite bytes still in the inbox included. While
// a connection's own pending output is above half the mark, the loop stops reading from it,
// so TCP slows down a peer that sends faster than it reads instead of the server buffering
// for it; reading resumes below a quarter. A write that would pass the mark — typically an
// AsyncWrite from others to a member that has stopped reading — fails with
// reactor.ErrOutboundFull and aborts the connection with that cause. An abort drops the
// pending output and closes with a TCP reset. A handler that panics is recovered, logged once
// (backendkit.HandlerPanic) and its connection aborted; the loop goes on. When accept runs out of
// descriptors the acceptor gives up a spare descriptor it holds, accepts the connection and
// closes it, so that the loop does not spin on a listener it cannot serve; should another
// thread take the freed descriptor first, the loop stops watching the listener for 5 ms,
// doubling to a second while the limit lasts.
//
// # Closing and Shutdown
//
// A graceful close (Conn.Close, reactor.Close from OnData, the peer's EOF) stops reading and
// sends what is pending. If the peer has not sent its FIN, the close then lingers: the loop
// shuts down the write side, calls OnClose, and reads and discards input until the peer's FIN
// or 500 ms, a deadline of the loop's own that also sets epoll_wait's timeout, before it
// closes the socket; closing over unread or late input would make the kernel reset the connection
// and destroy the reply in flight. The wait for the peer to take the output is bounded
// without a deadline in the loop: a closing socket that still holds output gets TCP_USER_TIMEOUT
// (5 seconds), so a peer that acknowledges nothing for that long is cut off by the kernel and
// the loop sees the error; a peer that reads, however slowly, is waited for. Shutdown posts a drain task to every loop: the
// listener is closed, every connection closes gracefully with reactor.ErrServerClosed, and a
// loop exits when its last connection is gone, closing its epoll instance and eventfd. If
// Shutdown's context ends first, the loops abort what is left and exit; either way Shutdown
// returns only after every loop goroutine has.
//
// # Half-closing
//
// Conn.CloseWrite moves the AsyncWrites made before it out of the inbox, refuses later writes,
// sends what is pending and then shuts down the write side (FIN); reading goes on. A handler
// that implements reactor.HalfCloser gets OnReadEOF at the peer's FIN instead of a close:
// reading stops for good (level-triggered, the loop drops its input interest, as a socket at
// its end of stream stays readable), the connection writes on, and once both halves are done
// it closes with a nil cause — at once, as the peer can send nothing more to linger for.
// Both halves ended in order while PauseRead holds the connection make a hang-up, which epoll
// and poll report whatever the interest; the loop then mutes the socket (one-shot for epoll,
// left out of the wait for poll) until ResumeRead, so that the input waits and the loop sleeps.
//
// # Memory
//
// A connection costs its 208-byte struct, a slot in its loop's table and one tiny array (8
// bytes) that its outbound queue keeps for steady traffic: no buffer while idle. With idle
// connections each after one echo round trip, the server's resident memory grows by 300 to
// 315 bytes per connection in TestIdleMemory (run by hand: 9,000 connections, 2 loops) and by
// about 270 in `reactor bench --proto idle` (10,000, one loop), kernel socket memory not
// counted. An armed timer adds its 48-byte node and a slot in the loop's heap, about 60 bytes
// beside the function the handler gives it; the 24-byte stop function AfterFunc returns is
// garbage at once unless the handler keeps it. docs/benchmarks.md has the measurements.
package epoll
