package netpoller

import (
	"runtime"

	"github.com/reactorlab/reactor/reactor"
)

// Name is the backend name users type.
const Name = "netpoll"

// unsupported lists the reactor.Config options netpoll has no switch for.
var unsupported = []string{"EdgeTriggered", "ReadBufferSize"}

// Info describes the backend. It is callable on every operating system; Available is false
// where the adapter is not built.
func Info() reactor.Info {
	info := reactor.Info{
		Name:        Name,
		Model:       "process-wide epoll pollers (level-triggered reads into nocopy buffers) hand each connection's input to a pooled goroutine; cloudwego/netpoll",
		Progression: "epoll + goroutine pool",
		Available:   available,
		Unsupported: append([]string(nil), unsupported...),
	}
	if !available {
		info.Reason = "the netpoll adapter is built for Linux only, not " + runtime.GOOS
	}
	return info
}
