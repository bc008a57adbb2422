package overtls_test

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

// busyPoll runs with one loop: each loop spins a core.
func busyPoll(cfg reactor.Config) (reactor.Backend, error) {
	cfg.Loops = 1
	return epoll.NewBusyPoll(cfg)
}

// The conformance scenarios that speak a protocol, once more over TLS (reactortest.OverTLS),
// on every mechanism of the epoll package.

func TestTLSEpoll(t *testing.T)    { reactortest.Run(t, epoll.New, reactortest.OverTLS()) }
func TestTLSPoll(t *testing.T)     { reactortest.Run(t, epoll.NewPoll, reactortest.OverTLS()) }
func TestTLSSelect(t *testing.T)   { reactortest.Run(t, epoll.NewSelect, reactortest.OverTLS()) }
func TestTLSURing(t *testing.T)    { reactortest.Run(t, uring(t), reactortest.OverTLS()) }
func TestTLSThread(t *testing.T)   { reactortest.Run(t, epoll.NewThread, reactortest.OverTLS()) }
func TestTLSBusyPoll(t *testing.T) { reactortest.Run(t, busyPoll, reactortest.OverTLS()) }
