//go:build !linux

package reactortest

import "testing"

// testDescriptorLimit needs Linux's RLIMIT_NOFILE, /proc/self/fd and raw sockets; the
// backends it matters for are Linux only.
func (s *suite) testDescriptorLimit(t *testing.T) {
	t.Skip("the descriptor-limit scenario runs on Linux only")
}
