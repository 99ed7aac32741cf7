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

// bulkNames is how many names the zones a bulk load made must hold, in
// all, for returnMemory to collect: below it the peak is small, and a
// whole-heap collection is not worth its pause (several members of a
// test share one process).
const bulkNames = 20_000

// returnMemory runs a collection and returns the freed heap pages to the
// OS (debug.FreeOSMemory) when zones (the ones a bulk load made; nil
// values are zones it deleted) hold at least bulkNames names. It runs in
// a goroutine of its own, so the Raft apply goroutine that calls it does
// not wait for a whole-heap collection. At most one runs at a time; a
// call while one runs does nothing (that one returns what this call
// would). The goroutine ends by itself when the collection does; nothing
// needs to stop it.
func returnMemory[V any](zones map[string]V) {
	names := 0
	for _, v := range zones {
		switch z := any(v).(type) {
		case ZoneState:
			if z.Zone != nil {
				names += z.Zone.Len()
			}
		case *ZoneState:
			if z != nil && z.Zone != nil {
				names += z.Zone.Len()
			}
		}
	}
	if names < bulkNames || !freeing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer freeing.Store(false)
		debug.FreeOSMemory()
	}()
}
