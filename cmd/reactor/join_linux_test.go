//go:build linux

package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestReusePortRefusesATakenPortUnlessJoin: a second SO_REUSEPORT server on a port another
// reactor serves would take a share of its connections; it is refused with the address and
// the way out, and --join lets it in.
func TestReusePortRefusesATakenPortUnlessJoin(t *testing.T) {
	_, addr, _ := startServe(t, "--backend", "std", "--proto", "echo", "--reuseport", "--addr", "127.0.0.1:0")
	for _, args := range [][]string{
		{"--reuseport"},
		{"--procs", "2"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			// Bounded: a server that wrongly joins is stopped when the context ends.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var stderr lockedBuffer
			full := append([]string{"serve", "--backend", "std", "--proto", "echo", "--addr", addr}, args...)
			code := run(ctx, full, nil, io.Discard, &stderr)
			if code == 0 || !strings.Contains(stderr.String(), addr+" is already in use") || !strings.Contains(stderr.String(), "--join") {
				t.Errorf("exit %d, stderr:\n%s\nwant a refusal naming %s and --join", code, stderr.String(), addr)
			}
		})
	}
	_, joined, _ := startServe(t, "--backend", "std", "--proto", "echo", "--join", "--addr", addr)
	if joined != addr {
		t.Errorf("--join serves on %s; want %s", joined, addr)
	}
}
