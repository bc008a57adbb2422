package reactor

import (
	"context"
	"net"
)

// Backend is one event-loop implementation. A Backend serves one handler once: Start, then
// Shutdown; construct a new one to serve again.
type Backend interface {
	// Info reports what the backend is. Safe from any goroutine.
	Info() Info

	// Start binds the configured address, starts serving h in goroutines of the backend's own
	// and returns the bound address (useful with port 0) once new connections are accepted.
	Start(h Handler) (net.Addr, error)

	// Shutdown stops accepting, lets written bytes drain, closes every connection (OnClose runs
	// with ErrServerClosed) and returns once no goroutine or descriptor of the backend is left,
	// or with ctx's error when ctx ends first (connections are then aborted and Shutdown still
	// waits for the backend's goroutines to exit).
	Shutdown(ctx context.Context) error

	// Wait blocks until the backend has stopped: it returns ErrServerClosed after Shutdown, or
	// the error that stopped the backend on its own.
	Wait() error
}

// Info describes a backend for `reactor backends`, the benchmark report and the docs.
type Info struct {
	// Name is what users type: "epoll", "std", "gnet", …
	Name string
	// Model is the concurrency model the backend stands for, in a few words.
	Model string
	// Progression is the step of the classic progression (process per connection, thread per
	// connection, select, epoll, coroutines, …) this backend embodies.
	Progression string
	// Available reports whether the backend runs on this operating system; Reason says why not.
	Available bool
	Reason    string
	// MaxConns is the most connections the backend can hold at once by design (select: limited
	// by FD_SETSIZE), or 0 when only the process's descriptor limit applies.
	MaxConns int
	// Unsupported lists what this backend cannot honour, the goal being nothing. A Config field
	// name ("EdgeTriggered") is an option the constructor refuses with ErrNotSupported. A Conn
	// method, alone or with the option under which it fails ("PauseRead with EdgeTriggered"),
	// is a contract point that fails with ErrNotSupported: the method returns it, or the
	// connection is aborted with it where the method returns nothing. "IdleCPU" says the
	// backend uses CPU while it waits for nothing (busypoll).
	Unsupported []string
}
