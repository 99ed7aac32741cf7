// Package testtool is the one rule for tests that need an external program
// from a Debian package (dig, kdig, unbound, knotd, ldns-verify-zone, ...):
// locally a missing program skips the test with the package to install;
// under CI (CI=true or CI=1, as CI systems set it) it fails the test, so a
// CI machine without the tool can never pass by skipping.
package testtool

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// InCI reports whether the tests run under CI: CI is "true" or "1"
// (case-insensitive "true" too). There a missing tool is a failure.
func InCI() bool {
	switch os.Getenv("CI") {
	case "true", "TRUE", "True", "1":
		return true
	}
	return false
}

// sbinDirs are searched after PATH: Debian installs servers such as knotd
// and unbound in /usr/sbin, which a non-login PATH may lack.
var sbinDirs = []string{"/usr/sbin", "/usr/bin", "/sbin"}

// Find returns the path of the program name, from PATH or the sbin
// directories, or "" when it is not installed.
func Find(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range sbinDirs {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// Need returns the path of the program name from the Debian package
// debianPkg. When it is missing the test fails under CI and is skipped
// otherwise, the message naming the package to install either way.
func Need(tb testing.TB, name, debianPkg string) string {
	tb.Helper()
	if p := Find(name); p != "" {
		return p
	}
	Missing(tb, name+" not installed", debianPkg)
	return ""
}

// Missing ends the test for a missing prerequisite: Fatalf under CI,
// Skipf otherwise. what says what is missing; debianPkg what installs it.
func Missing(tb testing.TB, what, debianPkg string) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("%s (CI is set, so this fails): apt-get install -y %s (scripts/test-deps.sh installs it)", what, debianPkg)
		return
	}
	tb.Skipf("%s: apt-get install -y %s to run this test", what, debianPkg)
}
