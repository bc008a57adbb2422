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

// The same reactor on io_uring; the suite skips it, saying why, where io_uring cannot run.
func TestConformanceURing(t *testing.T) {
	if reason := uringReason(); reason != "" {
		t.Skipf("uring is not available here: %s", reason)
	}
	reactortest.Run(t, NewURing)
}

// Thread per connection runs the same connection code, a loop and a thread per connection.
func TestConformanceThread(t *testing.T) { reactortest.Run(t, NewThread) }

// Busy polling spins a core for as long as a server runs; the suite bounds that by its own
// scenarios' time limits, and runs it with one loop.
func TestConformanceBusyPoll(t *testing.T) {
	reactortest.Run(t, func(cfg reactor.Config) (reactor.Backend, error) {
		cfg.Loops = 1
		return NewBusyPoll(cfg)
	})
}
