package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/internal/testnet"
	"github.com/ddnrs/ddnrs/internal/testtool"
)

// ddnrsBin is the binary TestMain builds once for every test; buildErr
// says why it is missing. Tests reach it through needBinary.
var (
	ddnrsBin string
	buildErr error
)

// needBinary fails the test when TestMain could not build cmd/ddnrs; the
// tests that only check this package's helpers run regardless.
func needBinary(t testing.TB) {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("building cmd/ddnrs: %v", buildErr)
	}
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	// Under CI every integration test runs: -short would skip the ones that
	// start node processes, and a green run must not hide that.
	if inCI() && testing.Short() {
		fmt.Fprintln(os.Stderr, "integration: -short is refused under CI: it skips the tests that start node processes")
		return 1
	}
	dir, err := os.MkdirTemp("", "ddnrs-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ddnrsBin = filepath.Join(dir, "ddnrs")
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	build := exec.Command(gobin, "build", "-o", ddnrsBin, "github.com/ddnrs/ddnrs/cmd/ddnrs")
	var out bytes.Buffer
	build.Stdout = &out
	build.Stderr = &out
	if err := build.Run(); err != nil {
		buildErr = fmt.Errorf("%v\n%s", err, out.String())
	}
	return m.Run()
}

// inCI reports whether the tests run under CI, where a missing tool is a
// failure rather than a reason to skip (testtool's one rule).
func inCI() bool { return testtool.InCI() }

// needTool returns the path of a tool from a Debian package, skipping the
// test (failing it under CI) when it is not installed.
func needTool(t testing.TB, name, debianPkg string) string {
	t.Helper()
	return testtool.Need(t, name, debianPkg)
}

// syncBuffer collects a process's output for the test log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a background process owned by one test.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    syncBuffer
	done   chan struct{}
	err    error // exit status, valid after done is closed
	killed bool
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to 10 s, then kills. It returns the exit
// error (nil for exit status 0).
func (p *proc) stop() error {
	if !p.exited() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			p.killed = true
			p.cmd.Process.Kill()
			<-p.done
		}
	}
	return p.err
}

// startProc starts a process in dir and registers its stop (and a log of
// its output when the test failed) with t.Cleanup.
func startProc(t testing.TB, dir, name string, args ...string) *proc {
	t.Helper()
	return startProcEnv(t, nil, dir, name, args...)
}

