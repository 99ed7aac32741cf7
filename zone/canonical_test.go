package zone

import "testing"

// The canonical order example of RFC 4034 §6.1, plus names that only the
// allocation-free path sees; every pair must compare as listed.
func TestCompareOrder(t *testing.T) {
	names := []string{
		".",
		"example.",
		"a.example.",
		"yljkjljk.a.example.",
		"Z.a.example.",
		"zABC.a.EXAMPLE.",
		"z.example.",
		"\\001.z.example.",
		"*.z.example.",
		"a-b.z.example.",
		"\\200.z.example.",
		"example.net.",
		"a.example.net",
	}
	for i, a := range names {
		for j, b := range names {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := Compare(a, b); got != want {
				t.Errorf("Compare(%q, %q) = %d, want %d", a, b, got, want)
			}
		}
	}
	if got := Compare("WWW.Example.", "www.example"); got != 0 {
		t.Errorf("Compare(%q, %q) = %d, want 0", "WWW.Example.", "www.example", got)
	}
}

func TestIsSubDomain(t *testing.T) {
	cases := []struct {
		parent, child string
		want          bool
	}{
		{"example.", "example.", true},
		{"example.", "www.example.", true},
		{"example.", "a.b.example.", true},
		{".", "example.", true},
		{"example.", "badexample.", false},
		{"example.", "example.net.", false},
		{"www.example.", "example.", false},
		{"example.", "a\\.example.", false},
		{"example.", "a\\\\.example.", true},
	}
	for _, c := range cases {
		if got := IsSubDomain(c.parent, c.child); got != c.want {
			t.Errorf("IsSubDomain(%q, %q) = %t, want %t", c.parent, c.child, got, c.want)
		}
	}
}
