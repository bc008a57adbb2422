package gnetloop

import (
	"runtime"

	"github.com/reactorlab/reactor/reactor"
)

// Name is the backend name users type.
const Name = "gnet"

// Info describes the backend. It is callable on every operating system; Available is false
// where the adapter is not built.
func Info() reactor.Info {
	info := reactor.Info{
		Name:        Name,
		Model:       "multi-reactor: the adapter accepts and enrolls each connection with one of N epoll event loops (level-triggered, edge-triggered on request) that own them; gnet v2",
		Progression: "epoll reactor, one loop per core",
		Available:   available,
		Unsupported: []string{"PauseRead with EdgeTriggered"},
	}
	if !available {
		info.Reason = "the gnet adapter is built for Linux only, not " + runtime.GOOS
	}
	return info
}
