package ops

import (
	"context"
	"errors"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/translog"
)

// ExitCode is the status the ddnrs process exits with. Scripts may rely on
// these values; they do not change.
type ExitCode int

// The exit codes of ddnrs.
const (
	// ExitOK: the command did what was asked (for `ddnrs dev`, also a
	// clean stop on SIGINT or SIGTERM).
	ExitOK ExitCode = 0
	// ExitError: the command failed: bad input (a zone file, a key), a
	// check that found problems (`zone verify`), or an I/O error. The
	// reason is on stderr.
	ExitError ExitCode = 1
	// ExitUsage: unknown command or flag, or wrong arguments.
	ExitUsage ExitCode = 2
	// ExitLocked: the data directory is in use by a running node; stop it
	// and run the command again.
	ExitLocked ExitCode = 3
	// ExitSplitView: `ddnrs log verify` found a split view: two
	// checkpoints signed by the log's key that cannot both be views of
	// one append-only log (both are printed). The same value as
	// ExitLocked; no command can give both.
	ExitSplitView ExitCode = 3
	// ExitInterrupted: SIGINT or SIGTERM stopped a command before it
	// finished (128 + SIGINT, as shells report it).
	ExitInterrupted ExitCode = 130
)

// exitCode maps the error a command returned to the process exit code.
func exitCode(err error) ExitCode {
	var ue *usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.Is(err, raftfsm.ErrLocked):
		return ExitLocked
	case errors.Is(err, translog.ErrSplitView):
		return ExitSplitView
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	default:
		return ExitError
	}
}
