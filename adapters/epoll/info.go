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

// PollInfo describes the same reactor waiting with poll(2).
func PollInfo() reactor.Info {
	return reactor.Info{
		Name:        "poll",
		Model:       "the epoll backend's loops waiting with poll(2): the whole interest list passed in and scanned on every wait",
		Progression: "poll: no descriptor limit, but O(registered) per wait, idle connections included",
		Available:   available,
		Reason:      unavailableReason,
		Unsupported: []string{"EdgeTriggered"},
	}
}

// URingInfo describes the same reactor doing its I/O through io_uring. Available is the answer
// of a probe, made once per process, that sets up a ring and tries every operation the
// backend needs; Reason says what failed.
func URingInfo() reactor.Info {
	reason := uringReason()
	return reactor.Info{
		Name:        "uring",
		Model:       "the epoll backend's loops on io_uring: accepts in flight, a multishot receive per connection into kernel-chosen provided buffers, one send or sendmsg in flight per connection, an eventfd read for wake-ups",
		Progression: "io_uring: completion, not readiness; the kernel does the I/O and owns a buffer until it says it is done",
		Available:   reason == "",
		Reason:      reason,
		Unsupported: []string{"EdgeTriggered"},
	}
}

// SelectInfo describes the same reactor waiting with select(2).
func SelectInfo() reactor.Info {
	return reactor.Info{
		Name:        "select",
		Model:       "the epoll backend's loops waiting with select(2): fd_set bitmaps copied and scanned on every wait",
		Progression: "select: O(highest descriptor) per wait, and no descriptor numbered 1024 or more",
		Available:   available,
		Reason:      unavailableReason,
		MaxConns:    1024,
		Unsupported: []string{"EdgeTriggered"},
	}
}
