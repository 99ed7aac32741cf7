package ops

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnits: every ExecStart of the unit files in contrib/systemd
// names a ddnrs command and flags that exist, with placeholders filled in
// (the units are documentation that runs).
func TestSystemdUnits(t *testing.T) {
	units, err := filepath.Glob(filepath.Join("..", "contrib", "systemd", "*.service"))
	if err != nil || len(units) == 0 {
		t.Fatalf("no unit files in contrib/systemd (%v)", err)
	}
	for _, path := range units {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "ExecStart=")
			if !ok {
				continue
			}
			found = true
			fields := strings.Fields(line)
			if len(fields) < 2 || filepath.Base(fields[0]) != "ddnrs" {
				t.Errorf("%s: ExecStart %q does not run ddnrs", path, line)
				continue
			}
			args := fields[1:]
			for i, a := range args {
				a = strings.ReplaceAll(a, "%i", "example.com")
				if strings.HasPrefix(a, "${") {
					a = "placeholder"
				}
				args[i] = a
			}
			root := newRootCmd(&env{})
			cmd, rest, err := root.Find(args)
			if err != nil || cmd == root {
				t.Errorf("%s: %q is no ddnrs command: %v", path, line, err)
				continue
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Errorf("%s: %q: %v", path, line, err)
			}
		}
		f.Close()
		if !found {
			t.Errorf("%s has no ExecStart", path)
		}
	}
}
