package ops

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/internal/pki"
)

func TestCAInitAndCertIssue(t *testing.T) {
	dir := t.TempDir()
	caDir, n1 := filepath.Join(dir, "ca"), filepath.Join(dir, "n1")
	mustRun(t, "ops", "ca", "init", "--dir", caDir)
	r := mustRun(t, "ops", "cert", "issue", "--ca", caDir, "--id", "n1", "--ip", "127.0.0.2", "--dns", "n1.example.net", "--out", n1)
	if !strings.Contains(r.stdout, filepath.Join(n1, pki.CertFile)) {
		t.Errorf("stdout %q does not name the certificate written", r.stdout)
	}
	pair, err := pki.LoadPair(filepath.Join(n1, pki.CertFile), filepath.Join(n1, pki.KeyFile))
	if err != nil {
		t.Fatalf("LoadPair: %v", err)
	}
	pool, err := pki.LoadCAPool(filepath.Join(n1, pki.CACertFile))
	if err != nil {
		t.Fatalf("LoadCAPool of the copy beside the node cert: %v", err)
	}
	for _, host := range []string{"127.0.0.2", "n1.example.net"} {
		if _, err := pair.Cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("Verify(%s) = %v", host, err)
		}
	}
	if pair.Cert.Subject.CommonName != "n1" {
		t.Errorf("CN = %q, want n1", pair.Cert.Subject.CommonName)
	}
	if fi, err := os.Stat(filepath.Join(n1, pki.KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("node key mode: %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	// A second node's certificate goes beside the same CA copy.
	n2 := filepath.Join(dir, "n2")
	mustRun(t, "ops", "cert", "issue", "--ca", caDir, "--id", "n2", "--ip", "127.0.0.3", "--out", n2)

	otherCA := filepath.Join(dir, "other")
	mustRun(t, "ops", "ca", "init", "--dir", otherCA)
	mixed := filepath.Join(dir, "mixed")
	if err := os.MkdirAll(mixed, 0o700); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(otherCA, pki.CACertFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mixed, pki.CACertFile), ca, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		args []string
		code ExitCode
		want string // in stderr
	}{
		{"CA exists", []string{"ops", "ca", "init", "--dir", caDir}, ExitError, "already exists"},
		{"CA without --dir", []string{"ops", "ca", "init"}, ExitUsage, "--dir is required"},
		{"cert exists", []string{"ops", "cert", "issue", "--ca", caDir, "--id", "n1", "--ip", "127.0.0.2", "--out", n1}, ExitError, "already exists"},
		{"missing flags", []string{"ops", "cert", "issue", "--id", "n3"}, ExitUsage, "--ca, --out required"},
		{"no address", []string{"ops", "cert", "issue", "--ca", caDir, "--id", "n3", "--out", filepath.Join(dir, "n3")}, ExitUsage, "at least one --ip or --dns"},
		{"bad IP", []string{"ops", "cert", "issue", "--ca", caDir, "--id", "n3", "--ip", "300.1.1.1", "--out", filepath.Join(dir, "n3")}, ExitUsage, "not an IP address"},
		{"no CA there", []string{"ops", "cert", "issue", "--ca", dir, "--id", "n3", "--ip", "127.0.0.4", "--out", filepath.Join(dir, "n3")}, ExitError, "ops ca init"},
		{"another CA's copy in --out", []string{"ops", "cert", "issue", "--ca", caDir, "--id", "n4", "--ip", "127.0.0.4", "--out", mixed}, ExitError, "another CA"},
		{"unknown subcommand", []string{"ops", "ca", "rotate"}, ExitUsage, "unknown command"},
		{"bad scope role", []string{"ops", "cert", "issue", "--ca", caDir, "--id", "n5", "--ip", "127.0.0.5", "--scope", "admin:eu", "--out", filepath.Join(dir, "n5")}, ExitUsage, "want member, registry, operator or community"},
		{"scope without group", []string{"ops", "cert", "issue", "--ca", caDir, "--id", "n5", "--ip", "127.0.0.5", "--scope", "member", "--out", filepath.Join(dir, "n5")}, ExitUsage, "want ROLE:GROUP"},
		{"member of every group", []string{"ops", "cert", "issue", "--ca", caDir, "--id", "n5", "--ip", "127.0.0.5", "--scope", "member:*", "--out", filepath.Join(dir, "n5")}, ExitUsage, "for operators only"},
		{"validity too short", []string{"ops", "cert", "issue", "--ca", caDir, "--id", "n5", "--ip", "127.0.0.5", "--validity", "5s", "--out", filepath.Join(dir, "n5")}, ExitUsage, "at least 1m"},
		{"revoke without serial", []string{"ops", "cert", "revoke", "--reason", "x", "--server", "127.0.0.1:1", "--ca", "a", "--cert", "b", "--key", "c"}, ExitUsage, "exactly one of --serial and --cert-file"},
		{"revoke bad serial", []string{"ops", "cert", "revoke", "--serial", "xyz", "--reason", "x", "--server", "127.0.0.1:1", "--ca", "a", "--cert", "b", "--key", "c"}, ExitUsage, "not a positive hexadecimal"},
		{"revoke serial 0", []string{"ops", "cert", "revoke", "--serial", "00", "--reason", "x", "--server", "127.0.0.1:1", "--ca", "a", "--cert", "b", "--key", "c"}, ExitUsage, "not a positive hexadecimal"},
		{"revoke without reason", []string{"ops", "cert", "revoke", "--serial", "5f", "--server", "127.0.0.1:1", "--ca", "a", "--cert", "b", "--key", "c"}, ExitUsage, "--reason is required"},
		{"revoke missing cert file", []string{"ops", "cert", "revoke", "--cert-file", filepath.Join(dir, "nope.crt"), "--reason", "x", "--server", "127.0.0.1:1", "--ca", "a", "--cert", "b", "--key", "c"}, ExitError, "--cert-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ddnrs(t, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("ddnrs %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.code, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "n3")); !os.IsNotExist(err) {
		t.Errorf("a refused issue left %s behind (%v)", filepath.Join(dir, "n3"), err)
	}
	if _, err := os.Stat(filepath.Join(mixed, pki.CertFile)); !os.IsNotExist(err) {
		t.Errorf("a refused issue wrote %s (%v)", filepath.Join(mixed, pki.CertFile), err)
	}
}

// A scoped certificate says its scope and serial; the serial parses
// back in every form an operator may paste it.
func TestCertIssueScope(t *testing.T) {
	dir := t.TempDir()
	caDir := filepath.Join(dir, "ca")
	mustRun(t, "ops", "ca", "init", "--dir", caDir)
	r := mustRun(t, "ops", "cert", "issue", "--ca", caDir, "--id", "eu-ops", "--ip", "127.0.0.1", "--scope", "operator:eu", "--validity", "24h", "--out", filepath.Join(dir, "o"))
	c, err := pki.LoadCert(filepath.Join(dir, "o", pki.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	serial := fmt.Sprintf("%x", c.SerialNumber)
	if !strings.Contains(r.stdout, "scope operator:eu") || !strings.Contains(r.stdout, "serial "+serial) {
		t.Errorf("ddnrs ops cert issue --scope printed %q, want the scope and serial %s", r.stdout, serial)
	}
	if s, err := pki.ScopeOf(c); err != nil || s.String() != "operator:eu" {
		t.Errorf("scope %v, %v; want operator:eu", s, err)
	}
	if life := time.Until(c.NotAfter); life > 25*time.Hour || life < 23*time.Hour {
		t.Errorf("valid for %v more, want about 24h", life)
	}
	for _, in := range []string{serial, strings.ToUpper(serial), "0x" + serial, "00" + serial} {
		if got, err := parseSerial(in); err != nil || got != serial {
			t.Errorf("parseSerial(%q) = %q, %v; want %q", in, got, err, serial)
		}
	}
}
