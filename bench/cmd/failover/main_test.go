package main

import (
	"slices"
	"testing"
)

func TestPerfShares(t *testing.T) {
	report := `# Samples: 4K of event 'cpu-clock:ppp'
#
# Overhead  Symbol
# ........  ......
#
    17.08%  [k] finish_task_switch.isra.0
     9.50%  [.] crypto/internal/fips140/edwards25519/field.feMul
     5.00%  [.] github.com/hashicorp/raft.(*Raft).runLeader
     3.00%  [.] runtime.mallocgc
     2.00%  [.] go.etcd.io/bbolt.(*Tx).Commit
     1.55%  [.] runtime.memmove
     0.50%  [.] crypto/internal/fips140/aes/gcm.seal
`
	kernel, share, others := perfShares(report)
	if kernel != 17.08 {
		t.Errorf("kernel = %v, want 17.08", kernel)
	}
	want := map[string]float64{
		"Ed25519 signature checks":            9.5,
		"Raft (hashicorp/raft, msgpack)":      5,
		"GC and allocation":                   3,
		"bbolt (Raft log, zone store)":        2,
		"TLS record encryption (Raft, admin)": 0.5,
	}
	for i, k := range perfKinds {
		if share[i] != want[k.kind] {
			t.Errorf("%s = %v, want %v", k.kind, share[i], want[k.kind])
		}
	}
	if got := share[len(perfKinds)]; got != 1.55 {
		t.Errorf("other = %v, want 1.55", got)
	}
	if !slices.Equal(others, []string{"1.55% runtime.memmove"}) {
		t.Errorf("others = %q", others)
	}
}
