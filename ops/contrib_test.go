package ops

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddnrs/ddnrs/translog"
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

// TestSystemdStubUnit: the stub's unit, its placeholders filled as
// systemd and its environment file would, passes every check ddnrs stub
// makes of its flags (not only that they exist), listens on port 53 with
// the capability to, and keeps its data in its state directory.
func TestSystemdStubUnit(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "contrib", "systemd", "ddnrs-stub.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"AmbientCapabilities=CAP_NET_BIND_SERVICE", "StateDirectory=ddnrs-stub", "DynamicUser=yes", "Before=nss-lookup.target"} {
		if !strings.Contains(unit, "\n"+want+"\n") {
			t.Errorf("ddnrs-stub.service lacks %s", want)
		}
	}
	_, vkey, err := translog.GenerateKey("ddnrs.registry/log")
	if err != nil {
		t.Fatal(err)
	}
	var exec string
	for _, l := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			exec = v
		}
	}
	r := strings.NewReplacer("${STATE_DIRECTORY}", t.TempDir(), "${DDNRS_LOG}", "https://registry.example:8053",
		"${DDNRS_LOG_KEY}", vkey, "$DDNRS_STUB_ARGS", "--region eu --upstream tls://9.9.9.9#dns.quad9.net")
	fields := strings.Fields(r.Replace(exec))
	if len(fields) < 3 || filepath.Base(fields[0]) != "ddnrs" || fields[1] != "stub" {
		t.Fatalf("ExecStart %q does not run ddnrs stub", exec)
	}
	opts := &stubOptions{}
	if err := newStubCmdWith(opts).ParseFlags(fields[2:]); err != nil {
		t.Fatalf("ExecStart %q: %v", exec, err)
	}
	o, err := stubOptionsOf(opts)
	if err != nil {
		t.Fatalf("ExecStart %q: ddnrs stub refuses it: %v", exec, err)
	}
	if o.Listen != "127.0.0.1:53" || o.Region != "eu" || len(o.Upstreams) != 1 || o.LogKey == nil {
		t.Errorf("ExecStart %q gives %+v", exec, o)
	}
}
