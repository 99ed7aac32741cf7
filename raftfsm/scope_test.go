package raftfsm

import (
	"errors"
	"testing"
)

func TestMatchLabels(t *testing.T) {
	tests := []struct {
		pattern, rel string
		want         bool
	}{
		{"@", "@", true},
		{"@", "www", false},
		{"*", "@", false},
		{"**", "@", false},
		{"_acme-challenge", "_acme-challenge", true}, // the apex's challenge
		{"_acme-challenge", "_acme-challenge.www", false},
		{"_acme-challenge.*", "_acme-challenge", false}, // * is exactly one label
		{"_acme-challenge.*", "_acme-challenge.www", true},
		{"_acme-challenge.*", "_ACME-Challenge.WWW", true},
		{"_acme-challenge.*", "_acme-challenge.a.b", false}, // not several
		{"_acme-challenge.**", "_acme-challenge.a.b", true},
		{"_acme-challenge.**", "_acme-challenge.a", true},
		{"_acme-challenge.**", "_acme-challenge", false}, // ** is one or more
		{"_acme-challenge.**", "x._acme-challenge.a", false},
		{"**.internal", "a.b.internal", true},
		{"**.internal", "internal", false},
		{"a.**.z", "a.b.c.z", true},
		{"a.**.z", "a.z", false},
		{"host-?", "host-1", true},
		{"host-?", "host-12", false},
		{"host-*", "host-1.evil", false}, // a glob never crosses a dot
		{"*", "www", true},
		{"*", "a.b", false},
		{"a..b", "a..b", false}, // not a pattern: matches nothing
		{"[", "[", false},
	}
	for _, tt := range tests {
		if got := MatchLabels(tt.pattern, tt.rel); got != tt.want {
			t.Errorf("MatchLabels(%q, %q) = %v, want %v", tt.pattern, tt.rel, got, tt.want)
		}
	}
}

func TestCheckLabelPattern(t *testing.T) {
	for _, p := range []string{"@", "*", "**", "_acme-challenge", "_acme-challenge.*", "_acme-challenge.**", "a.**.z", "host-[0-9]"} {
		if err := CheckLabelPattern(p); err != nil {
			t.Errorf("CheckLabelPattern(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range []string{"", ".", "a.", ".a", "a..b", "**.**", "a**", "www.@", "[", "x.[a"} {
		if err := CheckLabelPattern(p); !errors.Is(err, ErrLabelPattern) {
			t.Errorf("CheckLabelPattern(%q) = %v, want ErrLabelPattern", p, err)
		}
	}
}
