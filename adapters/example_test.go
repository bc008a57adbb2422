package adapters_test

import (
	"fmt"

	"github.com/reactorlab/reactor/adapters"
	"github.com/reactorlab/reactor/reactor"
)

func ExampleRegistry() {
	reg := adapters.Registry()
	fmt.Println(reg.Names())

	// std runs everywhere; the others report, off Linux, why they do not.
	b, err := reg.New("std", reactor.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(b.Info().Model)
	// Output:
	// [busypoll epoll evio gnet nbio netpoll poll process select std thread uring]
	// goroutine per connection on the net package (runtime netpoller)
}
