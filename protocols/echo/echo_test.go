package echo

import (
	"bytes"
	"testing"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/conntest"
)

func TestEchoesEverythingInOrder(t *testing.T) {
	d := conntest.Open(Handler{}, "")
	var want []byte
	for i := 0; i < 100; i++ {
		p := bytes.Repeat([]byte{byte(i)}, i)
		want = append(want, p...)
		if a := d.Feed(p); a != reactor.None {
			t.Fatalf("Feed #%d: action %v; want none", i, a)
		}
	}
	if got := d.C.Output(); !bytes.Equal(got, want) {
		t.Fatalf("echoed %d bytes that differ from the %d sent", len(got), len(want))
	}
	if len(d.Tail) != 0 {
		t.Fatalf("%d bytes left unconsumed; want 0", len(d.Tail))
	}
}

func TestClosesWhenWriteFails(t *testing.T) {
	d := conntest.Open(Handler{}, "")
	d.C.MaxOutbound = 4
	if a := d.Feed([]byte("too long")); a != reactor.Close {
		t.Fatalf("action %v after a failed write; want close", a)
	}
}
