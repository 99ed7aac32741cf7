package raftfsm

import (
	"fmt"
	"testing"

	"github.com/hashicorp/raft"
)

// registryWithClaims returns an FSM with two groups and n claims, applied
// in one batch.
func registryWithClaims(b *testing.B, n int) (*testFSM, uint64) {
	b.Helper()
	f := newTestFSM(b)
	logs := []*raft.Log{cmdLog(1, encode(b, heartbeat("n1", "g1", "eu", 1))), cmdLog(2, encode(b, heartbeat("n2", "g2", "us", 1)))}
	for i := range n {
		origin := fmt.Sprintf("z%d.example.", i)
		logs = append(logs, cmdLog(uint64(len(logs)+1), encode(b, claim(origin, seedKey(b, origin, byte(i)), ""))))
	}
	for i, r := range f.ApplyBatch(logs) {
		if _, ok := r.(*ApplyResult); !ok {
			b.Fatalf("setup command %d: %v", i, r)
		}
	}
	return f, uint64(len(logs) + 1)
}

// BenchmarkRegistryHeartbeat applies one heartbeat of a known node per
// Raft entry (the most frequent registry command) with 10000 claims in
// the registry: the per-batch copy of the registry maps plus one bbolt
// commit.
func BenchmarkRegistryHeartbeat(b *testing.B) {
	f, next := registryWithClaims(b, 10000)
	b.ResetTimer()
	for i := range b.N {
		if _, ok := f.apply(next, encode(b, heartbeat("n1", "g1", "eu", i))).(*ApplyResult); !ok {
			b.Fatal("heartbeat rejected")
		}
		next++
	}
}

// BenchmarkRegistryCheckClaim dry-runs a claim without a delegation
// against 10000 claims: owner key parse, enclosing claim, placement
// (counts every claim) and the copy of the claims map the claim writes.
func BenchmarkRegistryCheckClaim(b *testing.B) {
	f, _ := registryWithClaims(b, 10000)
	cmd := encode(b, claim("new.example.", seedKey(b, "new.example.", 1), "eu"))
	b.ResetTimer()
	for range b.N {
		if err := f.Check(cmd); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRegistryLoad opens an FSM whose store holds 10000 claims and
// their 10002 log leaves (parsing each leaf and rebuilding the tree).
func BenchmarkRegistryLoad(b *testing.B) {
	f, _ := registryWithClaims(b, 10000)
	b.ResetTimer()
	for range b.N {
		if _, err := NewFSM(f.store, FSMOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(f.Registry().LogSize()), "leaves")
}