// startProcEnv is startProc with extra environment variables (KEY=VALUE).
func startProcEnv(t testing.TB, env []string, dir, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: filepath.Base(name), done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Dir = dir
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s %s output:\n%s", p.name, strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

// runCmd runs a command to completion under a 60 s bound and returns its
// standard output; a non-zero exit fails the test with its stderr.
func runCmd(t testing.TB, dir, name string, args ...string) string {
	t.Helper()
	out, errOut, err := tryCmd(dir, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(name), strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// tryCmd runs a command to completion under a 60 s bound.
func tryCmd(dir, name string, args ...string) (stdout, stderr string, err error) {
	return tryCmdEnv(dir, nil, name, args...)
}

// tryCmdEnv is tryCmd with extra environment variables (KEY=VALUE).
func tryCmdEnv(dir string, env []string, name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var o, e bytes.Buffer
	cmd.Stdout = &o
	cmd.Stderr = &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// readyInfo is the JSON `ddnrs dev --ready-file` writes once it listens.
type readyInfo struct {
	DNS   string `json:"dns"`
	API   string `json:"api"` // REST API base URL (http://host:port)
	Data  string `json:"data"`
	Zones []struct {
		Zone   string `json:"zone"`
		Serial uint32 `json:"serial"`
		DNSKEY string `json:"dnskey"`
		DS     string `json:"ds"`
	} `json:"zones"`
	// Member 1's encrypted listeners and how to verify them (issue 5).
	DoT  string `json:"dot"`  // host:port
	DoH  string `json:"doh"`  // URL
	DoQ  string `json:"doq"`  // host:port
	CA   string `json:"ca"`   // the dev CA certificate file
	SPKI string `json:"spki"` // base64 SHA-256 pin of the DNS certificate
}

// devNode is a running `ddnrs dev`.
type devNode struct {
	*proc
	ready readyInfo
	addr  string // host:port of the DNS listeners
	host  string
	port  string
}

// startDev runs `ddnrs dev --dns 127.0.0.1:0 --data DATA --ready-file R`
// plus extra arguments, and waits (bounded) until R appears.
func startDev(t testing.TB, data string, extra ...string) *devNode {
	t.Helper()
	return startDevIn(t, "", nil, append([]string{"--data", data}, extra...)...)
}

// startDevEnv runs `ddnrs dev --dns 127.0.0.1:0 --ready-file R ARGS...`
// with extra environment variables and waits until R appears.
func startDevEnv(t testing.TB, env []string, extra ...string) *devNode {
	t.Helper()
	return startDevIn(t, "", env, extra...)
}

// startDevIn is startDevEnv in working directory dir ("" for a new temp
// dir).
func startDevIn(t testing.TB, dir string, env []string, extra ...string) *devNode {
	t.Helper()
	needBinary(t)
	if dir == "" {
		dir = t.TempDir()
	}
	readyFile := filepath.Join(t.TempDir(), "ready.json")
	args := append([]string{"dev", "--dns", "127.0.0.1:0", "--ready-file", readyFile}, extra...)
	p := startProcEnv(t, env, dir, ddnrsBin, args...)
	d := &devNode{proc: p}
	d.ready = waitReadyFile(t, p, readyFile, 30*time.Second)
	d.addr = d.ready.DNS
	var err error
	d.host, d.port, err = net.SplitHostPort(d.addr)
	if err != nil {
		t.Fatalf("ready file dns = %q: %v", d.addr, err)
	}
	if d.port == "0" {
		t.Fatalf("ready file dns = %q: the bound port, not 0, must be reported", d.addr)
	}
	return d
}

// waitReadyFile polls for the ready file until timeout or the process's
// exit, and decodes it.
func waitReadyFile(t testing.TB, p *proc, path string, timeout time.Duration) readyInfo {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			var r readyInfo
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("ready file %s: %v\n%s", path, err, b)
			}
			return r
		}
		if p.exited() {
			t.Fatalf("ddnrs dev exited before writing %s: %v\n%s", path, p.err, p.out.String())
		}
		if time.Now().After(deadline) {
			t.Fatalf("ddnrs dev wrote no ready file %s within %v\n%s", path, timeout, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePort returns a port on 127.0.0.1 that is free for both UDP and TCP
// at the time of the call, outside the ephemeral range, for servers
// (Unbound, Knot) that cannot bind port 0 and report it.
func freePort(t testing.TB) int {
	t.Helper()
	return testnet.FreePort(t, "127.0.0.1", true)
}

// keygen runs `ddnrs zone keygen ZONE --dir DIR` and returns the path of
// the .private file it wrote.
func keygen(t testing.TB, dir, zoneName string) string {
	t.Helper()
	needBinary(t)
	out := runCmd(t, dir, ddnrsBin, "zone", "keygen", zoneName, "--dir", dir)
	base := strings.TrimSpace(out)
	if i := strings.LastIndexByte(base, '\n'); i >= 0 {
		base = strings.TrimSpace(base[i+1:])
	}
	base = filepath.Base(base)
	priv := filepath.Join(dir, base+".private")
	if _, err := os.Stat(priv); err != nil {
		t.Fatalf("ddnrs zone keygen printed %q but %s is missing: %v", out, priv, err)
	}
	if fi, err := os.Stat(priv); err == nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("keygen: %s has mode %v, want 0600", priv, fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, base+".key")); err != nil {
		t.Fatalf("ddnrs zone keygen: %s.key missing: %v", base, err)
	}
	return priv
}

// signedZone is a zone file signed by the real `ddnrs zone sign`.
type signedZone struct {
	Unsigned string // the zone file as written by hand
	Signed   string // what ddnrs zone sign wrote
	Key      string // the .private path
	Origin   string
}

// fixtureZone returns the path of the shared example. test zone (zone
// owns it; see zone/testdata/README.md).
func fixtureZone(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "zone", "testdata", "example.zone"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// signFixture makes a key for example., copies the fixture zone into a
// temp dir and signs it with `ddnrs zone sign`.
func signFixture(t testing.TB) signedZone {
	t.Helper()
	dir := t.TempDir()
	key := keygen(t, dir, "example.")
	src, err := os.ReadFile(fixtureZone(t))
	if err != nil {
		t.Fatal(err)
	}
	unsigned := filepath.Join(dir, "example.zone")
	if err := os.WriteFile(unsigned, src, 0o644); err != nil {
		t.Fatal(err)
	}
	signed := filepath.Join(dir, "example.zone.signed")
	runCmd(t, dir, ddnrsBin, "zone", "sign", "--key", key, "--out", signed, unsigned)
	if fi, err := os.Stat(signed); err != nil || fi.Size() == 0 {
		t.Fatalf("ddnrs zone sign wrote no %s: %v", signed, err)
	}
	return signedZone{Unsigned: unsigned, Signed: signed, Key: key, Origin: "example."}
}
