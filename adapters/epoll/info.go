package epoll

import "github.com/reactorlab/reactor/reactor"

// maxThreads caps thread per connection below the Go runtime's limit of OS threads
// (debug.SetMaxThreads, 10,000 by default), past which the program dies; the runtime keeps a
// few threads of its own.
const maxThreads = 8192

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

// BusyPollInfo describes the same reactor polling without waiting.
func BusyPollInfo() reactor.Info {
	return reactor.Info{
		Name:        "busypoll",
		Model:       "the epoll backend's loop with no wait at all: non-blocking sockets tried (accept, read, write) on every turn, one CPU core spinning at 100% per loop, idle or not",
		Progression: "busy polling: no readiness notification, so the loop asks every socket, all the time",
		Available:   available,
		Reason:      unavailableReason,
		// IdleCPU: a server with nothing to do still spins its loops (reactortest checks the
		// others for an idle accept path at the descriptor limit).
		Unsupported: []string{"EdgeTriggered", "IdleCPU"},
	}
}

// ThreadInfo describes thread per connection on the same connection code.
func ThreadInfo() reactor.Info {
	return reactor.Info{
		Name:        "thread",
		Model:       "an OS thread per connection (runtime.LockOSThread), blocked in poll(2) on its socket and a wake-up eventfd; the epoll backend's connection code",
		Progression: "thread per connection (ThreadingMixIn): one kernel thread per client, the kernel's scheduler switching between them",
		Available:   available,
		Reason:      unavailableReason,
		MaxConns:    maxThreads,
		Unsupported: []string{"EdgeTriggered"},
	}
}
