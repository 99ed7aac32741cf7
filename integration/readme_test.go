package integration

import (
	"bufio"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeCommand is one shell command from a ```sh block of README.md, with
// any here-document it opens.
type readmeCommand struct {
	line int    // line number in README.md
	text string // the command, here-document included
}

var heredocRE = regexp.MustCompile(`<<-?\s*'?"?([A-Za-z_]+)'?"?`)

// readmeCommands returns the commands of every ```sh block, in order.
func readmeCommands(t *testing.T, path string) []readmeCommand {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmds []readmeCommand
	sc := bufio.NewScanner(f)
	n := 0
	inSh := false
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case !inSh && strings.TrimSpace(line) == "```sh":
			inSh = true
			continue
		case inSh && strings.TrimSpace(line) == "```":
			inSh = false
			continue
		case !inSh || strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#"):
			continue
		}
		c := readmeCommand{line: n, text: line}
		if m := heredocRE.FindStringSubmatch(line); m != nil {
			for sc.Scan() {
				n++
				c.text += "\n" + sc.Text()
				if strings.TrimSpace(sc.Text()) == m[1] {
					break
				}
			}
		}
		cmds = append(cmds, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cmds
}

// TestReadme runs the README's example commands the way a reader would, in
// a scratch directory with the built binary on PATH: `make run` and
// `ddnrs dev` start a node (on a free port, which replaces 5300 in the
// dig commands that follow), `make test` and `make build` are skipped (this
// is the test suite; the binary is already built), everything else runs in
// bash and must succeed.
func TestReadme(t *testing.T) {
	needBinary(t)
	dig := needTool(t, "dig", "bind9-dnsutils")
	cmds := readmeCommands(t, filepath.Join("..", "README.md"))
	if len(cmds) < 10 {
		t.Fatalf("README.md has %d shell commands; the test expects the quickstart and the tour", len(cmds))
	}
	work := t.TempDir()
	state := t.TempDir()
	env := []string{
		"PATH=" + filepath.Dir(ddnrsBin) + ":" + filepath.Dir(dig) + ":" + os.Getenv("PATH"),
		"XDG_STATE_HOME=" + state,
	}
	var dev *devNode
	digs := 0
	for _, c := range cmds {
		text := c.text
		fields := strings.Fields(text)
		switch {
		case strings.HasPrefix(text, "make test"), strings.HasPrefix(text, "make build"):
			continue
		case strings.HasPrefix(text, "make run"), strings.HasPrefix(text, "go run ./cmd/ddnrs dev"),
			len(fields) >= 2 && fields[0] == "ddnrs" && fields[1] == "dev":
			args := []string{}
			if fields[0] == "ddnrs" {
				// Let bash expand globs such as keys/K*.private.
				out := runBash(t, work, env, c, "printf '%s\\n' "+strings.Join(stripComment(fields[2:]), " "))
				args = strings.Fields(out)
			}
			if dev != nil {
				if err := dev.stop(); err != nil {
					t.Errorf("README.md:%d: stopping the previous ddnrs dev: %v", c.line, err)
				}
			}
			dev = startDevIn(t, work, env, args...)
			continue
		}
		if strings.Contains(text, "ldns-verify-zone") {
			needTool(t, "ldns-verify-zone", "ldnsutils")
		}
		for tool, pkg := range map[string]string{"kdig": "knot-dnsutils", "curl": "curl", "openssl": "openssl"} {
			if strings.Contains(text, tool+" ") {
				needTool(t, tool, pkg)
			}
		}
		if dev != nil {
			text = encryptedPlaceholders(t, c, dev, state).Replace(text)
		}
		if strings.HasPrefix(text, "dig ") {
			if dev == nil {
				t.Fatalf("README.md:%d: %q before any ddnrs dev", c.line, text)
			}
			text = strings.ReplaceAll(text, "-p 5300", "-p "+dev.port)
			digs++
			out := runBash(t, work, env, c, text+" +time=2 +tries=2")
			r := parseDig(out)
			if r.Status == "" || r.Status == "SERVFAIL" || r.Status == "REFUSED" {
				t.Errorf("README.md:%d: %s: status %q\n%s", c.line, text, r.Status, out)
			}
			if strings.Contains(text, "NXDOMAIN") != (r.Status == "NXDOMAIN") {
				t.Errorf("README.md:%d: %s: status %s, but the README's comment says otherwise", c.line, text, r.Status)
			}
			if !strings.Contains(text, "referral") && !r.Flags["aa"] {
				t.Errorf("README.md:%d: %s: answer lacks aa\n%s", c.line, text, out)
			}
			continue
		}
		runBash(t, work, env, c, text)
	}
	if dev == nil {
		t.Error("README.md starts no ddnrs dev")
	}
	if digs < 8 {
		t.Errorf("README.md: %d dig commands ran, want the tour's (at least 8)", digs)
	}
}

// encryptedPlaceholders replaces what the README's encrypted-DNS commands
// take from the reader's ddnrs dev: the ports 8853 (DoT), 8443 (DoH) and
// 8854 (DoQ), and the default state directory (the test sets
// XDG_STATE_HOME to state).
func encryptedPlaceholders(t *testing.T, c readmeCommand, dev *devNode, state string) *strings.Replacer {
	t.Helper()
	port := func(field, hostport string) string {
		_, p, err := net.SplitHostPort(hostport)
		if err != nil || p == "" || p == "0" {
			t.Fatalf("README.md:%d: the ready file's %s is %q", c.line, field, hostport)
		}
		return p
	}
	u, err := url.Parse(dev.ready.DoH)
	if err != nil {
		t.Fatalf("README.md:%d: the ready file's doh is %q: %v", c.line, dev.ready.DoH, err)
	}
	dot, doh, doq := port("dot", dev.ready.DoT), port("doh", u.Host), port("doq", dev.ready.DoQ)
	return strings.NewReplacer(
		"-p 8853", "-p "+dot,
		"-p 8443", "-p "+doh,
		"localhost:8443", "localhost:"+doh,
		"local.example.org:8443", "local.example.org:"+doh,
		"-p 8854", "-p "+doq,
		"$HOME/.local/state", state,
	)
}

// stripComment drops a trailing shell comment from fields.
func stripComment(fields []string) []string {
	for i, f := range fields {
		if strings.HasPrefix(f, "#") {
			return fields[:i]
		}
	}
	return fields
}

// runBash runs one README command with bash in dir and returns its stdout;
// failure fails the test naming the README line.
func runBash(t *testing.T, dir string, env []string, c readmeCommand, script string) string {
	t.Helper()
	out, errOut, err := tryCmdEnv(dir, env, "bash", "-euo", "pipefail", "-c", script)
	if err != nil {
		t.Fatalf("README.md:%d: %s: %v\n%s%s", c.line, script, err, out, errOut)
	}
	return out
}
