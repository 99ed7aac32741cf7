// Package integration holds tests that build the real ddnrs binary, start it
// on loopback with port 0, and query it with real clients: dig, kdig,
// Unbound, ldns-verify-zone, and Knot DNS as a reference server. It has no
// production code.
//
// A missing tool skips its test locally, naming the Debian package to
// install; with CI=true it fails the test instead.
package integration
