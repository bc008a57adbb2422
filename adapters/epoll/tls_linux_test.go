package epoll

import (
	"testing"

	"github.com/reactorlab/reactor/reactor/reactortest"
)

// The conformance scenarios that speak a protocol, once more over TLS (reactortest.OverTLS).

func TestConformanceTLS(t *testing.T)       { reactortest.Run(t, New, reactortest.OverTLS()) }
func TestConformanceTLSPoll(t *testing.T)   { reactortest.Run(t, NewPoll, reactortest.OverTLS()) }
func TestConformanceTLSSelect(t *testing.T) { reactortest.Run(t, NewSelect, reactortest.OverTLS()) }
