//go:build !linux

package main

import (
	"context"
	"log/slog"
	"runtime"
)

// runPrefork refuses: --procs needs the kernel to spread one port's connections across
// processes (Linux's SO_REUSEPORT) and a worker that dies with its parent (Pdeathsig).
func runPrefork(_ context.Context, s settings, _ []string, logger *slog.Logger) int {
	logger.Error("--procs needs Linux (SO_REUSEPORT spreading one port across processes); run one process, with --loops for more event loops", "procs", s.Procs, "os", runtime.GOOS)
	return 2
}
