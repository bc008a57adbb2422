package reactortest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/reactorlab/reactor/reactor"
)

// OrderChecker wraps a handler and checks, on every connection, the callback order of
// reactor's contract point 1: OnOpen once, then OnData zero or more times (never with no
// bytes), then OnClose once, and never two callbacks of one connection at a time. It passes
// every call on to the handler it wraps and remembers what went wrong; Check reports it.
// Connections are told apart by their Conn value.
//
// Serve an OrderChecker in place of the handler, from a test that runs on every backend:
//
//	oc := reactortest.NewOrderChecker(myproto.New())
//	b, addr := reactortest.Start(t, newBackend, reactor.Config{}, oc)
//	… talk to addr …
//	reactortest.Stop(t, b) // every OnClose has run once Shutdown returns
//	oc.Check(t)
//
// Its methods are safe from any goroutine.
type OrderChecker struct {
	inner reactor.Handler

	mu       sync.Mutex
	state    map[reactor.Conn]*connState
	opened   int
	closed   int
	causes   []error
	problems []string
}

type connState struct {
	open, closed bool
	readEOF      bool // OnReadEOF was called (halfCloseChecker)
	busy         atomic.Bool
}

// NewOrderChecker returns an OrderChecker passing every callback on to h.
func NewOrderChecker(h reactor.Handler) *OrderChecker {
	return &OrderChecker{inner: h, state: map[reactor.Conn]*connState{}}
}

func (oc *OrderChecker) problem(format string, args ...any) {
	oc.mu.Lock()
	oc.problems = append(oc.problems, fmt.Sprintf(format, args...))
	oc.mu.Unlock()
}

func (oc *OrderChecker) enter(c reactor.Conn, what string) *connState {
	oc.mu.Lock()
	st := oc.state[c]
	if st == nil {
		st = &connState{}
		oc.state[c] = st
	}
	oc.mu.Unlock()
	if !st.busy.CompareAndSwap(false, true) {
		oc.problem("%s called while another callback of the same connection was running", what)
	}
	return st
}

// OnOpen records the open and calls the wrapped handler's OnOpen.
func (oc *OrderChecker) OnOpen(c reactor.Conn) {
	st := oc.enter(c, "OnOpen")
	defer st.busy.Store(false)
	oc.mu.Lock()
	if st.open || st.closed {
		oc.problems = append(oc.problems, "OnOpen called twice, or after OnClose")
	}
	st.open = true
	oc.opened++
	oc.mu.Unlock()
	oc.inner.OnOpen(c)
}

// OnData checks the connection is open and calls the wrapped handler's OnData.
func (oc *OrderChecker) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	st := oc.enter(c, "OnData")
	defer st.busy.Store(false)
	oc.mu.Lock()
	if !st.open || st.closed {
		oc.problems = append(oc.problems, "OnData before OnOpen or after OnClose")
	}
	if st.readEOF {
		oc.problems = append(oc.problems, "OnData after OnReadEOF")
	}
	oc.mu.Unlock()
	if len(in) == 0 {
		oc.problem("OnData called with no bytes")
	}
	return oc.inner.OnData(c, in)
}

// OnClose records the close and its cause and calls the wrapped handler's OnClose.
func (oc *OrderChecker) OnClose(c reactor.Conn, err error) {
	st := oc.enter(c, "OnClose")
	defer st.busy.Store(false)
	oc.mu.Lock()
	if !st.open {
		oc.problems = append(oc.problems, "OnClose without OnOpen")
	}
	if st.closed {
		oc.problems = append(oc.problems, "OnClose called twice")
	}
	st.closed = true
	oc.closed++
	oc.causes = append(oc.causes, err)
	oc.mu.Unlock()
	oc.inner.OnClose(c, err)
}

