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

// A room on the classic wire: the frames a classic Python chat client sends and reads.
func Example_classic() {
	room := chat.New(chat.Config{Wire: chat.Classic})
	alice := conntest.Open(room, "127.0.0.1:5001")
	bob := conntest.Open(room, "127.0.0.1:5002")
	alice.Feed(chat.AppendClassic(nil, []byte("NAME: alice")))
	bob.Feed(chat.AppendClassic(nil, []byte("NAME: bob")))
	bob.C.TakeOutput()
	alice.Feed(chat.AppendClassic(nil, []byte("hi bob")))
	frame := bob.C.Output()
	n, _ := chat.ClassicFrameLen(frame, chat.DefaultMaxClassicFrame)
	text, _ := chat.DecodeClassic(nil, frame[chat.ClassicHeaderLen:chat.ClassicHeaderLen+n])
	fmt.Printf("% x\n%q\n%q\n", frame[:chat.ClassicHeaderLen], frame[chat.ClassicHeaderLen:], text)
	// Output:
	// 00 00 00 2b 00 00 00 00
	// "(V\\u000a#[alice@127.0.0.1]>>hi bob\np0\ntp1\n."
	// "\n#[alice@127.0.0.1]>>hi bob"
}

// DecodeClassic reads what Python 3's pickle.dumps(("hello",)) writes (protocol 4), and refuses
// a pickle that would run code.
func ExampleDecodeClassic() {
	text, err := chat.DecodeClassic(nil, []byte("\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00\x8c\x05hello\x94\x85\x94."))
	fmt.Printf("%q %v\n", text, err)
	_, err = chat.DecodeClassic(nil, []byte("cos\nsystem\n(Vls\ntR."))
	fmt.Println(err)
	// Output:
	// "hello" <nil>
	// chat: not a pickled tuple of strings: opcode 0x63 ('c') at offset 0 is not one a tuple of strings is pickled with
}
