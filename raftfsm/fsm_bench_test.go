package raftfsm

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/hashicorp/raft"
)

// TestFSMConcurrentReaders runs readers and a snapshot's Persist beside
// Apply; the race detector judges it.
func TestFSMConcurrentReaders(t *testing.T) {
	r := newRejectSetup(t)
	snap, err := r.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, s := range r.f.Zones() {
				_ = s.Zone.Tree().Root()
			}
			r.f.Members()
			r.f.AppliedIndex()
		}
	}()
	var persistErr error
	go func() {
		defer wg.Done()
		persistErr = snap.Persist(&memSink{})
	}()
	z := r.v2
	for i := uint64(3); i < 13; i++ {
		nz := change(t, z, r.k, putA(t, fmt.Sprintf("c%d.example.", i), "192.0.2.1"))
		r.f.mustApply(t, i, mustCmd(t)(ChangeCommand(z, nz, r.k)))
		z = nz
	}
	close(stop)
	wg.Wait()
	if persistErr != nil {
		t.Errorf("Persist = %v", persistErr)
	}
}

// benchChain returns a zone of n names, signed, and the commands that
// create it and then change one RRset each, count times.
func benchChain(b *testing.B, n, count int) [][]byte {
	b.Helper()
	k := newKey(b, "example.")
	var extra []string
	for i := range n {
		extra = append(extra, fmt.Sprintf("h%d 3600 IN A 192.0.2.%d", i, i%250+1))
	}
	z := ownerZone(b, "example.", 1, k, extra...)
	cmds := [][]byte{mustCmd(b)(ChangeCommand(nil, z, k))}
	for i := range count {
		nz := change(b, z, k, putA(b, fmt.Sprintf("h%d.example.", i%n), fmt.Sprintf("198.51.100.%d", i%250+1)))
		cmds = append(cmds, mustCmd(b)(ChangeCommand(z, nz, k)))
		z = nz
	}
	return cmds
}

// BenchmarkFSMApply measures what a replica spends on one signed change
// (decode, RRSIG and head checks, rebuilding the zone and its Merkle tree,
// one bbolt transaction with fsync), one change per transaction and 64
// per ApplyBatch. Run: go test -run XXX -bench FSMApply ./raftfsm
func BenchmarkFSMApply(b *testing.B) {
	const changes = 64
	for _, names := range []int{100, 1000} {
		cmds := benchChain(b, names, changes)
		for _, batch := range []int{1, changes} {
			b.Run(fmt.Sprintf("names=%d/batch=%d", names, batch), func(b *testing.B) {
				for range b.N {
					b.StopTimer()
					f := newTestFSM(b)
					f.mustApply(b, 1, cmds[0])
					b.StartTimer()
					for i := 1; i < len(cmds); i += batch {
						var logs []*raft.Log
						for j := i; j < min(i+batch, len(cmds)); j++ {
							logs = append(logs, cmdLog(uint64(j+1), cmds[j]))
						}
						for _, r := range f.ApplyBatch(logs) {
							if _, ok := r.(*ApplyResult); !ok {
								b.Fatalf("ApplyBatch: %v", r)
							}
						}
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*changes)/1e6, "ms/change")
			})
		}
	}
}

// BenchmarkFSMApplyOneChange measures what a replica spends on a change
// of one RRset (a new A record at an existing name, and the SOA's
// serial) in a large zone: names names with an A RRset and an NSEC each,
// so 2×names RRsets (DDNRS_BENCH_NAMES, default 5,000; make bench-scale
// runs 50,000 and 500,000). It reports ms/change; profile with
// -cpuprofile. Run:
//
//	DDNRS_BENCH_NAMES=50000 go test -run XXX -bench FSMApplyOneChange -benchtime 30x ./raftfsm
func BenchmarkFSMApplyOneChange(b *testing.B) {
	names := 5000
	if v := os.Getenv("DDNRS_BENCH_NAMES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("DDNRS_BENCH_NAMES=%q: want a positive number", v)
		}
		names = n
	}
	k := newKey(b, "example.")
	extra := make([]string, 0, names)
	for i := range names {
		extra = append(extra, fmt.Sprintf("h%d 3600 IN A 192.0.2.%d", i, i%250+1))
	}
	z := ownerZone(b, "example.", 1, k, extra...)
	f := newTestFSM(b)
	f.mustApply(b, 1, mustCmd(b)(ChangeCommand(nil, z, k)))
	// The changes, made (signed by the owner) before the timer starts.
	const count = 32
	cmds := make([][]byte, 0, count)
	for i := range count {
		nz := change(b, z, k, putA(b, fmt.Sprintf("h%d.example.", (i*7919)%names), fmt.Sprintf("198.51.100.%d", i%250+1)))
		cmds = append(cmds, mustCmd(b)(ChangeCommand(z, nz, k)))
		z = nz
	}
	b.ResetTimer()
	index := uint64(1)
	for i := range b.N {
		if i > 0 && i%count == 0 {
			b.Fatalf("more than %d iterations: use -benchtime %dx or less", count, count)
		}
		index++
		if _, ok := f.apply(index, cmds[i%count]).(*ApplyResult); !ok {
			b.Fatalf("apply %d: %v", i, f.apply(index, cmds[i%count]))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/change")
	b.ReportMetric(float64(2*names), "RRsets")
}
