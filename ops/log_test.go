package ops

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/translog/translogtest"
)

func logEntries(from, to int) []translog.Entry {
	var out []translog.Entry
	for i := from; i < to; i++ {
		out = append(out, translog.Entry{
			Kind: translog.KindRegistration, Time: time.Date(2026, 11, 27, 10, 0, i, 0, time.UTC),
			Zone: fmt.Sprintf("z%d.example.", i), Group: "g1", Actor: "operator",
		})
	}
	return out
}

func TestLogKeygen(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "log.key")
	r := mustRun(t, "log", "keygen", "--name", "registry.example/log", "--out", out)
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("signer key mode %v, want 0600", fi.Mode().Perm())
	}
	signer, err := translog.LoadSigner(out)
	if err != nil {
		t.Fatal(err)
	}
	v, err := translog.NewVerifier(r.stdout)
	if err != nil {
		t.Fatalf("stdout %q is not a verifier key: %v", r.stdout, err)
	}
	msg, err := translog.SignCheckpoint(translog.Checkpoint{Origin: "registry.example/log", Size: 0, Root: [32]byte(emptyRoot(t))}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := translog.OpenCheckpoint(msg, "registry.example/log", v); err != nil {
		t.Errorf("the printed verifier key does not verify the written signer key: %v", err)
	}
	before, _ := os.ReadFile(out)
	if r := ddnrs(t, "log", "keygen", "--out", out); r.code != ExitError || !strings.Contains(r.stderr, "refusing to overwrite") {
		t.Errorf("keygen over an existing file: exit %d, %s", r.code, r.stderr)
	}
	if after, _ := os.ReadFile(out); string(after) != string(before) {
		t.Errorf("keygen overwrote %s", out)
	}
	if r := ddnrs(t, "log", "keygen"); r.code != ExitUsage {
		t.Errorf("keygen without --out: exit %d, want %d", r.code, ExitUsage)
	}
}

func emptyRoot(t *testing.T) []byte {
	t.Helper()
	r, err := translog.NewTree().Root(0)
	if err != nil {
		t.Fatal(err)
	}
	return r[:]
}

func TestLogVerify(t *testing.T) {
	s := translogtest.NewServer(t, "")
	s.Append(t, logEntries(0, 3)...)
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	keyFile := filepath.Join(dir, "log.vkey")
	if err := os.WriteFile(keyFile, []byte(s.Key.VKey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	r := mustRun(t, "log", "verify", "--log", s.URL, "--key", s.Key.VKey, "--state", state)
	if !strings.Contains(r.stdout, "size 3, root ") || !strings.Contains(r.stdout, "first checkpoint seen") {
		t.Errorf("first run printed:\n%s", r.stdout)
	}
	s.Append(t, logEntries(3, 5)...)
	r = mustRun(t, "log", "verify", "--log", s.URL, "--key", keyFile, "--state", state, "--entries")
	for _, want := range []string{
		"0\t2026-11-27T10:00:00Z registration zone=z0.example. group=g1 actor=operator\n",
		"4\t2026-11-27T10:00:04Z registration zone=z4.example.",
		"size 5, root ",
		"consistent with 1 earlier checkpoint (largest seen before: size 3)",
		"5 new entries checked; the log's 5 entries hash to the root",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("second run: stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	s.Append(t, logEntries(5, 6)...)
	r = mustRun(t, "log", "verify", "--log", s.URL, "--key", keyFile, "--state", state, "--entries", "--output", "json")
	var got logVerifyJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("--output json: %v\n%s", err, r.stdout)
	}
	if got.Size != 6 || got.Consistent != 2 || got.PreviousSize != 5 || got.FirstEntry != 5 || len(got.Entries) != 1 || got.Entries[0].Zone != "z5.example." {
		t.Errorf("--output json = %+v", got)
	}
}

func TestLogVerifySplitView(t *testing.T) {
	a := translogtest.NewServer(t, "")
	a.Append(t, logEntries(0, 4)...)
	b := a.Fork(t)
	a.Append(t, logEntries(10, 11)...)
	b.Append(t, logEntries(20, 22)...)
	state := filepath.Join(t.TempDir(), "state.json")
	mustRun(t, "log", "verify", "--log", a.URL, "--key", a.Key.VKey, "--state", state)
	r := ddnrs(t, "log", "verify", "--log", b.URL, "--key", a.Key.VKey, "--state", state)
	if r.code != 3 {
		t.Fatalf("split view: exit %d, want 3", r.code)
	}
	for _, want := range []string{"SPLIT VIEW", string(a.Checkpoint(t)), string(b.Checkpoint(t))} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "split view") || !strings.Contains(r.stderr, "hint:") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
	// a's view is still the one remembered.
	mustRun(t, "log", "verify", "--log", a.URL, "--key", a.Key.VKey, "--state", state)
}

func TestLogVerifyFailures(t *testing.T) {
	s := translogtest.NewServer(t, "")
	s.Append(t, logEntries(0, 2)...)
	other := translogtest.NewKey(t, "")
	state := filepath.Join(t.TempDir(), "state.json")
	for _, tc := range []struct {
		name   string
		setup  func()
		args   []string
		code   ExitCode
		stderr string
	}{
		{"another key", func() {}, []string{"--key", other.VKey}, ExitError, "invalid checkpoint"},
		{"wrong origin", func() {}, []string{"--key", s.Key.VKey, "--origin", "other/log"}, ExitError, `want "other/log"`},
		{"key neither key nor file", func() {}, []string{"--key", "nonsense"}, ExitError, "neither a verifier key nor a readable file"},
		{"server down", func() { s.SetStatus(http.StatusBadGateway) }, []string{"--key", s.Key.VKey}, ExitError, s.URL + "/v1/log/checkpoint: status 502"},
		{"no --log", func() {}, []string{"--key", s.Key.VKey, "--log", ""}, ExitUsage, "required"},
		{"not a URL", func() {}, []string{"--key", s.Key.VKey, "--log", "registry.example"}, ExitUsage, "http://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			t.Cleanup(func() { s.SetStatus(0) })
			args := append([]string{"log", "verify", "--log", s.URL, "--state", state}, tc.args...)
			r := ddnrs(t, args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", r.code, r.stderr, tc.code, tc.stderr)
			}
		})
	}
}

func TestLogVerifyDefaultState(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	s := translogtest.NewServer(t, "")
	s.Append(t, logEntries(0, 1)...)
	mustRun(t, "log", "verify", "--log", s.URL, "--key", s.Key.VKey)
	if _, err := os.Stat(filepath.Join(dir, "ddnrs", "log-monitor.json")); err != nil {
		t.Errorf("default state file: %v", err)
	}
}

func TestLogHelpTeaches(t *testing.T) {
	r := mustRun(t, "log", "verify", "--help")
	for _, want := range []string{"A checkpoint is", "A split view is", "3 split view", "ddnrs log verify --log"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("ddnrs log verify --help lacks %q", want)
		}
	}
}
