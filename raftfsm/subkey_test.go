package raftfsm

import (
	"bytes"
	"errors"
	"testing"
)

func TestPatternCovers(t *testing.T) {
	tests := []struct {
		parent, child string
		want          bool
	}{
		{"_acme-challenge", "_acme-challenge", true},
		{"_acme-challenge", "_ACME-challenge", true},
		{"_acme-challenge", "_acme-challenge.*", false},
		{"_acme-challenge.*", "_acme-challenge.www", true},
		{"_acme-challenge.*", "_acme-challenge.w?w", true}, // one label within one label
		{"_acme-challenge.*", "_acme-challenge.**", false}, // any depth under one label
		{"_acme-challenge.*", "_acme-challenge", false},    // the apex challenge is not below
		{"_acme-challenge.**", "_acme-challenge.*", true},
		{"_acme-challenge.**", "_acme-challenge.*.*", true},
		{"_acme-challenge.**", "_acme-challenge.**", true},
		{"_acme-challenge.**", "_acme-challenge", false},
		{"**", "_acme-challenge.**", true},
		{"**", "@", false},
		{"@", "@", true},
		{"@", "www", false},
		{"www", "@", false},
		{"host-?", "host-1", true},
		{"host-?", "host-?", true},
		{"host-?", "host-*", false}, // wider glob
		{"host-?", "host-[12]", false},
		{"host-*", "host-?", false}, // narrower glob, refused: only literal labels or the same glob
		{"*", "host-*", true},
		{"*.example", "www.example", true},
		{"*.example", "www.other", false},
		{"bad..", "x", false},
		{"x", "bad..", false},
	}
	for _, tt := range tests {
		if got := PatternCovers(tt.parent, tt.child); got != tt.want {
			t.Errorf("PatternCovers(%q, %q) = %v, want %v", tt.parent, tt.child, got, tt.want)
		}
	}
}

// subKey is a sub-key of parent id with testAPIKey's scope.
func subKey(id, parent string) APIKey {
	k := testAPIKey(id)
	k.Parent = parent
	k.Created = regAt(3)
	return k
}

