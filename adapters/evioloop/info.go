package evioloop

import (
	"runtime"

	"github.com/reactorlab/reactor/reactor"
)

// Name is the backend name users type.
const Name = "evio"

// ReadWhileOutputWaits is the contract point evio cannot honour: reading a connection whose
// output waits for its peer. Everything else of the contract holds; the proxy, which needs it
// to relay both ways at once, is refused on evio.
const ReadWhileOutputWaits = "Read while output waits"

// Info describes the backend. It needs no backend to be built and is accurate on every OS.
func Info() reactor.Info {
	in := reactor.Info{
		Name:        Name,
		Model:       "epoll, level-triggered, N loops fed round-robin by the adapter's acceptor; callbacks return the bytes to send (tidwall/evio)",
		Progression: "epoll reactor (library)",
		Available:   runtime.GOOS == "linux",
		// evio's loop does not read a connection while it holds output for it: a stream both
		// ways at once against a peer that itself stops reading then stalls (docs/protocols.md).
		Unsupported: []string{"EdgeTriggered", "ReadBufferSize", ReadWhileOutputWaits},
	}
	if !in.Available {
		in.Reason = "the evio adapter is built for Linux only (it reaches into evio's epoll connections)"
	}
	return in
}
