package lifecycle

import (
	"sync"

	"github.com/reactorlab/reactor/reactor"
)

// Conn is what Conns needs of an adapter's connection type.
type Conn interface {
	comparable
	// Abort closes the connection at once; safe from any goroutine (reactor.Conn's Abort).
	Abort(cause error)
}

// Conns is a backend's set of live connections: the ones Shutdown closes and then waits for.
// The zero value is empty and admits connections. Safe from any goroutine.
type Conns[C Conn] struct {
	mu      sync.Mutex
	live    map[C]struct{}
	closed  bool          // Close was called: Add turns connections away
	drained chan struct{} // closed once closed and live is empty; made on first use
}

// Add counts c as live and reports true, or reports false once Close was called: the adapter
// then turns c away before the handler sees it.
func (s *Conns[C]) Add(c C) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.live == nil {
		s.live = map[C]struct{}{}
	}
	s.live[c] = struct{}{}
	return true
}

// Remove forgets c, which has closed.
func (s *Conns[C]) Remove(c C) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.live, c)
	s.checkLocked()
}

// Close turns away every connection offered to Add from now on and returns the live ones,
// for the caller to close; Drained is closed once the last of them is removed. A second
// Close returns the ones still live.
func (s *Conns[C]) Close() []C {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.checkLocked()
	return s.listLocked()
}

// Abort aborts every live connection with reactor.ErrServerClosed, for a Shutdown out of time.
// It calls Abort outside the set's lock, as an adapter's Abort may end in Remove.
func (s *Conns[C]) Abort() {
	s.mu.Lock()
	list := s.listLocked()
	s.mu.Unlock()
	for _, c := range list {
		c.Abort(reactor.ErrServerClosed)
	}
}

// Drained is closed once Close was called and no connection is left.
func (s *Conns[C]) Drained() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drainedLocked()
}

func (s *Conns[C]) listLocked() []C {
	list := make([]C, 0, len(s.live))
	for c := range s.live {
		list = append(list, c)
	}
	return list
}

func (s *Conns[C]) drainedLocked() chan struct{} {
	if s.drained == nil {
		s.drained = make(chan struct{})
	}
	return s.drained
}

func (s *Conns[C]) checkLocked() {
	if d := s.drainedLocked(); s.closed && len(s.live) == 0 && !isClosed(d) {
		close(d)
	}
}
