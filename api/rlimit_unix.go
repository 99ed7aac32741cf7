//go:build unix

package api

import "syscall"

// FileLimit is the process's soft RLIMIT_NOFILE: how many file
// descriptors it may open (Go raises the soft limit to the hard one at
// start on Linux). 0 when it cannot be read.
func FileLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return r.Cur
}
