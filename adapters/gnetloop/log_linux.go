//go:build linux

package gnetloop

import (
	"context"
	"fmt"
	"log/slog"
)

// logAdapter routes gnet's logging (its logging.Logger interface) to the backend's slog
// logger, so gnet prints nothing of its own. gnet's start-up banner and per-loop exit notes
// are Info and Debug; they go to slog's Debug so that a default logger stays quiet.
type logAdapter struct{ log *slog.Logger }

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
	l.log.Log(ctx, level, "gnet: "+fmt.Sprintf(format, args...))
}
