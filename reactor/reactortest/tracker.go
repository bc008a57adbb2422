package reactortest

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/reactorlab/reactor/reactor"
)

// tracker wraps a handler and checks the callback order of contract point 1 on every
// connection: OnOpen once, then OnData, then OnClose once, never two at a time.
type tracker struct {
	inner reactor.Handler

	mu       sync.Mutex
	state    map[reactor.Conn]*connState
	opened   int
	closed   int
	causes   []error
	problems []string
	closedCh chan reactor.Conn
}

type connState struct {
	open, closed bool
	busy         atomic.Bool
}

func newTracker(inner reactor.Handler) *tracker {
	return &tracker{inner: inner, state: map[reactor.Conn]*connState{}, closedCh: make(chan reactor.Conn, 4096)}
}

func (tr *tracker) problem(format string, args ...any) {
	tr.mu.Lock()
	tr.problems = append(tr.problems, fmt.Sprintf(format, args...))
	tr.mu.Unlock()
}

func (tr *tracker) enter(c reactor.Conn, what string) *connState {
	tr.mu.Lock()
	st := tr.state[c]
	if st == nil {
		st = &connState{}
		tr.state[c] = st
	}
	tr.mu.Unlock()
	if !st.busy.CompareAndSwap(false, true) {
		tr.problem("%s called while another callback of the same connection was running", what)
	}
	return st
}

func (tr *tracker) OnOpen(c reactor.Conn) {
	st := tr.enter(c, "OnOpen")
	defer st.busy.Store(false)
	tr.mu.Lock()
	if st.open || st.closed {
		tr.problems = append(tr.problems, "OnOpen called twice, or after OnClose")
	}
	st.open = true
	tr.opened++
	tr.mu.Unlock()
	tr.inner.OnOpen(c)
}

func (tr *tracker) OnData(c reactor.Conn, in []byte) (int, reactor.Action) {
	st := tr.enter(c, "OnData")
	defer st.busy.Store(false)
	tr.mu.Lock()
	if !st.open || st.closed {
		tr.problems = append(tr.problems, "OnData before OnOpen or after OnClose")
	}
	tr.mu.Unlock()
	if len(in) == 0 {
		tr.problem("OnData called with no bytes")
	}
	return tr.inner.OnData(c, in)
}

func (tr *tracker) OnClose(c reactor.Conn, err error) {
	st := tr.enter(c, "OnClose")
	defer st.busy.Store(false)
	tr.mu.Lock()
	if !st.open {
		tr.problems = append(tr.problems, "OnClose without OnOpen")
	}
	if st.closed {
		tr.problems = append(tr.problems, "OnClose called twice")
	}
	st.closed = true
	tr.closed++
	tr.causes = append(tr.causes, err)
	tr.mu.Unlock()
	tr.inner.OnClose(c, err)
	select {
	case tr.closedCh <- c:
	default:
	}
}

// counts returns how many connections were opened and closed.
func (tr *tracker) counts() (opened, closed int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.opened, tr.closed
}

// causeList returns the causes OnClose was given so far.
func (tr *tracker) causeList() []error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]error(nil), tr.causes...)
}

// check reports every order violation seen.
func (tr *tracker) check(t testingT) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, p := range tr.problems {
		t.Errorf("contract violation: %s", p)
	}
}

type testingT interface{ Errorf(string, ...any) }

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
