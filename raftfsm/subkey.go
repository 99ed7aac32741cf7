package raftfsm

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ddnrs/ddnrs/zone"
)

// Sub-keys (issue 12 item 4): the holder of an API key issues narrower
// keys under its own scope, for a CI job or an ACME client. A sub-key
// names its Parent; IssueKey with a parent is encoded as body version 2.
// The state machine refuses a sub-key wider than its parent
// (ReasonKeyWider, SubScopeError names what), of a revoked or expired
// parent (ReasonParentRevoked), deeper than MaxKeyDepth, or past the
// parent's cap on live children (IssueKey.MaxChildren, carried in the
// command like SubmitApplication.MaxOpen). Revoking a key revokes every
// key below it in the same apply (RevokedBy "parent:<id>").

// Reasons of sub-key rejections.
const (
	ReasonKeyWider      = Reason("key-wider")      // a sub-key's scope, limits or expiry reach past its parent's
	ReasonParentRevoked = Reason("parent-revoked") // a sub-key of a revoked or expired key
	ReasonTooManyKeys   = Reason("too-many-keys")  // the parent has MaxChildren live sub-keys, or the chain is deeper than MaxKeyDepth
)

// MaxKeyDepth bounds the chain of parents above a sub-key: a key issued
// by a reviewer has depth 0, its sub-keys 1, ... up to MaxKeyDepth.
// Part of the state machine's rules: never lower it (replayed entries
// would apply differently).
const MaxKeyDepth = 4

// CascadeActor is the RevokedBy of a key revoked because a key above it
// was: "parent:<id of the key revoked>".
func CascadeActor(id string) string { return "parent:" + id }

// SubScopeError says why a sub-key's scope is not within its parent's.
type SubScopeError struct {
	What   string // "suffix", "label", "type", "action", "expiry", "limits"
	Detail string
}

func (e *SubScopeError) Error() string { return e.What + ": " + e.Detail }

// WithinScope reports (nil) whether child, a key about to be issued
// under parent, can do nothing parent cannot: every suffix under one of
// parent's, every label pattern covered by one of parent's (when parent
// has any), its types among parent's (when parent has any), its actions
// among parent's and never admin, an expiry no later than parent's, and
// limits no higher than parent's (zero meaning the API's default, which
// a sub-key of a key with explicit limits must not claim). The API
// calls it for a clear error before proposing; the state machine calls
// it again in Apply.
func WithinScope(parent, child APIKey) error {
	for _, s := range child.Scope.Suffixes {
		if !slices.ContainsFunc(parent.Scope.Suffixes, func(p string) bool { return suffixUnder(p, s) }) {
			return &SubScopeError{"suffix", fmt.Sprintf("%s is under none of the parent's suffixes %v", s, parent.Scope.Suffixes)}
		}
	}
	if len(parent.Scope.Labels) > 0 {
		if len(child.Scope.Labels) == 0 {
			return &SubScopeError{"label", fmt.Sprintf("the parent may touch only names matching %v; give the sub-key label patterns within them", parent.Scope.Labels)}
		}
		for _, c := range child.Scope.Labels {
			if !slices.ContainsFunc(parent.Scope.Labels, func(p string) bool { return PatternCovers(p, c) }) {
				return &SubScopeError{"label", fmt.Sprintf("pattern %q is not within the parent's patterns %v", c, parent.Scope.Labels)}
			}
		}
	}
	if len(parent.Scope.Types) > 0 {
		if len(child.Scope.Types) == 0 {
			return &SubScopeError{"type", fmt.Sprintf("the parent may touch only types %v; give the sub-key types among them", parent.Scope.Types)}
		}
		for _, t := range child.Scope.Types {
			if !slices.ContainsFunc(parent.Scope.Types, func(p string) bool { return strings.EqualFold(p, t) }) {
				return &SubScopeError{"type", fmt.Sprintf("type %s is not among the parent's types %v", t, parent.Scope.Types)}
			}
		}
	}
	for _, a := range child.Scope.Actions {
		if a == "admin" {
			return &SubScopeError{"action", "a sub-key never has the admin action (a reviewer issues admin keys)"}
		}
		if !slices.Contains(parent.Scope.Actions, a) && !slices.Contains(parent.Scope.Actions, "admin") {
			return &SubScopeError{"action", fmt.Sprintf("action %s is not among the parent's actions %v", a, parent.Scope.Actions)}
		}
	}
	if !parent.Expires.IsZero() && (child.Expires.IsZero() || child.Expires.After(parent.Expires)) {
		return &SubScopeError{"expiry", fmt.Sprintf("the parent expires at %s; the sub-key must expire no later", parent.Expires.UTC().Format(time.RFC3339))}
	}
	if err := limitWithin("per_minute", parent.Limits.PerMinute, child.Limits.PerMinute); err != nil {
		return err
	}
	return limitWithin("burst", parent.Limits.Burst, child.Limits.Burst)
}

