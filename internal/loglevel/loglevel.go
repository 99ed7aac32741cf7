// Package loglevel reads the log level names of configuration files and
// the --log-level flag.
package loglevel

import (
	"fmt"
	"log/slog"
)

// Parse maps a level name (debug, info, warn, error, in any case, with an
// optional offset such as "info+2", as slog.Level.UnmarshalText reads
// them) to its slog.Level. The error quotes s and lists the names.
func Parse(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%q: want debug, info, warn or error", s)
	}
	return l, nil
}
