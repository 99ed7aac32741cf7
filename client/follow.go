package client

// follow.go: following the registry's transparency log in one call.

import (
	"context"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/ddnrs/ddnrs/translog"
)

// Follow brings s up to date with the log src serves: the checkpoint's
// signature checked with logKey (origin: its origin line, "" for the
// key's name), the new entries checked to extend the checkpoint s kept
// (a log showing two views is a *translog.SplitViewError, and s stays
// stopped, SplitView set), then applied in order (Apply, with now and
// grace). It returns how many entries it applied. A program keeps s
// between runs (its JSON form, ParseLogState to read it back), so the
// next Follow checks the log against what it saw before; then
// s.TrustAnchors() are the owner keys to verify with (NewVerifier, or
// Verifier.SetLogAnchors). An entry that does not parse is skipped, as
// a node does (its zone keeps its previous key).
func (s *LogState) Follow(ctx context.Context, src translog.Source, logKey note.Verifier, origin string, now time.Time, grace time.Duration) (int, error) {
	leaves, err := s.Extend(ctx, src, logKey, origin)
	if err != nil {
		return 0, err
	}
	n := 0
	from := s.Size - uint64(len(leaves))
	for i, l := range leaves {
		e, err := translog.ParseEntry(l)
		if err != nil {
			continue
		}
		s.ApplyAt(from+uint64(i), e, now, grace)
		n++
	}
	return n, nil
}