func limitWithin(name string, parent, child uint32) error {
	if parent != 0 && (child == 0 || child > parent) {
		return &SubScopeError{"limits", fmt.Sprintf("%s %d is above the parent's %d (0 means the default, which may be higher)", name, child, parent)}
	}
	return nil
}

// suffixUnder reports whether zone suffix s lies at or below suffix p.
func suffixUnder(p, s string) bool {
	p, s = zone.CanonicalName(p), zone.CanonicalName(s)
	return p == "." || zone.IsSubDomain(p, s)
}

// PatternCovers reports whether every owner name label pattern child
// matches is matched by pattern parent too (scope.go's patterns). It is
// sound, not complete: a glob label of the parent other than a lone `*`
// covers only the same glob or a literal label it matches, so some
// narrower globs are refused (use a literal label or the same glob).
func PatternCovers(parent, child string) bool {
	parent, child = strings.ToLower(parent), strings.ToLower(child)
	if parent == "@" || child == "@" {
		return parent == child
	}
	if CheckLabelPattern(parent) != nil || CheckLabelPattern(child) != nil {
		return false
	}
	return labelsCover(strings.Split(parent, "."), strings.Split(child, "."))
}

func labelsCover(pp, cp []string) bool {
	if len(pp) == 0 || len(cp) == 0 {
		return len(pp) == 0 && len(cp) == 0
	}
	switch {
	case pp[0] == "**":
		// One or more labels: any non-empty run of the child's
		// elements (each matching at least one label) fits.
		for k := 1; k <= len(cp); k++ {
			if labelsCover(pp[1:], cp[k:]) {
				return true
			}
		}
		return false
	case cp[0] == "**":
		return false // any depth where the parent has one label
	case pp[0] == "*", pp[0] == cp[0]:
		return labelsCover(pp[1:], cp[1:])
	case !strings.ContainsAny(cp[0], `*?[\`):
		ok, err := path.Match(pp[0], cp[0])
		return err == nil && ok && labelsCover(pp[1:], cp[1:])
	}
	return false
}

// keyDepth is the number of parents above k in r (stops at
// MaxKeyDepth+1: a longer chain, or a loop, is never issued).
func (r *RegistryState) keyDepth(k APIKey) int {
	d := 0
	for k.Parent != "" && d <= MaxKeyDepth {
		p, ok := r.keys[k.Parent]
		if !ok {
			break
		}
		k = p
		d++
	}
	return d
}

// Ancestors returns the keys above k, nearest first (what of them the
// registry holds).
func (r *RegistryState) Ancestors(k APIKey) []APIKey {
	var out []APIKey
	for k.Parent != "" && len(out) <= MaxKeyDepth {
		p, ok := r.keys[k.Parent]
		if !ok {
			break
		}
		out = append(out, p.clone())
		k = p
	}
	return out
}

// Descendants returns every key below key id (its sub-keys, theirs, ...),
// revoked ones too, by ID.
func (r *RegistryState) Descendants(id string) []APIKey {
	below := map[string]bool{id: true}
	for grew := true; grew; {
		grew = false
		for _, k := range r.keys {
			if k.Parent != "" && below[k.Parent] && !below[k.ID] {
				below[k.ID], grew = true, true
			}
		}
	}
	out := make([]APIKey, 0, len(below)-1)
	for kid := range below {
		if kid != id {
			out = append(out, r.keys[kid].clone())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// checkSubKey checks sub-key k (Parent set) against its parent, at the
// time of its issue (k.Created, the command's time).
func (r *RegistryState) checkSubKey(k APIKey, maxChildren uint32) error {
	p, ok := r.keys[k.Parent]
	if !ok {
		return reject(ReasonUnknownKey, "no parent key %q", k.Parent)
	}
	for _, a := range append([]APIKey{p}, r.Ancestors(p)...) {
		if a.Revoked {
			return reject(ReasonParentRevoked, "key %s above the sub-key was revoked", a.ID)
		}
		if !a.Expires.IsZero() && !k.Created.Before(a.Expires) {
			return reject(ReasonParentRevoked, "key %s above the sub-key expired at %s", a.ID, a.Expires.UTC().Format(time.RFC3339))
		}
	}
	if d := r.keyDepth(p); d+1 > MaxKeyDepth {
		return reject(ReasonTooManyKeys, "the sub-key would be %d keys below a reviewer's key, the limit %d", d+1, MaxKeyDepth)
	}
	if err := WithinScope(p, k); err != nil {
		return reject(ReasonKeyWider, "sub-key wider than key %s: %v", p.ID, err)
	}
	if maxChildren > 0 {
		live := 0
		for _, o := range r.keys {
			if o.Parent == p.ID && !o.Revoked && (o.Expires.IsZero() || k.Created.Before(o.Expires)) {
				live++
			}
		}
		if live >= int(maxChildren) {
			return reject(ReasonTooManyKeys, "key %s has %d live sub-keys, the limit %d", p.ID, live, maxChildren)
		}
	}
	return nil
}
