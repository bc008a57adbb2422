// Package process is the reactor backend "process": a process per connection, the forking
// server of the classic progression (ForkingMixIn). The parent accepts; for each connection it
// starts a child process, handing it the accepted socket as its descriptor 3, and the child
// serves that one connection and exits when it closes. A Go program cannot fork (the runtime's
// threads do not survive it), so the child is a fresh program: the backend asks a Launcher for
// the command to run, and the program that registered the Launcher (reactor serve does, with
// its own executable and command line) serves the socket with ServeChild.
//
// A library cannot start an arbitrary program as its own child, so Info reports the backend
// unavailable, with the reason, until SetLauncher has been called; New then fails with
// reactor.ErrNotSupported.
//
// What it cannot do, listed in Info.Unsupported:
//   - SharedHandler: the handler given to Start serves no connection. Each child builds its
//     own from its command line, so nothing a handler keeps is shared between connections: a
//     chat room would have one member per process (reactor serve serves chat here only with
//     --bus, each child joining the room over NATS), and counters count one connection each.
//   - Stats: the bytes and closes of the children are theirs; the parent cannot count them, so
//     New refuses Config.Stats.
//   - EdgeTriggered: the child waits in poll(2).
//
// Inside the child every contract point holds: the connection runs on the epoll package's
// connection code (epoll.ServeFD), Post, AfterFunc, PauseRead, Dial and the rest included.
//
// Lifecycle: Start binds the address and accepts on a goroutine of its own; each child is
// waited for by a goroutine that exits with it. Shutdown closes the listener, sends every
// child SIGTERM (a child closes its connection gracefully, OnClose getting
// reactor.ErrServerClosed, and exits), and waits for them; when its context ends first the
// children left are killed (SIGKILL). Children get SIGKILL too should the parent die
// (PR_SET_PDEATHSIG), and a process group of their own, so that a terminal's Ctrl-C reaches
// them through the parent only.
//
// Costs: a fork and exec of the whole program, and the Go runtime's start-up, per connection;
// docs/progression.md has the measured connect latency and memory.
package process
