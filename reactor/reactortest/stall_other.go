//go:build !linux

package reactortest

import "testing"

// stalledListener would return the address of a listener at which connects stay pending; it
// relies on how Linux treats a full accept queue, so elsewhere it returns "" and why.
func stalledListener(*testing.T) (addr, why string) {
	return "", "connects are held pending only on Linux (a listener whose accept queue is full)"
}
