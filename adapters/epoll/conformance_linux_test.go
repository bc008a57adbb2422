//go:build linux

package epoll

import (
	"testing"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

func TestConformance(t *testing.T) { reactortest.Run(t, New) }

// The suite runs the default shape (level-triggered, one acceptor); the other shapes must keep
// the same promises.

func TestConformanceEdgeTriggered(t *testing.T) {
	reactortest.Run(t, func(cfg reactor.Config) (reactor.Backend, error) {
		cfg.EdgeTriggered = true
		return New(cfg)
	})
}

func TestConformanceReusePort(t *testing.T) {
	reactortest.Run(t, func(cfg reactor.Config) (reactor.Backend, error) {
		cfg.ReusePort = true
		return New(cfg)
	})
}

// The same reactor waiting with poll(2) and select(2) keeps the same promises.

func TestConformancePoll(t *testing.T) { reactortest.Run(t, NewPoll) }

func TestConformanceSelect(t *testing.T) { reactortest.Run(t, NewSelect) }

// io_uring, thread per connection and busy polling, and every mechanism over TLS: package
// adapters/epoll/conformance.
