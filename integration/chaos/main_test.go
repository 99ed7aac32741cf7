// Package chaos is the fault suite with real networks (issue 15 item 3,
// docs/chaos.md): groups of real `ddnrs node` processes, each in a
// network namespace of its own (internal/netlab), under partitions,
// delay and loss, a full disk; writes checked with porcupine, reads
// probed on every member, acknowledged writes looked for after the
// fault, time to recover printed.
//
// As root the package runs in an isolated network and mount namespace
// (netlab.Main); otherwise every test skips, saying why. The short
// tests run in `make test`; CHAOS=full (`make chaos`) runs all.
package chaos

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/ddnrs/ddnrs/internal/netlab"
)

var (
	ddnrsBin string
	buildErr error
)

func TestMain(m *testing.M) { os.Exit(netlab.Main(suite{m})) }

// suite builds cmd/ddnrs inside the isolated run, runs the tests and
// prints the figures they measured.
type suite struct{ m *testing.M }

func (s suite) Run() int {
	dir, err := os.MkdirTemp("", "ddnrs-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
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
	build.Stdout, build.Stderr = &out, &out
	if err := build.Run(); err != nil {
		buildErr = fmt.Errorf("%v\n%s", err, out.String())
	}
	code := s.m.Run()
	printFigures()
	return code
}

func needBinary(t testing.TB) {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("building cmd/ddnrs: %v", buildErr)
	}
}

// full reports whether the whole suite runs (CHAOS=full, as `make
// chaos` sets it); otherwise the long scenarios skip.
func full(t *testing.T) {
	t.Helper()
	if os.Getenv("CHAOS") != "full" {
		t.Skip("chaos: a long scenario; CHAOS=full (make chaos) runs it")
	}
}

// figures are the rows the tests measured, printed after the run.
var figures struct {
	mu   sync.Mutex
	rows []string
	head map[string]string
}

// figure records one row of table (whose header is head).
func figure(table, head, row string) {
	figures.mu.Lock()
	defer figures.mu.Unlock()
	if figures.head == nil {
		figures.head = map[string]string{}
	}
	figures.head[table] = head
	figures.rows = append(figures.rows, table+"\x00"+row)
}

func printFigures() {
	figures.mu.Lock()
	defer figures.mu.Unlock()
	if len(figures.rows) == 0 {
		return
	}
	tables := map[string][]string{}
	for _, r := range figures.rows {
		t, row, _ := strings.Cut(r, "\x00")
		tables[t] = append(tables[t], row)
	}
	names := make([]string, 0, len(tables))
	for t := range tables {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		fmt.Printf("\n%s\n\n%s\n", t, figures.head[t])
		cols := strings.Count(figures.head[t], "|") - 1
		fmt.Println("|" + strings.Repeat(" --- |", cols))
		for _, r := range tables[t] {
			fmt.Println(r)
		}
	}
}
