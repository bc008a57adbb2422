package adapters

import (
	"github.com/reactorlab/reactor/adapters/epoll"
	"github.com/reactorlab/reactor/adapters/evioloop"
	"github.com/reactorlab/reactor/adapters/gnetloop"
	"github.com/reactorlab/reactor/adapters/nbioloop"
	"github.com/reactorlab/reactor/adapters/netpoller"
	"github.com/reactorlab/reactor/adapters/stdnet"
	"github.com/reactorlab/reactor/reactor"
)

// Registry returns a new registry holding every backend of this module: epoll, poll and
// select (the hand-written reactor), gnet, netpoll, evio, nbio and std. Backends that do not run on
// this operating system are registered too, with Info.Available false and Info.Reason saying
// why; Registry.New refuses them with reactor.ErrNotSupported. Each call returns a registry of
// its own, so a caller may Register more backends in it.
func Registry() *reactor.Registry {
	var r reactor.Registry
	r.Register(epoll.Info(), epoll.New)
	r.Register(epoll.PollInfo(), epoll.NewPoll)
	r.Register(epoll.SelectInfo(), epoll.NewSelect)
	r.Register(stdnet.Info(), stdnet.New)
	r.Register(gnetloop.Info(), gnetloop.New)
	r.Register(netpoller.Info(), netpoller.New)
	r.Register(evioloop.Info(), evioloop.New)
	r.Register(nbioloop.Info(), nbioloop.New)
	return &r
}
