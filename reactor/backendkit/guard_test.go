package backendkit_test

import (
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/reactorlab/reactor/reactor"
	"github.com/reactorlab/reactor/reactor/backendkit"
	"github.com/reactorlab/reactor/reactor/conntest"
)

type panicky struct{ consumed int }

func (panicky) OnOpen(reactor.Conn) { panic("open") }
func (p panicky) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	if p.consumed < 0 {
		panic("data")
	}
	return p.consumed, reactor.None
}
func (panicky) OnClose(reactor.Conn, error) { panic("close") }

// halfCloser answers OnReadEOF with a, or panics when panics is set.
type halfCloser struct {
	reactor.NopHandler
	a      reactor.Action
	panics bool
}

func (h halfCloser) OnReadEOF(reactor.Conn) reactor.Action {
	if h.panics {
		panic("read EOF")
	}
	return h.a
}

func TestGuardedCalls(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := conntest.NewConn("")
	if err := backendkit.CallOpen(log, panicky{}, c); !errors.Is(err, reactor.ErrHandlerPanic) {
		t.Errorf("CallOpen of a panicking OnOpen = %v; want ErrHandlerPanic", err)
	}
	if _, _, err := backendkit.CallData(log, panicky{consumed: -1}, c, []byte("x")); !errors.Is(err, reactor.ErrHandlerPanic) {
		t.Errorf("CallData of a panicking OnData = %v; want ErrHandlerPanic", err)
	}
	if _, _, err := backendkit.CallData(log, panicky{consumed: 2}, c, []byte("x")); !errors.Is(err, reactor.ErrHandlerPanic) {
		t.Errorf("CallData consuming 2 of 1 bytes = %v; want an error", err)
	}
	if n, a, err := backendkit.CallData(log, panicky{consumed: 1}, c, []byte("x")); n != 1 || a != reactor.None || err != nil {
		t.Errorf("CallData = %d, %v, %v; want 1, none, nil", n, a, err)
	}
	backendkit.CallClose(log, panicky{}, c, nil) // must not panic
	if _, err := backendkit.CallReadEOF(log, halfCloser{panics: true}, c); !errors.Is(err, reactor.ErrHandlerPanic) {
		t.Errorf("CallReadEOF of a panicking OnReadEOF = %v; want ErrHandlerPanic", err)
	}
	for _, want := range []reactor.Action{reactor.None, reactor.Close} {
		if a, err := backendkit.CallReadEOF(log, halfCloser{a: want}, c); a != want || err != nil {
			t.Errorf("CallReadEOF = %v, %v; want %v, nil", a, err, want)
		}
	}
}
