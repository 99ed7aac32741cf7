package layers

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// maxNodeLines bounds the non-test Go lines of package node, which is
// wiring: configuration, start and stop, and the glue between the layers
// (docs/architecture.md, "Layers"). What is not wiring belongs in a
// package of its own that declares the small interface it needs (issue
// 10 item 6; the session that got node under it saw features add a
// thousand lines back in an evening).
const maxNodeLines = 4000

// TestNodeIsWiring fails when node grows past maxNodeLines: move the new
// responsibility out instead (docs/architecture.md lists where things
// live) or, if node really must grow, say why where you raise the bound.
func TestNodeIsWiring(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", "..", "node"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", root, err)
	}
	lines := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines += bytes.Count(b, []byte("\n"))
	}
	t.Logf("node: %d non-test lines (bound %d)", lines, maxNodeLines)
	if lines > maxNodeLines {
		t.Errorf("node holds %d non-test lines, over %d: node is wiring; move what is not into a package of its own", lines, maxNodeLines)
	}
}
