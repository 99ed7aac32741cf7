package raftfsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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

// registryWithApplications returns an FSM holding n pending applications
// (applied in batches of 1000) and the next index.
func registryWithApplications(b *testing.B, n int) (*testFSM, uint64) {
	b.Helper()
	f := newTestFSM(b)
	next := uint64(1)
	for done := 0; done < n; {
		var logs []*raft.Log
		for ; done < n && len(logs) < 1000; done++ {
			a := testApplication(fmt.Sprintf("%016x", done))
			logs = append(logs, cmdLog(next, encode(b, &SubmitApplication{App: a})))
			next++
		}
		for i, r := range f.ApplyBatch(logs) {
			if _, ok := r.(*ApplyResult); !ok {
				b.Fatalf("setup command %d: %v", i, r)
			}
		}
	}
	return f, next
}

// BenchmarkRegistrySubmit applies one application per Raft entry (one
// bbolt commit each) with 1000 and 100000 pending: with the applications
// in a persistent map the cost does not grow with their number (issue
// 18: the map copy per write took 0.42 ms at 1000 and 19 ms at 100000).
// Figures in bench/README.md.
func BenchmarkRegistrySubmit(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("pending=%d", n), func(b *testing.B) {
			f, next := registryWithApplications(b, n)
			b.ResetTimer()
			for i := range b.N {
				cmd := encode(b, &SubmitApplication{App: testApplication(fmt.Sprintf("new%013d", i))})
				if _, ok := f.apply(next, cmd).(*ApplyResult); !ok {
					b.Fatal("submission rejected")
				}
				next++
			}
		})
	}
}

// BenchmarkRegistryCheckSubmit dry-runs (FSM.Check, no store write) one
// application with 1000 and 100000 pending: the state machine's own
// cost of a submission.
func BenchmarkRegistryCheckSubmit(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("pending=%d", n), func(b *testing.B) {
			f, _ := registryWithApplications(b, n)
			cmd := encode(b, &SubmitApplication{App: testApplication("new")})
			b.ResetTimer()
			for range b.N {
				if err := f.Check(cmd); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// registryRestoredWithClaims returns an FSM restored from a snapshot
// holding two nodes (groups g1 and g2) and n claims below example. (the
// Restore path, which checks no claim against the others: applying
// 100000 claims one by one is what this benchmark measures the parts of).
func registryRestoredWithClaims(b *testing.B, n int) *testFSM {
	b.Helper()
	st := newFSMState()
	for _, hb := range []*NodeHeartbeat{heartbeat("n1", "g1", "eu", 1), heartbeat("n2", "g2", "us", 1)} {
		st.reg.nodes[hb.Node.ID] = hb.Node
	}
	for i := range n {
		origin := fmt.Sprintf("z%d.example.", i)
		c := claim(origin, seedKey(b, origin, byte(i)), "")
		st.reg.setClaim(Claim{Zone: origin, Owner: c.Owner, Group: fmt.Sprintf("g%d", 1+i%2), Created: c.Time, Actor: c.Actor})
	}
	var buf bytes.Buffer
	if err := writeSnapshot(&buf, st); err != nil {
		b.Fatal(err)
	}
	f := newTestFSM(b)
	if err := f.Restore(io.NopCloser(&buf)); err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkRegistryCheckClaimScale dry-runs (FSM.Check) a claim without
// a delegation, and one of a name above claimed zones (example. itself,
// rejected for the missing consents), with 10000 and 100000 claims:
// what a claim costs the state machine as the registry grows. Figures in
// bench/README.md (issue 15 item 2).
func BenchmarkRegistryCheckClaimScale(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		f := registryRestoredWithClaims(b, n)
		if got := len(f.Registry().Claims()); got != n {
			b.Fatalf("restored %d claims, want %d", got, n)
		}
		b.Run(fmt.Sprintf("claims=%d/new", n), func(b *testing.B) {
			cmd := encode(b, claim("new.example.", seedKey(b, "new.example.", 1), "eu"))
			for range b.N {
				if err := f.Check(cmd); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("claims=%d/above", n), func(b *testing.B) {
			cmd := encode(b, claim("example.", seedKey(b, "example.", 1), "eu"))
			for range b.N {
				var re *RejectedError
				if err := f.Check(cmd); !errors.As(err, &re) || re.Reason != ReasonChildrenClaimed {
					b.Fatalf("Check(claim of example.) = %v, want %s", err, ReasonChildrenClaimed)
				}
			}
		})
	}
}
