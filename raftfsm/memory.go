package raftfsm

import (
	"runtime/debug"
	"sync/atomic"
)

// memory.go: giving back what a bulk load used (docs/large-zones.md,
// "Memory"). Loading the store, restoring a snapshot and committing a
// staged upload decode every RRset of a zone (dns.RR values, several
// times the packed form a zone keeps) before the zone packs them; the
// heap then holds the packed zone and a peak's worth of free pages,
// which the Go runtime returns to the OS only slowly (its scavenger
// paces itself), so a member's RSS stayed near the peak for minutes.

// freeing is set while a returnMemory collection runs.
var freeing atomic.Bool

// returnMemory runs a collection and returns the freed heap pages to the
// OS (debug.FreeOSMemory) in a goroutine of its own, so the Raft apply
// goroutine that calls it does not wait for a whole-heap collection. At
// most one runs at a time; a call while one runs does nothing (that one
// returns what this call would). The goroutine ends by itself when the
// collection does; nothing needs to stop it.
func returnMemory() {
	if !freeing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer freeing.Store(false)
		debug.FreeOSMemory()
	}()
}
