//go:build !unix

package api

// FileLimit is 0 (unknown) where RLIMIT_NOFILE does not exist.
func FileLimit() uint64 { return 0 }
