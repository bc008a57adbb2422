package discard

import (
	"testing"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/conntest"
)

func TestDiscardsAndCounts(t *testing.T) {
	var h Handler
	a := conntest.Open(&h, "127.0.0.1:1")
	b := conntest.Open(&h, "127.0.0.1:2")
	for _, p := range []string{"hello\n", "", "\x00\xff binary", "NAME: x\n"} {
		if act := a.Feed([]byte(p)); act != reactor.None {
			t.Fatalf("Feed(%q) = %v; want none", p, act)
		}
	}
	b.Feed(make([]byte, 1<<16))
	if len(a.Tail) != 0 || len(b.Tail) != 0 {
		t.Errorf("unconsumed input %d, %d bytes; want everything consumed", len(a.Tail), len(b.Tail))
	}
	if out := append(a.C.Output(), b.C.Output()...); len(out) != 0 {
		t.Errorf("sent %q; want nothing", out)
	}
	if got, want := h.Stats(), (Stats{Conns: 2, Bytes: 6 + 9 + 8 + 1<<16}); got != want {
		t.Errorf("Stats() = %+v; want %+v", got, want)
	}
}

func TestDiscardAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under -race; CI checks them in a pass without it")
	}
	var h Handler
	c := conntest.NewConn("")
	h.OnOpen(c)
	in := make([]byte, 4096)
	if allocs := testing.AllocsPerRun(100, func() { h.OnData(c, in) }); allocs != 0 {
		t.Errorf("OnData allocated %.1f times; want 0", allocs)
	}
}
