// Package layers holds the test that keeps DDNRS's dependencies pointing
// down, as docs/architecture.md ("Layers") describes. It has no
// production code; the rules live in layers_test.go.
package layers
