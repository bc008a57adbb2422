package conformance_test

import (
	"testing"

	"github.com/reactorlab/reactor/adapters/epoll"
	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/reactortest"
)

// uring runs where io_uring can; elsewhere the suite is skipped, printing why.
func uring(t *testing.T) reactor.Constructor {
	if in := epoll.URingInfo(); !in.Available {
		t.Skipf("uring is not available here: %s", in.Reason)
	}
	return epoll.NewURing
}

// busyPoll spins a core for as long as a server runs; the suite bounds that by its own
// scenarios' time limits, and runs it with one loop.
func busyPoll(cfg reactor.Config) (reactor.Backend, error) {
	cfg.Loops = 1
	return epoll.NewBusyPoll(cfg)
}

// The same reactor on io_uring.
func TestURing(t *testing.T) { reactortest.Run(t, uring(t)) }

// Thread per connection runs the same connection code, a loop and a thread per connection.
func TestThread(t *testing.T) { reactortest.Run(t, epoll.NewThread) }

func TestBusyPoll(t *testing.T) { reactortest.Run(t, busyPoll) }
