//go:build linux

package gnetloop

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/reactorlab/reactor/internal/ratelog"
)

// logAdapter routes gnet's logging (its logging.Logger interface) to the backend's slog
// logger, so gnet prints nothing of its own. gnet's start-up banner and per-loop exit notes
// are Info and Debug; they go to slog's Debug so that a default logger stays quiet. Warnings
// and errors pass at most once a second with a count of those held back: gnet logs some of
// them per connection (a socket it cannot register, a close that fails).
type logAdapter struct {
	log   *slog.Logger
	limit *ratelog.Limiter
}

func newLogAdapter(l *slog.Logger) logAdapter {
	return logAdapter{log: l, limit: new(ratelog.Limiter)}
}

func (l logAdapter) Debugf(format string, args ...any) { l.emit(slog.LevelDebug, format, args) }
func (l logAdapter) Infof(format string, args ...any)  { l.emit(slog.LevelDebug, format, args) }
func (l logAdapter) Warnf(format string, args ...any)  { l.emit(slog.LevelWarn, format, args) }
func (l logAdapter) Errorf(format string, args ...any) { l.emit(slog.LevelError, format, args) }

// Fatalf is reported as an error: a library must not end the process of a server that runs
// other backends and protocols beside it.
func (l logAdapter) Fatalf(format string, args ...any) { l.emit(slog.LevelError, format, args) }

func (l logAdapter) emit(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	msg := "gnet: " + fmt.Sprintf(format, args...)
	if level < slog.LevelWarn {
		l.log.Log(ctx, level, msg)
		return
	}
	if n, ok := l.limit.Allow(); ok {
		l.log.Log(ctx, level, msg, "suppressed", n)
	}
}
