package integration

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// guideBlock is one shell block of docs/operator-guide.md marked for the
// walk: <!-- walk --> (run), or <!-- walk: KIND --> with KIND env,
// install, start or check.
type guideBlock struct {
	kind string
	line int // of the opening fence, for messages
	text string
}

var walkMark = regexp.MustCompile(`^<!-- walk(?::\s*(\w+))?\s*-->$`)

// guideBlocks reads the marked blocks of the guide at path, in order.
func guideBlocks(t *testing.T, path string) []guideBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []guideBlock
	sc := bufio.NewScanner(f)
	n, kind, inBlock := 0, "", false
	var cur *guideBlock
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case inBlock && strings.TrimSpace(line) == "```":
			inBlock = false
			if cur != nil {
				out = append(out, *cur)
				cur = nil
			}
		case inBlock:
			if cur != nil {
				cur.text += line + "\n"
			}
		case strings.HasPrefix(line, "```"):
			inBlock = true
			if kind != "" {
				if line != "```sh" {
					t.Fatalf("%s:%d: a walked block must be ```sh, not %s", path, n, line)
				}
				cur = &guideBlock{kind: kind, line: n}
				kind = ""
			}
		default:
			if m := walkMark.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
				kind = m[1]
				if kind == "" {
					kind = "run"
				}
				if !slices.Contains([]string{"run", "env", "install", "start", "check"}, kind) {
					t.Fatalf("%s:%d: unknown walk kind %q", path, n, kind)
				}
			} else if strings.TrimSpace(line) != "" && kind != "" {
				t.Fatalf("%s:%d: a walk mark must be followed by its ```sh block", path, n)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOperatorGuideWalk runs the deploy steps of docs/operator-guide.md
// (issue 14 item 7): a registry group and two regions bootstrapped with
// the CLI only, every member started as the systemd unit starts it, an
// API key issued, a zone published by its owner through the REST API,
// and answered by a node of each group. The commands are the guide's,
// with loopback addresses and free ports for the operator's values; the
// test refuses a guide whose env block names a value it does not set.
// What needs other machines (rsync, systemctl) the test does locally:
// it copies each member's directory to INSTALL and runs the unit's
// ExecStart line.
func TestOperatorGuideWalk(t *testing.T) {
	needBinary(t)
	needTool(t, "dig", "bind9-dnsutils")
	blocks := guideBlocks(t, filepath.Join("..", "docs", "operator-guide.md"))
	if len(blocks) < 6 {
		t.Fatalf("the guide has %d walked blocks, want the deploy steps (at least 6)", len(blocks))
	}
	work := t.TempDir()
	install := filepath.Join(work, "install")
	if err := os.Mkdir(install, 0o755); err != nil {
		t.Fatal(err)
	}
	groups := []struct {
		name string
		ips  []string
	}{
		{"reg", []string{"127.0.90.1", "127.0.90.2", "127.0.90.3"}},
		{"eu", []string{"127.0.91.1", "127.0.91.2"}},
		{"us", []string{"127.0.92.1", "127.0.92.2"}},
	}
	vars := map[string]string{
		"REG_IPS":      strings.Join(groups[0].ips, ","),
		"EU_IPS":       strings.Join(groups[1].ips, ","),
		"US_IPS":       strings.Join(groups[2].ips, ","),
		"INSTALL":      install,
		"DNS_PORT":     strconv.Itoa(freePortOn(t, "127.0.90.1", true)),
		"RAFT_PORT":    strconv.Itoa(freePortOn(t, "127.0.90.1", false)),
		"ADMIN_PORT":   strconv.Itoa(freePortOn(t, "127.0.90.1", false)),
		"API_PORT":     strconv.Itoa(freePortOn(t, "127.0.90.1", false)),
		"OVERLAY_PORT": strconv.Itoa(freePortOn(t, "127.0.90.1", true)),
	}
	env := []string{"PATH=" + filepath.Dir(ddnrsBin) + string(os.PathListSeparator) + os.Getenv("PATH")}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	unit := unitExecStart(t, filepath.Join("..", "contrib", "systemd", "ddnrs-node@.service"))
	var started []string
	for _, b := range blocks {
		where := fmt.Sprintf("operator-guide.md:%d (%s)", b.line, b.kind)
		began := time.Now()
		t.Logf("%s ...", where)
		switch b.kind {
		case "env":
			for _, name := range assignedNames(b.text) {
				if _, ok := vars[name]; !ok {
					t.Fatalf("%s: the guide asks for %s, which this test does not set: give it a loopback value here", where, name)
				}
			}
		case "run":
			if out, err := runShell(work, env, b.text, 3*time.Minute); err != nil {
				t.Fatalf("%s: %v\n%s\n--- block:\n%s", where, err, out, b.text)
			}
		case "install":
			if !strings.Contains(b.text, "/var/lib/ddnrs/") {
				t.Fatalf("%s: the install step should copy a member's directory to /var/lib/ddnrs/ID, the unit's path", where)
			}
			for _, g := range groups {
				for i := range g.ips {
					id := fmt.Sprintf("%s-%d", g.name, i+1)
					if out, err := exec.Command("cp", "-a", filepath.Join(work, g.name, id), filepath.Join(install, id)).CombinedOutput(); err != nil {
						t.Fatalf("%s: copying %s: %v\n%s", where, id, err, out)
					}
				}
			}
		case "start":
			if !strings.Contains(b.text, "ddnrs-node@") {
				t.Fatalf("%s: the start step should start the unit ddnrs-node@ID", where)
			}
			run := filepath.Join(work, "run")
			for _, g := range groups {
				var ps []*proc
				var readies []string
				for i := range g.ips {
					id := fmt.Sprintf("%s-%d", g.name, i+1)
					args := make([]string, len(unit))
					for k, a := range unit {
						a = strings.ReplaceAll(a, "/var/lib/ddnrs", install)
						a = strings.ReplaceAll(a, "/run/ddnrs-%i", filepath.Join(run, id))
						args[k] = strings.ReplaceAll(a, "%i", id)
					}
					if err := os.MkdirAll(filepath.Join(run, id), 0o755); err != nil {
						t.Fatal(err)
					}
					ps = append(ps, startProc(t, work, ddnrsBin, args...))
					readies = append(readies, filepath.Join(run, id, "ready.json"))
					started = append(started, id)
				}
				for i, p := range ps {
					waitReadyFile(t, p, readies[i], 90*time.Second)
				}
			}
		case "check":
			deadline := time.Now().Add(90 * time.Second)
			for {
				out, err := runShell(work, env, b.text, time.Minute)
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: still failing after 90 s: %v\n%s\n--- block:\n%s", where, err, out, b.text)
				}
				time.Sleep(500 * time.Millisecond)
			}
		}
		t.Logf("%s done in %v", where, time.Since(began).Round(time.Millisecond))
	}
	if len(started) != 7 {
		t.Fatalf("the guide's start step started %d members, want 7 (3 registry, 2 eu, 2 us)", len(started))
	}
}

// runShell runs script with bash -euo pipefail in dir, bounded by limit.
func runShell(dir string, env []string, script string, limit time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// assignedNames returns the shell variables a block assigns (NAME=...),
// comments ignored.
func assignedNames(text string) []string {
	var names []string
	re := regexp.MustCompile(`^([A-Z_][A-Z0-9_]*)=`)
	for _, line := range strings.Split(text, "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		for _, f := range strings.Fields(line) {
			if m := re.FindStringSubmatch(f); m != nil {
				names = append(names, m[1])
			}
		}
	}
	return names
}

// unitExecStart returns the arguments of the unit's ExecStart after the
// ddnrs binary.
func unitExecStart(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "ExecStart="); ok {
			f := strings.Fields(rest)
			if len(f) < 2 || filepath.Base(f[0]) != "ddnrs" {
				t.Fatalf("%s: ExecStart %q does not run ddnrs", path, rest)
			}
			return f[1:]
		}
	}
	t.Fatalf("%s: no ExecStart", path)
	return nil
}
