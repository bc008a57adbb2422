package evioloop

import (
	"runtime"

	"github.com/reactorlab/reactor/reactor"
)

// Name is the backend name users type.
const Name = "evio"

// Info describes the backend. It needs no backend to be built and is accurate on every OS.
func Info() reactor.Info {
	in := reactor.Info{
		Name:        Name,
		Model:       "epoll, level-triggered, N loops fed round-robin by the adapter's acceptor; callbacks return the bytes to send (tidwall/evio)",
		Progression: "epoll reactor (library)",
		Available:   runtime.GOOS == "linux",
		Unsupported: []string{"EdgeTriggered", "ReadBufferSize"},
	}
	if !in.Available {
		in.Reason = "the evio adapter is built for Linux only (it reaches into evio's epoll connections)"
	}
	return in
}
