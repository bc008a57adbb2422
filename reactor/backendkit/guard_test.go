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
func (p panicky) OnReadEOF(reactor.Conn) reactor.Action {
	if p.consumed < 0 {
		panic("eof")
	}
	return reactor.Close
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
	if _, err := backendkit.CallReadEOF(log, panicky{consumed: -1}, c); !errors.Is(err, reactor.ErrHandlerPanic) {
		t.Errorf("CallReadEOF of a panicking OnReadEOF = %v; want ErrHandlerPanic", err)
	}
	if a, err := backendkit.CallReadEOF(log, panicky{}, c); a != reactor.Close || err != nil {
		t.Errorf("CallReadEOF = %v, %v; want close, nil", a, err)
	}
	backendkit.CallClose(log, panicky{}, c, nil) // must not panic
}
