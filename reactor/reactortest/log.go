package reactortest

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// discardLogger keeps deliberate panics from filling the test log with stacks.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// logCapture keeps what a logger writes, for scenarios that check what was logged. Safe from
// any goroutine.
type logCapture struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logCapture) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// logger returns a text logger, debug level and up, writing to l.
func (l *logCapture) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// expect waits up to 5s for a line holding every one of parts, and reports an error with
// what was logged if none comes.
func (l *logCapture) expect(t *testing.T, parts ...string) {
	t.Helper()
	has := func() bool {
		for _, line := range strings.Split(l.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return true
			}
		}
		return false
	}
	if !eventually(5*time.Second, has) {
		t.Errorf("no log line with %q; logged:\n%s", parts, l.String())
	}
}
