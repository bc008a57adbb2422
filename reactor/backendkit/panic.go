package backendkit

import (
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/reactorlab/reactor/reactor"
)

// HandlerPanic turns the value recovered from a handler's panic into the cause a backend gives
// OnClose, and logs the panic once with its stack. Backends call it from their deferred
// recover, so a panicking handler costs one connection, never the server.
func HandlerPanic(log *slog.Logger, conn string, v any) error {
	log.Error("handler panicked; connection aborted", "conn", conn, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	return fmt.Errorf("%w: %v", reactor.ErrHandlerPanic, v)
}