func TestSubKeys(t *testing.T) {
	const root, mid = "00000000000000a1", "00000000000000d1"
	withScope := func(k APIKey, f func(*APIKey)) APIKey { f(&k); return k }
	expiring := withScope(testAPIKey("00000000000000e1"), func(k *APIKey) { k.Expires = regAt(10) })
	tests := []struct {
		name  string
		setup []Command
		cmd   *IssueKey
		want  Reason
	}{
		{name: "same scope", cmd: &IssueKey{Key: subKey(mid, root), Actor: root}},
		{name: "narrower suffix", cmd: &IssueKey{Key: withScope(subKey(mid, root), func(k *APIKey) { k.Scope.Suffixes = []string{"ci.example."} }), Actor: root}},
		{name: "wider suffix", cmd: &IssueKey{Key: withScope(subKey(mid, root), func(k *APIKey) { k.Scope.Suffixes = []string{"."} }), Actor: root}, want: ReasonKeyWider},
		{name: "sibling suffix", cmd: &IssueKey{Key: withScope(subKey(mid, root), func(k *APIKey) { k.Scope.Suffixes = []string{"example.net."} }), Actor: root}, want: ReasonKeyWider},
		{name: "no labels under labels", cmd: &IssueKey{Key: withScope(subKey(mid, root), func(k *APIKey) { k.Scope.Labels = nil }), Actor: root}, want: ReasonKeyWider},
		{name: "wider label", cmd: &IssueKey{Key: withScope(subKey(mid, root), func(k *APIKey) { k.Scope.Labels = []string{"_acme-challenge.**"} }), Actor: root}, want: ReasonKeyWider},
		{name: "apex label", cmd: &IssueKey{Key: withScope(subKey(mid, root), func(k *APIKey) { k.Scope.Labels = []string{"@"} }), Actor: root}, want: ReasonKeyWider},
		{name: "no types under types", cmd: &IssueKey{Key: withScope(subKey(mid, root), func(k *APIKey) { k.Scope.Types = nil }), Actor: root}, want: ReasonKeyWider},
		{name: "other type", cmd: &IssueKey{Key: withScope(subKey(mid, root), func(k *APIKey) { k.Scope.Types = []string{"SOA"} }), Actor: root}, want: ReasonKeyWider},
		{name: "extra action", cmd: &IssueKey{Key: withScope(subKey(mid, root), func(k *APIKey) { k.Scope.Actions = []string{"read", "delete"} }), Actor: root}, want: ReasonKeyWider},
		{name: "admin action", cmd: &IssueKey{Key: withScope(subKey(mid, root), func(k *APIKey) { k.Scope.Actions = []string{"admin"} }), Actor: root}, want: ReasonKeyWider},
		{name: "fewer actions", cmd: &IssueKey{Key: withScope(subKey(mid, root), func(k *APIKey) { k.Scope.Actions = []string{"read"} }), Actor: root}},
		{name: "higher limit", cmd: &IssueKey{Key: withScope(subKey(mid, root), func(k *APIKey) { k.Limits.PerMinute = 31 }), Actor: root}, want: ReasonKeyWider},
		{name: "default limit", cmd: &IssueKey{Key: withScope(subKey(mid, root), func(k *APIKey) { k.Limits.Burst = 0 }), Actor: root}, want: ReasonKeyWider},
		{name: "unknown parent", cmd: &IssueKey{Key: subKey(mid, "00000000000000ee"), Actor: root}, want: ReasonUnknownKey},
		{name: "revoked parent", setup: []Command{&RevokeKey{ID: root, Actor: "admin", Time: regAt(2)}},
			cmd: &IssueKey{Key: subKey(mid, root), Actor: root}, want: ReasonParentRevoked},
		{name: "expired parent", setup: []Command{&IssueKey{Key: expiring, Actor: OperatorActor}},
			cmd: &IssueKey{Key: withScope(subKey(mid, expiring.ID), func(k *APIKey) { k.Created, k.Expires = regAt(11), regAt(12) }), Actor: expiring.ID}, want: ReasonParentRevoked},
		{name: "no expiry under an expiring parent", setup: []Command{&IssueKey{Key: expiring, Actor: OperatorActor}},
			cmd: &IssueKey{Key: subKey(mid, expiring.ID), Actor: expiring.ID}, want: ReasonKeyWider},
		{name: "later expiry than the parent", setup: []Command{&IssueKey{Key: expiring, Actor: OperatorActor}},
			cmd: &IssueKey{Key: withScope(subKey(mid, expiring.ID), func(k *APIKey) { k.Expires = regAt(11) }), Actor: expiring.ID}, want: ReasonKeyWider},
		{name: "earlier expiry", setup: []Command{&IssueKey{Key: expiring, Actor: OperatorActor}},
			cmd: &IssueKey{Key: withScope(subKey(mid, expiring.ID), func(k *APIKey) { k.Expires = regAt(9) }), Actor: expiring.ID}},
		{name: "sub-key widening a sibling", setup: []Command{&IssueKey{Key: withScope(subKey(mid, root), func(k *APIKey) { k.Scope.Actions = []string{"read"} }), Actor: root}},
			cmd: &IssueKey{Key: subKey("00000000000000d2", mid), Actor: mid}, want: ReasonKeyWider},
		{name: "over the cap", setup: []Command{&IssueKey{Key: subKey(mid, root), Actor: root, MaxChildren: 1}},
			cmd: &IssueKey{Key: subKey("00000000000000d2", root), Actor: root, MaxChildren: 1}, want: ReasonTooManyKeys},
		{name: "cap counts live children", setup: []Command{&IssueKey{Key: subKey(mid, root), Actor: root, MaxChildren: 1}, &RevokeKey{ID: mid, Actor: root, Time: regAt(3)}},
			cmd: &IssueKey{Key: subKey("00000000000000d2", root), Actor: root, MaxChildren: 1}},
		{name: "too deep", setup: []Command{
			&IssueKey{Key: subKey("00000000000000d1", root), Actor: root},
			&IssueKey{Key: subKey("00000000000000d2", "00000000000000d1"), Actor: root},
			&IssueKey{Key: subKey("00000000000000d3", "00000000000000d2"), Actor: root},
			&IssueKey{Key: subKey("00000000000000d4", "00000000000000d3"), Actor: root}},
			cmd: &IssueKey{Key: subKey("00000000000000d5", "00000000000000d4"), Actor: root}, want: ReasonTooManyKeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFSM(t)
			next := f.applyAll(t, 1, append(regBase(t), tt.setup...)...)
			res := f.apply(next, encode(t, tt.cmd))
			var rej *RejectedError
			switch {
			case tt.want == "":
				if _, ok := res.(*ApplyResult); !ok {
					t.Fatalf("Apply = %v, want accepted", res)
				}
				if k, ok := f.Registry().Key(tt.cmd.Key.ID); !ok || k.Parent != tt.cmd.Key.Parent {
					t.Errorf("Key(%s) = %+v, %v; want parent %s", tt.cmd.Key.ID, k, ok, tt.cmd.Key.Parent)
				}
				f.regDump(t) // the store holds the parent too
			case !errors.As(res.(error), &rej) || rej.Reason != tt.want:
				t.Errorf("Apply = %v, want %s", res, tt.want)
			}
		})
	}
}

