//go:build !linux

package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
)

// runPrefork refuses: --procs needs the kernel to spread one port's connections across
// processes (Linux's SO_REUSEPORT) and a worker that dies with its parent (Pdeathsig).
func runPrefork(_ context.Context, s settings, _ []string, stderr io.Writer) int {
	fmt.Fprintf(stderr, "reactor serve: --procs %d needs Linux (SO_REUSEPORT spreading one port across processes); on %s run one process, with --loops for more event loops\n", s.Procs, runtime.GOOS)
	return 2
}
