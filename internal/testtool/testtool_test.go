package testtool

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder captures how Need and Missing end a test without ending this one.
type recorder struct {
	testing.TB
	fatal, skip bool
	msg         string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal = true
	r.msg = format
}
func (r *recorder) Skipf(format string, args ...any) {
	r.skip = true
	r.msg = format
}

func TestInCI(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want bool
	}{
		{"true", true}, {"1", true}, {"TRUE", true}, {"", false}, {"false", false}, {"0", false},
	} {
		t.Setenv("CI", tc.env)
		if got := InCI(); got != tc.want {
			t.Errorf("InCI() with CI=%q = %v, want %v", tc.env, got, tc.want)
		}
	}
}

func TestNeedMissing(t *testing.T) {
	const absent = "ddnrs-testtool-no-such-program"
	for _, tc := range []struct {
		env             string
		wantFatal, skip bool
	}{
		{"true", true, false},
		{"1", true, false},
		{"", false, true},
	} {
		t.Setenv("CI", tc.env)
		r := &recorder{TB: t}
		if p := Need(r, absent, "nopkg"); p != "" {
			t.Fatalf("Need(%q) = %q, want \"\"", absent, p)
		}
		if r.fatal != tc.wantFatal || r.skip != tc.skip {
			t.Errorf("CI=%q: Need(missing) fatal=%v skip=%v, want fatal=%v skip=%v", tc.env, r.fatal, r.skip, tc.wantFatal, tc.skip)
		}
	}
}

func TestNeedPresent(t *testing.T) {
	t.Setenv("CI", "true")
	r := &recorder{TB: t}
	if p := Need(r, "sh", "dash"); p == "" || r.fatal || r.skip {
		t.Errorf("Need(sh) = %q fatal=%v skip=%v, want a path", p, r.fatal, r.skip)
	}
}

func TestGoProgramPath(t *testing.T) {
	t.Setenv("DDNRS_TOOLS", "/tools")
	if got, want := Pebble.Path(), "/tools/pebble-v2.10.3/pebble"; got != want {
		t.Errorf("Pebble.Path() = %q, want %q", got, want)
	}
	// legorun's build is named by its sources: a change to them builds
	// it again rather than running a stale binary.
	got := Lego.Path()
	if dir := filepath.Base(filepath.Dir(got)); !strings.HasPrefix(dir, "legorun-") || len(dir) != len("legorun-")+12 || filepath.Base(got) != "legorun" {
		t.Errorf("Lego.Path() = %q, want /tools/legorun-<12 hex digits>/legorun", got)
	}
	if _, err := os.Stat(filepath.Join(Lego.srcDir(), "go.mod")); err != nil {
		t.Errorf("legorun's module: %v", err)
	}
}
