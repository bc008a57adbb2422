package reactortest

import (
	"testing"

	"github.com/reactorlab/reactor/reactor"
)

// ForEachBackend runs fn as a subtest, named after the backend, for every backend in reg, so
// that a protocol's own tests run on each of them. newBackend constructs the subtest's backend
// from a Config; hand it to Start. A backend that does not run here is a subtest that skips
// with the reason (go test -v shows it), never one left out without a word.
//
// The registry is an argument, not this package's choice: pass adapters.Registry() for every
// backend of this module, or a registry of your own. (This package cannot import package
// adapters itself: each adapter's tests import reactortest, and adapters imports each adapter.)
func ForEachBackend(t *testing.T, reg *reactor.Registry, fn func(t *testing.T, newBackend reactor.Constructor)) {
	t.Helper()
	for _, info := range reg.Infos() {
		t.Run(info.Name, func(t *testing.T) {
			if !info.Available {
				t.Skipf("backend %s is not available here: %s", info.Name, info.Reason)
			}
			fn(t, func(cfg reactor.Config) (reactor.Backend, error) { return reg.New(info.Name, cfg) })
		})
	}
}
