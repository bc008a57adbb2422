//go:build linux

package netpoller

import (
	"testing"

	"github.com/reactorlab/reactor/reactor/reactortest"
)

// TestConformanceTLS runs the conformance scenarios that speak a protocol once more over TLS
// (reactortest.OverTLS).
func TestConformanceTLS(t *testing.T) {
	reactortest.Run(t, New, reactortest.GoroutinePerConn(), reactortest.OverTLS())
}
