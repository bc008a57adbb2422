package chat_test

import (
	"fmt"

	"github.com/reactorlab/reactor/protocols/chat"
	"github.com/reactorlab/reactor/reactor/conntest"
)

func Example() {
	room := chat.New(chat.Config{})
	alice := conntest.Open(room, "127.0.0.1:5001")
	bob := conntest.Open(room, "127.0.0.1:5002")
	alice.Feed([]byte("NAME: alice\n"))
	bob.Feed([]byte("NAME: bob\n"))
	bob.C.TakeOutput()
	alice.Feed([]byte("hi bob\n"))
	fmt.Printf("%s", bob.C.Output())
	// Output: alice: hi bob
}
