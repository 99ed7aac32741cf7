package raftfsm

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
)

func TestAncestors(t *testing.T) {
	for _, tt := range []struct {
		origin string
		want   []string
	}{
		{"example.", nil},
		{"a.example.", []string{"example."}},
		{"a.b.example.", []string{"b.example.", "example."}},
		{`a\.b.example.`, []string{"example."}},
	} {
		if got := ancestors(tt.origin); !slices.Equal(got, tt.want) {
			t.Errorf("ancestors(%q) = %q, want %q", tt.origin, got, tt.want)
		}
	}
}

// TestClaimIndexMatchesScan claims, re-places and releases zones in
// random-looking order and checks after each step that the indexes say
// what a scan of every claim says (the rule the indexes replace).
func TestClaimIndexMatchesScan(t *testing.T) {
	names := []string{"example.", "a.example.", "b.a.example.", "c.b.a.example.", "x.example.", "example.net.", "y.example.net.", "net.", `q\.r.example.`}
	var x claimIndex
	check := func(step string) {
		t.Helper()
		all := map[string]Claim{}
		for k, c := range x.claims.All() {
			all[k] = c
		}
		groups, leases := map[string]int{}, map[string]int{}
		for _, c := range all {
			groups[c.Group]++
			if !c.Lease.IsZero() {
				leases[c.Lease.Key]++
			}
		}
		for _, k := range []string{"k0", "k1"} {
			if got, _ := x.perLeaseKey.Get(k); got != leases[k] {
				t.Errorf("%s: leases of %s = %d, want %d", step, k, got, leases[k])
			}
		}
		for _, g := range []string{"g1", "g2", "g3"} {
			if got := x.groupClaims(g); got != groups[g] {
				t.Errorf("%s: groupClaims(%s) = %d, want %d", step, g, got, groups[g])
			}
		}
		for _, n := range names {
			var want []string
			for k := range all {
				if k != n && isBelow(k, n) {
					want = append(want, k)
				}
			}
			var got []string
			for k := range x.claimsBelow(n).All() {
				got = append(got, k)
			}
			sort.Strings(want)
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s: claimsBelow(%s) = %q, want %q", step, n, got, want)
			}
		}
	}
	for i, n := range names {
		c := Claim{Zone: n, Group: fmt.Sprintf("g%d", 1+i%3)}
		if i%2 == 0 {
			c.Lease = Lease{Idle: 3600, Key: fmt.Sprintf("k%d", i%4/2)}
		}
		x.setClaim(c)
		check("claim " + n)
	}
	for i, n := range names {
		c := Claim{Zone: n, Group: fmt.Sprintf("g%d", 1+(i+1)%3), Generation: 1}
		if i%3 == 0 {
			c.Lease = Lease{Idle: 3600, Key: fmt.Sprintf("k%d", i%2)}
		}
		x.setClaim(c)
		check("move " + n)
	}
	x.deleteClaim("nothing.example.")
	check("release of an unclaimed name")
	for _, i := range []int{2, 0, 7, 4, 1, 8, 3, 6, 5} {
		x.deleteClaim(names[i])
		check("release " + names[i])
	}
	if x.claimCount() != 0 || x.below.Len() != 0 || x.perGroup.Len() != 0 || x.perLeaseKey.Len() != 0 {
		t.Errorf("after every release: %d claims, %d below entries, %d groups, want none", x.claimCount(), x.below.Len(), x.perGroup.Len())
	}
}

// isBelow reports whether name is at or below origin, label by label.
func isBelow(name, origin string) bool {
	nl, ol := splitLabels(name), splitLabels(origin)
	return len(nl) >= len(ol) && slices.Equal(nl[len(nl)-len(ol):], ol)
}

func splitLabels(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '.':
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

func TestOtherPublicKey(t *testing.T) {
	a, b := seedKey(t, "example.", 1), seedKey(t, "example.", 2)
	pa := publicKey(a.DNSKEY)
	for _, tt := range []struct {
		name, owner string
		want        bool
	}{
		{"same key", a.DNSKEY.String(), false},
		{"other key", b.DNSKEY.String(), true},
		{"key split in two fields", strings.Replace(b.DNSKEY.String(), b.DNSKEY.PublicKey, b.DNSKEY.PublicKey[:20]+" "+b.DNSKEY.PublicKey[20:], 1), false},
		{"not base64", "example. 3600 IN DNSKEY 257 3 15 !!!", false},
		{"empty", "", false},
	} {
		if got := otherPublicKey(tt.owner, pa); got != tt.want {
			t.Errorf("%s: otherPublicKey(%q) = %v, want %v", tt.name, tt.owner, got, tt.want)
		}
	}
}

func TestKeepFirst(t *testing.T) {
	names := []string{"e.example.", "b.example.", "a.example.", "d.example.", "c.example.", "a.example.", "f.example."}
	var first []string
	for _, n := range names {
		first = keepFirst(first, n, 3)
	}
	if want := []string{"a.example.", "a.example.", "b.example."}; !slices.Equal(first, want) {
		t.Errorf("keepFirst over %q = %q, want %q", names, first, want)
	}
}
