package testtool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// GoProgram is a program some tests run that is built from Go source at
// a pinned version (no Debian package has it): Pebble, Let's Encrypt's
// test ACME server, built with go install PKG@VERSION outside this
// repository's module, and legorun, lego's ACME client library with its
// exec DNS-01 provider, a separate module in internal/testtool/legorun
// (lego's CLI does not build from the module proxy here). Neither adds
// anything to our go.mod. They are kept in ToolsDir; scripts/test-deps.sh
// builds them there (go run ./internal/testtool/buildtools), so CI has
// them before the tests run.
type GoProgram struct {
	Name    string // the binary's name
	Package string // the main package's import path (go install), or "" for Dir
	Version string // the module version (go install)
	// Dir is the program's own module, relative to this package's
	// directory, built with go build there; its files' hash names the
	// build.
	Dir string
}

// The programs tests build (docs/acme.md, "How it is tested").
var (
	Pebble = GoProgram{Name: "pebble", Package: "github.com/letsencrypt/pebble/v2/cmd/pebble", Version: "v2.10.3"}
	Lego   = GoProgram{Name: "legorun", Dir: "legorun"} // lego v5.6.0 (its go.mod)
)

// ToolsDir is where built Go programs are kept: $DDNRS_TOOLS, else
// ddnrs-tools in the user's cache directory ($XDG_CACHE_HOME, else
// ~/.cache), each program in NAME-VERSION/.
func ToolsDir() string {
	if d := os.Getenv("DDNRS_TOOLS"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "ddnrs-tools")
}

// srcDir is the directory of p's module (Dir programs).
func (p GoProgram) srcDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), p.Dir)
}

// Path is where p's binary is kept once built.
func (p GoProgram) Path() string {
	v := p.Version
	if p.Dir != "" {
		h := sha256.New()
		for _, f := range []string{"go.mod", "go.sum", "main.go"} {
			b, _ := os.ReadFile(filepath.Join(p.srcDir(), f))
			h.Write(b)
		}
		v = hex.EncodeToString(h.Sum(nil)[:6])
	}
	return filepath.Join(ToolsDir(), p.Name+"-"+v, p.Name)
}

// buildBound bounds one build.
const buildBound = 15 * time.Minute

// Build builds p into Path unless it is there, and returns Path.
func (p GoProgram) Build(ctx context.Context) (string, error) {
	bin := p.Path()
	if fi, err := os.Stat(bin); err == nil && !fi.IsDir() {
		return bin, nil
	}
	goBin := Find("go")
	if goBin == "" {
		return "", errors.New("no go command to build it")
	}
	ctx, cancel := context.WithTimeout(ctx, buildBound)
	defer cancel()
	var cmd *exec.Cmd
	env := append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	if p.Dir != "" {
		cmd = exec.CommandContext(ctx, goBin, "build", "-o", bin, ".")
		cmd.Dir = p.srcDir()
	} else {
		// Outside any module, so our go.mod plays no part.
		tmp, err := os.MkdirTemp("", "ddnrs-gotool-")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(tmp)
		cmd = exec.CommandContext(ctx, goBin, "install", p.Package+"@"+p.Version)
		cmd.Dir = tmp
		env = append(env, "GOBIN="+filepath.Dir(bin))
	}
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v: %s", err, lastLines(string(out), 5))
	}
	return bin, nil
}

// NeedGo returns the path of p's binary, building it when it is not in
// ToolsDir yet. When it cannot be built (no go command, no module proxy)
// the test fails under CI and is skipped otherwise, as Need does for
// Debian packages.
func NeedGo(tb testing.TB, p GoProgram) string {
	tb.Helper()
	if _, err := os.Stat(p.Path()); err != nil {
		tb.Logf("building %s into %s (once)", p.Name, filepath.Dir(p.Path()))
	}
	bin, err := p.Build(context.Background())
	if err != nil {
		how := "scripts/test-deps.sh builds it (go run ./internal/testtool/buildtools)"
		if InCI() {
			tb.Fatalf("%s cannot be built (%v); CI is set, so this fails: %s", p.Name, err, how)
		}
		tb.Skipf("%s cannot be built (%v): %s", p.Name, err, how)
	}
	return bin
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
