//go:build race

package dnsfront_test

// raceDetector is true when the tests run under -race.
const raceDetector = true
