package reactortest

import (
	"io"
	"log/slog"
)

// discardLogger keeps deliberate panics from filling the test log with stacks.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
