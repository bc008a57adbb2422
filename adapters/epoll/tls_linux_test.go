package epoll

import (
	"testing"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// The conformance scenarios that speak a protocol, once more over TLS (reactortest.OverTLS).

func TestConformanceTLS(t *testing.T)       { reactortest.Run(t, New, reactortest.OverTLS()) }
func TestConformanceTLSPoll(t *testing.T)   { reactortest.Run(t, NewPoll, reactortest.OverTLS()) }
func TestConformanceTLSSelect(t *testing.T) { reactortest.Run(t, NewSelect, reactortest.OverTLS()) }

func TestConformanceTLSURing(t *testing.T) {
	if reason := uringReason(); reason != "" {
		t.Skipf("uring is not available here: %s", reason)
	}
	reactortest.Run(t, NewURing, reactortest.OverTLS())
}

func TestConformanceTLSThread(t *testing.T) { reactortest.Run(t, NewThread, reactortest.OverTLS()) }

func TestConformanceTLSBusyPoll(t *testing.T) {
	reactortest.Run(t, func(cfg reactor.Config) (reactor.Backend, error) {
		cfg.Loops = 1
		return NewBusyPoll(cfg)
	}, reactortest.OverTLS())
}
