package ops

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ddnrs/ddnrs/zone"
)

// TestZoneRollbackSign signs a rollback statement with the CLI, parses it
// back with the owner key, and refuses careless inputs with nothing on
// stdout.
func TestZoneRollbackSign(t *testing.T) {
	dir := t.TempDir()
	key := keygen(t, dir, "example.com.")
	other := keygen(t, dir, "example.org.")
	root := zone.RootText([32]byte{1, 2, 3})
	r := mustRun(t, "zone", "rollback-sign", "--key", key, "--zone", "EXAMPLE.com", "--from", "7", "--to", "5", "--root", root)
	k, err := loadKey(key, false)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := zone.ParseRollback([]byte(r.stdout), k)
	if err != nil || rb.Zone != "example.com." || rb.From != 7 || rb.To != 5 || rb.Root != [32]byte{1, 2, 3} {
		t.Fatalf("statement %q: %+v, %v", r.stdout, rb, err)
	}
	out := filepath.Join(dir, "s")
	mustRun(t, "zone", "rollback-sign", "--key", key, "--from", "7", "--to", "5", "--root", root, "--out", out)
	if b, err := os.ReadFile(out); err != nil || len(b) == 0 {
		t.Fatalf("--out: %v", err)
	}
	for _, tt := range []struct {
		desc string
		args []string
		code ExitCode
	}{
		{"no --key", []string{"--from", "7", "--to", "5", "--root", root}, ExitUsage},
		{"no --root", []string{"--key", key, "--from", "7", "--to", "5"}, ExitUsage},
		{"no --from", []string{"--key", key, "--to", "5", "--root", root}, ExitUsage},
		{"not older", []string{"--key", key, "--from", "5", "--to", "7", "--root", root}, ExitUsage},
		{"same serial", []string{"--key", key, "--from", "5", "--to", "5", "--root", root}, ExitUsage},
		{"root not base64", []string{"--key", key, "--from", "7", "--to", "5", "--root", "xyz"}, ExitUsage},
		{"root too short", []string{"--key", key, "--from", "7", "--to", "5", "--root", "AAAA"}, ExitUsage},
		{"another zone's key", []string{"--key", other, "--zone", "example.com.", "--from", "7", "--to", "5", "--root", root}, ExitError},
		{"not a name", []string{"--key", key, "--zone", "exa mple..com", "--from", "7", "--to", "5", "--root", root}, ExitUsage},
		{"serial not a number", []string{"--key", key, "--from", "seven", "--to", "5", "--root", root}, ExitUsage},
		{"an argument", []string{"--key", key, "--from", "7", "--to", "5", "--root", root, "extra"}, ExitUsage},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			r := ddnrs(t, append([]string{"zone", "rollback-sign"}, tt.args...)...)
			if r.code != tt.code || r.stdout != "" {
				t.Errorf("exit %d stdout %q, want exit %d and nothing on stdout", r.code, r.stdout, tt.code)
			}
		})
	}
}
