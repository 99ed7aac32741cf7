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
	ImportPath   string
	Imports      []string // direct imports of the non-test files
	Deps         []string // every package the non-test build pulls in
	TestImports  []string // direct imports of the package's own _test.go files
	XTestImports []string // direct imports of its external test package (xxx_test)
}

// rank orders the layers top-level DDNRS packages belong to: a package may
// import only packages of a strictly lower rank (internal/ helpers excepted,
// see allowed). Subpackages (dnsfront/dnstest) take their parent's rank.
var rank = map[string]int{
	"zone":     0,
	"translog": 1,
	"raftfsm":  2, // the registry's state machine appends to the transparency log
	"dnsfront": 3,
	"overlay":  3,
	"client":   3,
	"forward":  3, // upstream resolvers for names outside DDNRS, beside dnsfront
	"stub":     4, // the stub resolver (ddnrs stub), beside api
	"api":      4,
	"admin":    4, // the admin endpoint, beside api
	// What a node runs, each with the small interface it needs, below
	// the node that wires them together.
	"intergroup":  5, // the node's traffic with other groups over the overlay
	"logfollow":   5, // following the registry's transparency log
	"clustertls":  5, // which cluster certificates a node accepts, for what (trust per group and role)
	"metrics":     5, // the node's Prometheus registry and /metrics listener
	"standing":    5, // a member's standing: caught up after a restart, still in the group
	"writes":      6, // the write path (imports intergroup)
	"node":        7,
	"ops":         8,
	"cmd":         9,
	"integration": 10,
	"bench":       10,
}

// forbiddenStd lists standard-library packages that zone must not import:
// zone is pure, with no network and no disk (docs/architecture.md, "Layers").
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
			for _, imp := range append(append(append([]string(nil), p.Imports...), p.TestImports...), p.XTestImports...) {
				if t := top(imp); t == "ops" || t == "cmd" {
					out = append(out, fmt.Sprintf("%s imports %s: internal helpers sit below ops and cmd", p.ImportPath, imp))
				}
			}
			continue
		}
		r, known := rank[from]
		if !known {
			out = append(out, fmt.Sprintf("%s: top-level package %q has no layer; add it to docs/architecture.md and to rank in internal/layers", p.ImportPath, from))
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
		out = append(out, testViolations(p, from, r)...)
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

// testViolations checks the imports of p's tests (its _test.go files and
// its external xxx_test package), from is p's top-level package, of rank
// r. A test may import its own layer and the layers below it (a peer of
// the same rank too: integration uses bench/raft's harness), its own
// package tree (the xxx_test package imports xxx and xxx/xxxtest), the
// xxxtest helpers of those layers, and internal/ helpers. It may not
// import a higher layer: a zone test that needs node is a node test. The
// narrower rules of the code hold for its tests too: raftfsm's tests use
// only zone and translog of ours, dnsfront's never raftfsm.
func testViolations(p pkg, from string, r int) []string {
	var out []string
	check := func(kind string, imps []string) {
		for _, imp := range imps {
			to := top(imp)
			if to == "" || to == "internal" || to == from {
				continue
			}
			tr, ok := rank[to]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("%s (%s) imports %s, which has no layer", p.ImportPath, kind, imp))
			case from == "raftfsm" && to != "zone" && to != "translog":
				out = append(out, fmt.Sprintf("%s (%s) imports %s: raftfsm's tests, like raftfsm, import only zone and translog of ours", p.ImportPath, kind, imp))
			case from == "dnsfront" && to == "raftfsm":
				out = append(out, fmt.Sprintf("%s (%s) imports %s: dnsfront's tests, like dnsfront, see the store only through dnsfront.Reader", p.ImportPath, kind, imp))
			case tr > r:
				out = append(out, fmt.Sprintf("%s (%s) imports %s: a test imports its own layer and below (%s is layer %d, %s is layer %d)", p.ImportPath, kind, imp, from, r, to, tr))
			}
		}
	}
	check("test", p.TestImports)
	check("external test", p.XTestImports)
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
	cmd := exec.Command(gobin, "list", "-e", "-json=ImportPath,Imports,Deps,TestImports,XTestImports", module+"/...")
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
	var sawZone, sawTestImports bool
	for _, p := range pkgs {
		if p.ImportPath == module+"/zone" {
			sawZone = true
			sawTestImports = len(p.TestImports) > 0
		}
	}
	if !sawZone {
		t.Fatalf("go list did not list %s/zone; the rules would check nothing", module)
	}
	if !sawTestImports {
		t.Fatalf("go list gave no TestImports for %s/zone; the test rules would check nothing", module)
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
		{"internal test imports cmd", []pkg{{ImportPath: m("internal/x"), XTestImports: []string{m("cmd/ddnrs")}}}, 1},
		{"admin beside api", []pkg{{ImportPath: m("admin"), Imports: []string{m("raftfsm"), m("zone")}}, {ImportPath: m("node"), Imports: []string{m("admin")}}}, 0},
		{"admin imports api", []pkg{{ImportPath: m("admin"), Imports: []string{m("api")}}}, 1},
		{"zone test imports node", []pkg{{ImportPath: m("zone"), TestImports: []string{m("node")}}}, 1},
		{"zone external test imports dnsfront", []pkg{{ImportPath: m("zone"), XTestImports: []string{m("zone"), m("dnsfront")}}}, 1},
		{"zone test runs tools", []pkg{{ImportPath: m("zone"), TestImports: []string{"os", "os/exec"}}}, 0},
		{"node test uses helpers below", []pkg{{ImportPath: m("node"), TestImports: []string{m("raftfsm/raftfsmtest"), m("dnsfront/dnstest"), m("internal/testnet")}, XTestImports: []string{m("node"), m("overlay/overlaytest")}}}, 0},
		{"api test imports node", []pkg{{ImportPath: m("api"), XTestImports: []string{m("node")}}}, 1},
		{"dnsfront test imports a peer", []pkg{{ImportPath: m("dnsfront"), TestImports: []string{m("overlay/overlaytest")}}}, 0},
		{"dnsfront test imports raftfsm", []pkg{{ImportPath: m("dnsfront"), XTestImports: []string{m("raftfsm/raftfsmtest")}}}, 1},
		{"raftfsm test imports overlay", []pkg{{ImportPath: m("raftfsm"), TestImports: []string{m("overlay")}}}, 1},
		{"integration test uses bench harness", []pkg{{ImportPath: m("integration"), TestImports: []string{m("bench/raft"), m("ops")}}}, 0},
		{"ops test imports integration", []pkg{{ImportPath: m("ops"), TestImports: []string{m("integration")}}}, 1},
		{"test imports an unknown package", []pkg{{ImportPath: m("node"), TestImports: []string{m("util")}}}, 1},
	}
	for _, tt := range tests {
		got := violations(tt.pkgs)
		if len(got) != tt.want {
			t.Errorf("violations(%s) = %d %q, want %d", tt.name, len(got), got, tt.want)
		}
	}
}
