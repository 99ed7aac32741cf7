package translog

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrMalformedEntry is returned by ParseEntry when its input is not
	// exactly one well-formed entry, and by Entry.MarshalBinary when the
	// entry cannot be encoded (unknown kind, time not whole seconds, a
	// field too long, a zone name not canonical).
	ErrMalformedEntry = errors.New("translog: malformed entry")
	// ErrRange is returned when an index or size is beyond the tree, or
	// a proof is asked for an impossible pair (index >= size, first >
	// second).
	ErrRange = errors.New("translog: index or size out of range")
	// ErrProof is returned by VerifyInclusion and VerifyConsistency when
	// the proof does not prove the claim.
	ErrProof = errors.New("translog: invalid proof")
	// ErrCheckpoint is returned by OpenCheckpoint when a checkpoint is
	// not signed by the expected key, names another origin, or is
	// malformed; and by NewVerifier and LoadSigner for unusable keys.
	ErrCheckpoint = errors.New("translog: invalid checkpoint")
	// ErrSplitView is wrapped by *SplitViewError, returned by
	// Monitor.Check when two signed checkpoints of the log cannot both be
	// views of one append-only log.
	ErrSplitView = errors.New("translog: split view")
	// ErrEntriesMismatch is returned by Monitor.Check (with Entries set)
	// when the entries a log serves do not hash to the root of its own
	// signed checkpoint, or one of them is not a well-formed Entry.
	ErrEntriesMismatch = errors.New("translog: entries do not match the checkpoint")
	// ErrHTTP is wrapped by *HTTPError, returned by HTTPSource when a log
	// server answers with a status other than 200 or a body it cannot
	// use.
	ErrHTTP = errors.New("translog: log server error")
)

// SplitViewError carries the two signed checkpoints that prove a split
// view: either the same size with different roots, or two sizes whose
// consistency proof fails. A and B are the complete signed notes, so they
// can be shown to anyone holding the log's verifier key.
type SplitViewError struct {
	A, B   []byte // signed checkpoints; A was seen first
	Reason string // what failed, for people
}

func (e *SplitViewError) Error() string {
	return fmt.Sprintf("translog: split view: %s", e.Reason)
}

// Unwrap returns ErrSplitView.
func (e *SplitViewError) Unwrap() error { return ErrSplitView }

// HTTPError is a log server's failure: the URL asked, the status it
// answered (0 when the body was the problem) and the start of its body.
type HTTPError struct {
	URL    string
	Status int
	Body   string // at most 512 bytes of the answer, or what was wrong with it
	// RetryAfter is the wait the server asked for with Retry-After (a
	// 429 or 503), 0 when it gave none.
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("translog: GET %s: %s", e.URL, e.Body)
	}
	if e.Body == "" {
		return fmt.Sprintf("translog: GET %s: status %d", e.URL, e.Status)
	}
	return fmt.Sprintf("translog: GET %s: status %d: %s", e.URL, e.Status, e.Body)
}

// Unwrap returns ErrHTTP.
func (e *HTTPError) Unwrap() error { return ErrHTTP }
