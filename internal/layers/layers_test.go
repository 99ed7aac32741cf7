package layers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/ddnrs/ddnrs"

// pkg is the part of `go list -json` output the rules read.
type pkg struct {
	ImportPath string
	Imports    []string // direct imports of the non-test files
	Deps       []string // every package the non-test build pulls in
}

// rank orders the layers top-level DDNRS packages belong to: a package may
// import only packages of a strictly lower rank (internal/ helpers excepted,
// see allowed). Subpackages (dnsfront/dnstest) take their parent's rank.
var rank = map[string]int{
	"zone":        0,
	"translog":    1,
	"raftfsm":     2, // the registry's state machine appends to the transparency log
	"dnsfront":    3,
	"overlay":     3,
	"client":      3,
	"api":         4,
	"node":        5,
	"ops":         6,
	"cmd":         7,
	"integration": 8,
	"bench":       8,
}

// forbiddenStd lists standard-library packages that zone must not import:
// zone is pure, with no network and no disk (ARCHITECTURE.md, "Data model").
var forbiddenStd = []string{"net", "os", "os/exec", "os/signal", "io/ioutil", "syscall"}

// top returns the first path element of a DDNRS package below the module
// ("dnsfront" for .../dnsfront/dnstest), or "" for packages outside it.
func top(path string) string {
	if path == module {
		return "."
	}
	rel, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return ""
	}
	first, _, _ := strings.Cut(rel, "/")
	return first
}

// violations returns every broken layer rule among pkgs, one line each.
func violations(pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		from := top(p.ImportPath)
		if from == "" {
			continue
		}
		if from == "internal" {
			// Helpers that belong to no layer: they may import the
			// layers they help test, but never ops or cmd.
			for _, imp := range p.Imports {
				if t := top(imp); t == "ops" || t == "cmd" {
					out = append(out, fmt.Sprintf("%s imports %s: internal helpers sit below ops and cmd", p.ImportPath, imp))
				}
			}
			continue
		}
		r, known := rank[from]
		if !known {
			out = append(out, fmt.Sprintf("%s: top-level package %q has no layer; add it to ARCHITECTURE.md and to rank in internal/layers", p.ImportPath, from))
			continue
		}
		for _, imp := range p.Imports {
			to := top(imp)
			switch {
			case to == "":
				if from == "zone" && isForbiddenStd(imp) {
					out = append(out, fmt.Sprintf("%s imports %s: zone is pure (no network, no disk)", p.ImportPath, imp))
				}
			case to == "internal" || to == from:
			default:
				tr, ok := rank[to]
				switch {
				case !ok:
					out = append(out, fmt.Sprintf("%s imports %s, which has no layer", p.ImportPath, imp))
				case from == "raftfsm" && to != "zone" && to != "translog":
					out = append(out, fmt.Sprintf("%s imports %s: raftfsm may import only zone and translog of ours", p.ImportPath, imp))
				case tr >= r:
					out = append(out, fmt.Sprintf("%s imports %s: dependencies point down only (%s is layer %d, %s is layer %d)", p.ImportPath, imp, from, r, to, tr))
				}
			}
		}
		// dnsfront sees the store through its own small interface: not
		// even indirectly may it pull in raftfsm.
		if from == "dnsfront" {
			for _, d := range p.Deps {
				if top(d) == "raftfsm" {
					out = append(out, fmt.Sprintf("%s depends on %s: dnsfront must not import raftfsm, even indirectly", p.ImportPath, d))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func isForbiddenStd(imp string) bool {
	for _, f := range forbiddenStd {
		if imp == f || strings.HasPrefix(imp, "net/") {
			return true
		}
	}
	return false
}

// goList runs `go list -e -json` over the whole module and decodes its
// stream of JSON objects.
func goList(t *testing.T) []pkg {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(gobin, "list", "-e", "-json=ImportPath,Imports,Deps", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestLayers(t *testing.T) {
	pkgs := goList(t)
	if len(pkgs) == 0 {
		t.Fatal("go list found no packages")
	}
	var sawZone bool
	for _, p := range pkgs {
		if p.ImportPath == module+"/zone" {
			sawZone = true
		}
	}
	if !sawZone {
		t.Fatalf("go list did not list %s/zone; the rules would check nothing", module)
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

// TestViolations shows the rules catch what they are meant to catch.
func TestViolations(t *testing.T) {
	m := func(s string) string { return module + "/" + s }
	tests := []struct {
		name string
		pkgs []pkg
		want int
	}{
		{"clean tree", []pkg{
			{ImportPath: m("zone"), Imports: []string{"bytes", "github.com/miekg/dns"}},
			{ImportPath: m("raftfsm"), Imports: []string{m("zone"), "go.etcd.io/bbolt", "os"}},
			{ImportPath: m("dnsfront"), Imports: []string{m("zone"), "net"}, Deps: []string{m("zone")}},
			{ImportPath: m("node"), Imports: []string{m("dnsfront"), m("raftfsm"), m("zone")}},
			{ImportPath: m("ops"), Imports: []string{m("node"), m("zone")}},
			{ImportPath: m("cmd/ddnrs"), Imports: []string{m("ops")}},
			{ImportPath: m("internal/testnet"), Imports: []string{m("zone")}},
		}, 0},
		{"zone imports net", []pkg{{ImportPath: m("zone"), Imports: []string{"net"}}}, 1},
		{"zone imports os", []pkg{{ImportPath: m("zone"), Imports: []string{"os"}}}, 1},
		{"zone imports net/netip", []pkg{{ImportPath: m("zone"), Imports: []string{"net/netip"}}}, 1},
		{"zone imports another layer", []pkg{{ImportPath: m("zone"), Imports: []string{m("dnsfront")}}}, 1},
		{"dnsfront imports raftfsm", []pkg{{ImportPath: m("dnsfront"), Imports: []string{m("raftfsm")}, Deps: []string{m("raftfsm"), m("zone")}}}, 1},
		{"dnsfront reaches raftfsm indirectly", []pkg{{ImportPath: m("dnsfront/dnstest"), Imports: []string{m("zone")}, Deps: []string{m("raftfsm")}}}, 1},
		{"raftfsm imports dnsfront", []pkg{{ImportPath: m("raftfsm"), Imports: []string{m("dnsfront")}}}, 1},
		{"raftfsm imports translog", []pkg{{ImportPath: m("raftfsm"), Imports: []string{m("translog")}}}, 0},
		{"translog imports raftfsm", []pkg{{ImportPath: m("translog"), Imports: []string{m("raftfsm")}}}, 1},
		{"node imports ops", []pkg{{ImportPath: m("node"), Imports: []string{m("ops")}}}, 1},
		{"dnsfront imports node", []pkg{{ImportPath: m("dnsfront"), Imports: []string{m("node")}}}, 1},
		{"unknown top-level package", []pkg{{ImportPath: m("util")}}, 1},
		{"internal imports ops", []pkg{{ImportPath: m("internal/x"), Imports: []string{m("ops")}}}, 1},
	}
	for _, tt := range tests {
		got := violations(tt.pkgs)
		if len(got) != tt.want {
			t.Errorf("violations(%s) = %d %q, want %d", tt.name, len(got), got, tt.want)
		}
	}
}
