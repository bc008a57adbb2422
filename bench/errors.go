package bench

import (
	"sync"
	"sync/atomic"
)

// errKind classifies what a load generator found wrong. A response that fails validation is
// counted here and never as throughput: a fast wrong answer is a failure.
type errKind int

const (
	errConnect   errKind = iota // could not connect
	errStatus                   // HTTP status other than 200
	errBody                     // HTTP body other than the expected one
	errMalformed                // a response that does not parse
	errClosed                   // the server closed a connection that should have stayed open
	errTimeout                  // responses still missing when the run's grace period ended
	errMismatch                 // echo bytes differ from those sent
	errMissed                   // chat: a line missing or out of order
	errDropped                  // chat: a member's connection ended during the run
	errIO                       // another read or write error
	errAudit                    // the server's own counters differ from the load generator's
	numErrKinds
)

var errKindNames = [numErrKinds]string{
	errConnect:   "connect",
	errStatus:    "bad-status",
	errBody:      "bad-body",
	errMalformed: "malformed",
	errClosed:    "closed",
	errTimeout:   "no-response",
	errMismatch:  "wrong-bytes",
	errMissed:    "missed-line",
	errDropped:   "dropped",
	errIO:        "io",
	errAudit:     "audit-mismatch",
}

func (k errKind) String() string { return errKindNames[k] }

// tally counts errors by kind from many goroutines and keeps the first message of each kind.
type tally struct {
	counts [numErrKinds]atomic.Int64

	mu    sync.Mutex
	first [numErrKinds]string
}

// add counts n errors of kind k; msg describes the first one.
func (t *tally) add(k errKind, n int64, msg string) {
	if n <= 0 {
		return
	}
	if t.counts[k].Add(n) == n {
		t.mu.Lock()
		if t.first[k] == "" {
			t.first[k] = msg
		}
		t.mu.Unlock()
	}
}

// total returns the number of errors of every kind.
func (t *tally) total() int64 {
	var n int64
	for i := range t.counts {
		n += t.counts[i].Load()
	}
	return n
}

// byKind returns the non-zero counts by name and a sample message of each.
func (t *tally) byKind() (map[string]int64, map[string]string) {
	counts := map[string]int64{}
	samples := map[string]string{}
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := errKind(0); k < numErrKinds; k++ {
		if n := t.counts[k].Load(); n > 0 {
			counts[k.String()] = n
			if t.first[k] != "" {
				samples[k.String()] = t.first[k]
			}
		}
	}
	return counts, samples
}