// OnDrain checks the connection is open and, where the wrapped handler is a reactor.Drainer,
// calls its OnDrain. Wrapping makes every handler a Drainer to the backend, so OnDrain's order
// is checked on every connection, wanted or not.
func (oc *OrderChecker) OnDrain(c reactor.Conn) {
	st := oc.enter(c, "OnDrain")
	defer st.busy.Store(false)
	oc.mu.Lock()
	if !st.open || st.closed {
		oc.problems = append(oc.problems, "OnDrain before OnOpen or after OnClose")
	}
	oc.mu.Unlock()
	if d, ok := oc.inner.(reactor.Drainer); ok {
		d.OnDrain(c)
	}
}

// halfCloseChecker is an OrderChecker for a handler that is a reactor.HalfCloser, which it is
// too: OnReadEOF is checked like the other callbacks, and comes at most once, after OnOpen,
// before OnClose and after every OnData.
type halfCloseChecker struct{ *OrderChecker }

// halfCloseHandler is a Handler that is a HalfCloser.
type halfCloseHandler interface {
	reactor.Handler
	reactor.HalfCloser
}

func newHalfCloseChecker(h halfCloseHandler) halfCloseChecker {
	return halfCloseChecker{NewOrderChecker(h)}
}

// OnReadEOF checks the connection is open and calls the wrapped handler's OnReadEOF.
func (hc halfCloseChecker) OnReadEOF(c reactor.Conn) reactor.Action {
	st := hc.enter(c, "OnReadEOF")
	defer st.busy.Store(false)
	hc.mu.Lock()
	if !st.open || st.closed {
		hc.problems = append(hc.problems, "OnReadEOF before OnOpen or after OnClose")
	}
	if st.readEOF {
		hc.problems = append(hc.problems, "OnReadEOF called twice")
	}
	st.readEOF = true
	hc.mu.Unlock()
	return hc.inner.(reactor.HalfCloser).OnReadEOF(c)
}

// guard wraps f, a function that c's owner runs for a Post or an AfterFunc (what names which),
// so that it is checked like a callback: never while another of c's callbacks runs, never
// before OnOpen or after OnClose, and given c itself. c is the connection f was handed to,
// from one of its callbacks (or OnOpen's Conn held by the test).
func (oc *OrderChecker) guard(c reactor.Conn, what string, f func(reactor.Conn)) func(reactor.Conn) {
	return func(got reactor.Conn) {
		st := oc.enter(c, what)
		defer st.busy.Store(false)
		oc.mu.Lock()
		if !st.open || st.closed {
			oc.problems = append(oc.problems, what+" ran before OnOpen or after OnClose")
		}
		oc.mu.Unlock()
		if got != c {
			oc.problem("%s was given a Conn other than the one it was arranged on", what)
		}
		f(got)
	}
}

// Counts returns how many connections were opened and closed so far. A test that checks
// while the server still runs waits for closed to reach opened first, so that every
// connection's story is complete.
func (oc *OrderChecker) Counts() (opened, closed int) {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	return oc.opened, oc.closed
}

// causeList returns the causes OnClose was given so far.
func (oc *OrderChecker) causeList() []error {
	oc.mu.Lock()
	defer oc.mu.Unlock()
	return append([]error(nil), oc.causes...)
}

// Check reports every order violation seen so far to t, one Errorf each.
func (oc *OrderChecker) Check(t testing.TB) {
	t.Helper()
	oc.mu.Lock()
	defer oc.mu.Unlock()
	for _, p := range oc.problems {
		t.Errorf("contract violation: %s", p)
	}
}

// funcHandler builds a handler from functions; nil ones do nothing (OnData then consumes all).
type funcHandler struct {
	open  func(reactor.Conn)
	data  func(reactor.Conn, []byte) (int, reactor.Action)
	close func(reactor.Conn, error)
}

func (f funcHandler) OnOpen(c reactor.Conn) {
	if f.open != nil {
		f.open(c)
	}
}

func (f funcHandler) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	if f.data != nil {
		return f.data(c, in)
	}
	return len(in), reactor.None
}

func (f funcHandler) OnClose(c reactor.Conn, err error) {
	if f.close != nil {
		f.close(c, err)
	}
}
