package nbioloop

import (
	"runtime"

	"github.com/reactorlab/reactor/reactor"
)

// Name is the backend name users type.
const Name = "nbio"

// Info describes the backend. It is callable on every operating system; Available is false
// where the adapter is not built.
func Info() reactor.Info {
	info := reactor.Info{
		Name:        Name,
		Model:       "multi-reactor: N edge-triggered epoll pollers own their connections; the adapter accepts, reads into the poller's buffer and gathers each turn's writes into one writev; lesismal/nbio",
		Progression: "epoll reactor, one loop per core",
		Available:   available,
	}
	if !available {
		info.Reason = "the nbio adapter is built for Linux only, not " + runtime.GOOS
	}
	return info
}
