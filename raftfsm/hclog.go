package raftfsm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// levelTrace is the slog level hclog's Trace maps to: below Debug, so a
// handler at Debug does not print Raft's per-RPC chatter.
const levelTrace = slog.LevelDebug - 4

// hclogAdapter implements hclog.Logger on top of a *slog.Logger, so Raft
// and its transport log through the node's one logger (docs/architecture.md,
// "Conventions the code relies on").
// Named loggers add a "logger" attribute; With adds attributes. SetLevel
// raises the minimum on top of what the slog handler already filters; it
// is shared by every logger derived from the same root.
type hclogAdapter struct {
	base    *slog.Logger // the logger given to newHclog
	l       *slog.Logger // base with the name and implied args
	name    string
	implied []any
	min     *atomic.Int32 // minimum hclog.Level; hclog.NoLevel = no extra filter
	// stopping is set when the group's Close begins; shared like min.
	stopping *atomic.Bool
}

var _ hclog.Logger = (*hclogAdapter)(nil)

// newHclog returns an hclog.Logger writing to l (slog.Default's handler is
// never used: a nil l discards).
func newHclog(l *slog.Logger) hclog.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &hclogAdapter{base: l, l: l, min: new(atomic.Int32), stopping: new(atomic.Bool)}
}

// stop marks the group as stopping: from then on, warnings and errors
// that only say Raft or its transport is shut down (a connection cut by
// this member's own Close) log at Debug, so an orderly stop is quiet.
func (a *hclogAdapter) stop() { a.stopping.Store(true) }

// level returns the level msg is logged at: level, or Debug for a
// warning or error caused by this member's own shutdown.
func (a *hclogAdapter) level(level hclog.Level, args []any) hclog.Level {
	if level < hclog.Warn || level == hclog.Off || !a.stopping.Load() {
		return level
	}
	for _, arg := range args {
		if err, ok := arg.(error); ok && (errors.Is(err, raft.ErrTransportShutdown) || errors.Is(err, raft.ErrRaftShutdown)) {
			return hclog.Debug
		}
	}
	return level
}

// toSlog maps an hclog level to a slog level.
func toSlog(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default: // Info, NoLevel, DefaultLevel
		return slog.LevelInfo
	}
}

func (a *hclogAdapter) enabled(level hclog.Level) bool {
	if level == hclog.Off {
		return false
	}
	if m := hclog.Level(a.min.Load()); m != hclog.NoLevel && level != hclog.NoLevel && level < m {
		return false
	}
	return a.l.Enabled(context.Background(), toSlog(level))
}

// Log implements hclog.Logger.
func (a *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	level = a.level(level, args)
	if !a.enabled(level) {
		return
	}
	a.l.Log(context.Background(), toSlog(level), msg, args...)
}

func (a *hclogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *hclogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *hclogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *hclogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *hclogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *hclogAdapter) IsTrace() bool { return a.enabled(hclog.Trace) }
func (a *hclogAdapter) IsDebug() bool { return a.enabled(hclog.Debug) }
func (a *hclogAdapter) IsInfo() bool  { return a.enabled(hclog.Info) }
func (a *hclogAdapter) IsWarn() bool  { return a.enabled(hclog.Warn) }
func (a *hclogAdapter) IsError() bool { return a.enabled(hclog.Error) }

// ImpliedArgs returns the arguments added with With.
func (a *hclogAdapter) ImpliedArgs() []any { return append([]any(nil), a.implied...) }

// With returns a logger that adds args to every record.
func (a *hclogAdapter) With(args ...any) hclog.Logger {
	c := *a
	c.implied = append(append([]any(nil), a.implied...), args...)
	c.build()
	return &c
}

// build derives l from base, name and implied.
func (a *hclogAdapter) build() {
	a.l = a.base
	if a.name != "" {
		a.l = a.l.With("logger", a.name)
	}
	if len(a.implied) > 0 {
		a.l = a.l.With(a.implied...)
	}
}

// Name returns the logger's name ("" for the root).
func (a *hclogAdapter) Name() string { return a.name }

// Named returns a logger whose name is this one's with name appended.
func (a *hclogAdapter) Named(name string) hclog.Logger {
	if a.name != "" {
		name = a.name + "." + name
	}
	return a.ResetNamed(name)
}

// ResetNamed returns a logger named name.
func (a *hclogAdapter) ResetNamed(name string) hclog.Logger {
	c := *a
	c.name = name
	c.build()
	return &c
}

// SetLevel sets the minimum level for this logger and every logger that
// shares its root.
func (a *hclogAdapter) SetLevel(level hclog.Level) { a.min.Store(int32(level)) }

// GetLevel returns the level set with SetLevel, or the level the slog
// handler lets through when none was set.
func (a *hclogAdapter) GetLevel() hclog.Level {
	if m := hclog.Level(a.min.Load()); m != hclog.NoLevel {
		return m
	}
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if a.enabled(l) {
			return l
		}
	}
	return hclog.Off
}

// StandardLogger returns a *log.Logger writing through this logger.
func (a *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

// StandardWriter returns a writer that logs each line written to it. With
// opts.InferLevels a "[ERROR] " style prefix picks the level; otherwise
// lines log at opts.ForceLevel, or Info.
func (a *hclogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	if opts == nil {
		opts = &hclog.StandardLoggerOptions{}
	}
	return &stdWriter{a: a, infer: opts.InferLevels, force: opts.ForceLevel}
}

type stdWriter struct {
	a     *hclogAdapter
	infer bool
	force hclog.Level
}

func (w *stdWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(string(bytes.TrimRight(p, "\n")), "\n") {
		level := hclog.Info
		if w.force != hclog.NoLevel {
			level = w.force
		}
		if w.infer {
			level, line = inferLevel(line, level)
		}
		w.a.Log(level, line)
	}
	return len(p), nil
}

// inferLevel reads a "[LEVEL] " prefix as the standard library loggers of
// Raft's dependencies write it.
func inferLevel(line string, def hclog.Level) (hclog.Level, string) {
	for _, p := range []struct {
		prefix string
		level  hclog.Level
	}{
		{"[TRACE] ", hclog.Trace}, {"[DEBUG] ", hclog.Debug}, {"[INFO] ", hclog.Info},
		{"[WARN] ", hclog.Warn}, {"[ERROR] ", hclog.Error}, {"[ERR] ", hclog.Error},
	} {
		if rest, ok := strings.CutPrefix(line, p.prefix); ok {
			return p.level, rest
		}
	}
	return def, line
}
