package adapters

import (
	"github.com/reactorlab/reactor/adapters/epoll"
	"github.com/reactorlab/reactor/adapters/evioloop"
	"github.com/reactorlab/reactor/adapters/gnetloop"
	"github.com/reactorlab/reactor/adapters/nbioloop"
	"github.com/reactorlab/reactor/adapters/netpoller"
	"github.com/reactorlab/reactor/adapters/process"
	"github.com/reactorlab/reactor/adapters/stdnet"
	"github.com/reactorlab/reactor/reactor"
)

// Registry returns a new registry holding every backend of this module: epoll, poll, select,
// uring, thread and busypoll (the hand-written reactor's loop and connections), process (a
// child process per connection, available once process.SetLauncher is called), gnet, netpoll,
// evio, nbio and std. Backends that do not run here are registered too, with Info.Available false
// and Info.Reason saying why; Registry.New refuses them with reactor.ErrNotSupported. Each
// call returns a registry of its own, so a caller may Register more backends in it.
func Registry() *reactor.Registry {
	var r reactor.Registry
	r.Register(epoll.Info(), epoll.New)
	r.Register(epoll.PollInfo(), epoll.NewPoll)
	r.Register(epoll.SelectInfo(), epoll.NewSelect)
	r.Register(epoll.URingInfo(), epoll.NewURing)
	r.Register(epoll.ThreadInfo(), epoll.NewThread)
	r.Register(epoll.BusyPollInfo(), epoll.NewBusyPoll)
	r.Register(stdnet.Info(), stdnet.New)
	r.Register(gnetloop.Info(), gnetloop.New)
	r.Register(netpoller.Info(), netpoller.New)
	r.Register(evioloop.Info(), evioloop.New)
	r.Register(process.Info(), process.New)
	r.Register(nbioloop.Info(), nbioloop.New)
	return &r
}
