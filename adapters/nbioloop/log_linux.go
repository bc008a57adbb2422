//go:build linux

package nbioloop

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/lesismal/nbio/logging"

	"github.com/reactorlab/reactor/internal/ratelog"
)

// nbio logs through one process-wide logger. The adapter installs logAdapter once and points
// it at the Config.Logger of the backend started last, so with two nbio servers in a process
// the later one receives nbio's messages.
var (
	installLog sync.Once
	logTarget  atomic.Pointer[slog.Logger]
	logLimit   ratelog.Limiter
)

func setLogger(l *slog.Logger) {
	logTarget.Store(l)
	installLog.Do(func() { logging.SetLogger(logAdapter{}) })
}

// logAdapter routes nbio's messages to slog: its start and stop notes (Info) go to Debug, so
// that a default logger stays quiet; warnings and errors pass at most once a second.
type logAdapter struct{}

func (logAdapter) Debug(format string, v ...any) { emit(slog.LevelDebug, format, v) }
func (logAdapter) Info(format string, v ...any)  { emit(slog.LevelDebug, format, v) }
func (logAdapter) Warn(format string, v ...any)  { emit(slog.LevelWarn, format, v) }
func (logAdapter) Error(format string, v ...any) { emit(slog.LevelError, format, v) }

func emit(level slog.Level, format string, v []any) {
	l := logTarget.Load()
	ctx := context.Background()
	if l == nil || !l.Enabled(ctx, level) {
		return
	}
	msg := "nbio: " + fmt.Sprintf(format, v...)
	if level < slog.LevelWarn {
		l.Log(ctx, level, msg)
		return
	}
	if n, ok := logLimit.Allow(); ok {
		l.Log(ctx, level, msg, "suppressed", n)
	}
}
