// Package layers holds the test that keeps DDNRS's dependencies pointing
// down, as ARCHITECTURE.md ("Layers") and STYLE.md §3 require. It has no
// production code; the rules live in layers_test.go.
package layers