// TestRevokeCascades: revoking a key revokes every key below it, in the
// same apply, and leaves its siblings and the keys above alone.
func TestRevokeCascades(t *testing.T) {
	const root = "00000000000000a1"
	f := newTestFSM(t)
	next := f.applyAll(t, 1, append(regBase(t),
		&IssueKey{Key: subKey("00000000000000d1", root), Actor: root},
		&IssueKey{Key: subKey("00000000000000d2", "00000000000000d1"), Actor: root},
		&IssueKey{Key: subKey("00000000000000d3", "00000000000000d2"), Actor: root},
		&IssueKey{Key: subKey("00000000000000d4", root), Actor: root},
		&RevokeKey{ID: "00000000000000d3", Actor: "00000000000000d3", Time: regAt(4)})...)
	f.applyAll(t, next, &RevokeKey{ID: "00000000000000d1", Actor: root, Time: regAt(5)})
	r := f.Registry()
	want := map[string]string{"00000000000000a1": "", "00000000000000d1": root, "00000000000000d2": CascadeActor("00000000000000d1"),
		"00000000000000d3": "00000000000000d3", "00000000000000d4": ""}
	for id, by := range want {
		k, _ := r.Key(id)
		if k.Revoked != (by != "") || k.RevokedBy != by {
			t.Errorf("key %s: revoked %v by %q, want by %q", id, k.Revoked, k.RevokedBy, by)
		}
	}
	if d := r.Descendants(root); len(d) != 4 {
		t.Errorf("Descendants(root) = %d keys, want 4", len(d))
	}
	if a := r.Ancestors(mustKey(t, r, "00000000000000d3")); len(a) != 3 || a[2].ID != root {
		t.Errorf("Ancestors(d3) = %v", a)
	}
	// A snapshot keeps the parents (format 4) and restores them.
	var buf bytes.Buffer
	if err := f.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "snapshot_v4.hex", buf.Bytes())
	if buf.Bytes()[8] != snapshotVersion4 {
		t.Errorf("snapshot with sub-keys has version %d, want 4", buf.Bytes()[8])
	}
	g := newTestFSM(t)
	if err := g.Restore(readCloser(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if got, want := g.regDump(t), f.regDump(t); got != want {
		t.Errorf("restored registry:\n%s\nwant:\n%s", got, want)
	}
}

func mustKey(t *testing.T, r *RegistryState, id string) APIKey {
	t.Helper()
	k, ok := r.Key(id)
	if !ok {
		t.Fatalf("no key %s", id)
	}
	return k
}
