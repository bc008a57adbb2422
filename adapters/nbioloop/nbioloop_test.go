//go:build linux

package nbioloop

import (
	"testing"

	"golang.org/x/sys/unix"

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
	b, err := New(reactor.Config{Loops: 2})
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
		if lp.ctl.Hash()%2 != i {
			t.Errorf("loop %d: control connection on poller %d", i, lp.ctl.Hash()%2)
		}
	}
}

// TestControlsOnEveryPoller: a control connection lands on every poller, whatever the loop
// count and however the descriptor numbers fall (holes left by closed ones included).
func TestControlsOnEveryPoller(t *testing.T) {
	var holes []int
	for range 7 {
		fds := make([]int, 2)
		if err := unix.Pipe2(fds, unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		holes = append(holes, fds[1])
		defer unix.Close(fds[0])
	}
	for _, fd := range holes {
		unix.Close(fd) // every other number free: a pattern that lands pairs on one residue
	}
	for _, n := range []int{1, 2, 3, 4, 5, 8} {
		ctl, wake, err := newControls(n)
		if err != nil {
			t.Fatalf("%d pollers: %v", n, err)
		}
		for i, c := range ctl {
			if c.Hash()%n != i {
				t.Errorf("%d pollers: control %d on poller %d", n, i, c.Hash()%n)
			}
			c.Close()
			unix.Close(wake[i])
		}
	}
}
