package raftfsm

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Label patterns (Scope.Labels) say which owner names a scoped API key may
// touch, relative to the zone, one DNS label at a time:
//
//	@                    the apex only
//	_acme-challenge      exactly _acme-challenge.<zone> (the apex's ACME challenge)
//	_acme-challenge.*    _acme-challenge.<one label>.<zone>: `*` alone is exactly one label
//	_acme-challenge.**   _acme-challenge.<one or more labels>.<zone>
//	host-?.*             path.Match globs within one label (`*`, `?`, `[...]`), never across a dot
//
// `**` stands for one or more whole labels and may appear once per
// pattern; every other label matches exactly one label of the name.
// Matching is case-insensitive. A certificate for example.org and
// *.example.org needs `_acme-challenge` (the apex) and `_acme-challenge.*`
// or `.**` (the names below): `_acme-challenge.*` alone does not cover the
// apex.

// ErrLabelPattern is returned by CheckLabelPattern for a pattern that is
// not a label pattern.
var ErrLabelPattern = errors.New("not a label pattern")

// CheckLabelPattern reports whether p is a label pattern (see above).
func CheckLabelPattern(p string) error {
	if p == "@" {
		return nil
	}
	if p == "" || strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") || strings.Contains(p, "..") {
		return fmt.Errorf("%q: %w (labels relative to the zone, separated by single dots; @ for the apex)", p, ErrLabelPattern)
	}
	double := 0
	for _, l := range strings.Split(p, ".") {
		switch {
		case l == "**":
			double++
		case strings.Contains(l, "**"):
			return fmt.Errorf("%q: %w (** stands alone for one or more labels)", p, ErrLabelPattern)
		case l == "@":
			return fmt.Errorf("%q: %w (@ stands alone for the apex)", p, ErrLabelPattern)
		default:
			if _, err := path.Match(l, ""); err != nil {
				return fmt.Errorf("%q: %w (label %q: %v)", p, ErrLabelPattern, l, err)
			}
		}
	}
	if double > 1 {
		return fmt.Errorf("%q: %w (** may appear once)", p, ErrLabelPattern)
	}
	return nil
}

// MatchLabels reports whether the owner name rel, relative to its zone
// ("@" for the apex, else its labels before the zone's, as
// "_acme-challenge.www"), matches label pattern p. A pattern that is not
// one matches nothing.
func MatchLabels(p, rel string) bool {
	p, rel = strings.ToLower(p), strings.ToLower(rel)
	if p == "@" || rel == "@" {
		return p == rel
	}
	if CheckLabelPattern(p) != nil {
		return false
	}
	return matchLabels(strings.Split(p, "."), strings.Split(rel, "."))
}

func matchLabels(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			// One or more labels: try every split that leaves the rest
			// of the pattern (which has no ** of its own) its count.
			rest := pat[1:]
			n := len(name) - len(rest)
			return n >= 1 && matchLabels(rest, name[n:])
		}
		if len(name) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], name[0]); err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}
