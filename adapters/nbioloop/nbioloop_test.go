//go:build linux

package nbioloop

import (
	"testing"

	"github.com/reactorlab/reactor/reactor"
)

func TestInfo(t *testing.T) {
	info := Info()
	if info.Name != "nbio" || !info.Available || info.Model == "" || info.Progression == "" {
		t.Errorf("Info() = %+v; want name nbio, available, with a model and a progression step", info)
	}
	if len(info.Unsupported) != 0 {
		t.Errorf("Info().Unsupported = %q; want nothing: every option and contract point is honoured", info.Unsupported)
	}
}

// TestLayout: the nbio in the build is the one whose unexported fields the adapter reaches
// (the poller's epoll descriptor); with another, Start fails with ErrNotSupported.
func TestLayout(t *testing.T) {
	if epfdPath == nil {
		t.Fatalf("nbio.Conn's layout is not v1.6.8's: %v", errLayout)
	}
	b, err := New(reactor.Config{Loops: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Start(reactor.NopHandler{}); err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown(t.Context())
	seen := map[int]bool{}
	for i, lp := range b.(*backend).loops {
		if lp.epfd <= 0 || seen[lp.epfd] {
			t.Errorf("loop %d: epoll descriptor %d; want one of its own", i, lp.epfd)
		}
		seen[lp.epfd] = true
		if lp.ctl.Hash()%3 != i {
			t.Errorf("loop %d: control connection on poller %d", i, lp.ctl.Hash()%3)
		}
	}
}
