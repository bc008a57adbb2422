// Package lifecycle is the part of a library adapter's Backend that does not depend on the
// library it wraps: Start runs once, every Shutdown keeps the reactor.Backend contract however
// many there are, Wait reports how the backend ended, and Shutdown drains the live
// connections. Each adapter keeps what is its library's: how it listens, how it closes a
// connection, how it stops the library's loops.
package lifecycle

import (
	"context"
	"sync"

	"github.com/reactorlab/reactor/reactor"
)

// State is where a backend stands between Start, Shutdown and Wait. The zero value is a
// backend not yet started. Safe from any goroutine.
type State struct {
	mu       sync.Mutex
	started  bool          // Start or Shutdown was called: Start may not run again
	starting chan struct{} // closed once the Start that ran has returned; nil when none ran
	claimed  bool          // a Shutdown or a failure has taken on stopping the backend
	err      error         // what Wait returns
	done     chan struct{} // closed by the first Finish; made on first use
}

// Start claims the backend's one start, or fails with reactor.ErrAlreadyStarted after an
// earlier Start or Shutdown. After a nil error the caller must call Started as its Start
// returns, whether it succeeded or not (a defer): Shutdown waits for that, so that it never
// finds a backend half started.
func (s *State) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return reactor.ErrAlreadyStarted
	}
	s.started = true
	s.starting = make(chan struct{})
	return nil
}

// Started says the Start that Start let run has returned.
func (s *State) Started() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.starting)
}

// Shutdown decides what a call to the backend's Shutdown does. It returns true to the one
// call that is to stop the backend, which does so and then calls Finish. Every other call
// returns false with the error Shutdown is to return:
//   - before Start, the backend ends at once (Wait reports reactor.ErrServerClosed, and Start
//     is refused from then on), with a nil error;
//   - once another Shutdown or a failure (Failed) has taken the stop on, or the backend has
//     finished, it waits for Finish and returns nil — or, when ctx ends first, calls abort
//     (when not nil) to close the connections still open at once, waits for Finish all the
//     same and returns ctx's error. So each call keeps the contract that no goroutine of the
//     backend outlives it, under the deadline of its own context.
func (s *State) Shutdown(ctx context.Context, abort func()) (bool, error) {
	s.mu.Lock()
	if !s.started {
		s.started, s.claimed = true, true
		s.finishLocked(reactor.ErrServerClosed)
		s.mu.Unlock()
		return false, nil
	}
	starting := s.starting
	s.mu.Unlock()
	if starting != nil {
		<-starting
	}

	s.mu.Lock()
	done := s.doneLocked()
	first := !s.claimed && !isClosed(done)
	s.claimed = true
	s.mu.Unlock()
	if first {
		return true, nil
	}
	select {
	case <-done:
		return false, nil
	case <-ctx.Done():
	}
	if abort != nil {
		abort()
	}
	<-done
	return false, ctx.Err()
}

// Failed takes on stopping a backend that failed on its own, as the first Shutdown would: it
// reports false when a Shutdown or another failure has already taken it on. After true, the
// caller stops what is left and calls Finish with the failure; Shutdown calls wait for that.
func (s *State) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.claimed {
		return false
	}
	s.claimed = true
	return true
}

// Stopping reports whether a Shutdown or a failure has taken on stopping the backend.
func (s *State) Stopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claimed
}

// Finish ends the backend with err, what Wait returns; calls after the first change nothing.
// Call it once nothing of the backend is left running.
func (s *State) Finish(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finishLocked(err)
}

func (s *State) finishLocked(err error) {
	if done := s.doneLocked(); !isClosed(done) {
		s.err = err
		close(done)
	}
}

// Done is closed by the first Finish.
func (s *State) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.doneLocked()
}

// Wait blocks until Finish and returns its error.
func (s *State) Wait() error {
	<-s.Done()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *State) doneLocked() chan struct{} {
	if s.done == nil {
		s.done = make(chan struct{})
	}
	return s.done
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
