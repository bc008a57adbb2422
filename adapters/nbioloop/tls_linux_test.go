//go:build linux

package nbioloop

import (
	"testing"

	"github.com/reactorlab/reactor/reactor/reactortest"
)

// TestConformanceTLS runs the conformance scenarios that speak a protocol once more over TLS
// (reactortest.OverTLS).
func TestConformanceTLS(t *testing.T) { reactortest.Run(t, New, reactortest.OverTLS()) }
