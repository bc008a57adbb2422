package epoll

import "github.com/reactorlab/reactor/reactor"

// Info describes the backend. It needs no construction and tells, on any operating system,
// whether the backend runs there.
func Info() reactor.Info {
	return reactor.Info{
		Name:        "epoll",
		Model:       "one event loop per core on epoll(7), level-triggered (edge-triggered as an option), non-blocking sockets, writev",
		Progression: "epoll: readiness notification, O(ready) per wait, many connections per thread",
		Available:   available,
		Reason:      unavailableReason,
	}
}
