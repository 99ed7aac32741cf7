package ops

import (
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
	"github.com/hashicorp/raft"
)

// TestZoneDelegate signs a delegation with the CLI and has a registry
// state machine accept the child's claim with it (and refuse it without).
func TestZoneDelegate(t *testing.T) {
	dir := t.TempDir()
	parent := keygen(t, dir, "example.com.")
	child := keygen(t, dir, "shop.example.com.")
	other := keygen(t, dir, "example.org.")
	public := keygen(t, t.TempDir(), "shop.example.com.") // its .private removed below
	if err := os.Remove(public + ".private"); err != nil {
		t.Fatal(err)
	}

	r := mustRun(t, "zone", "delegate", "--key", parent, "--child-key", child+".key", "shop.EXAMPLE.com")
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.stdout))
	if err != nil || len(sig) != 64 {
		t.Fatalf("stdout %q: not a base64 Ed25519 signature (%v)", r.stdout, err)
	}

	pk, err := loadKey(parent, false)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := loadKey(child, false)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	claim := func(k *zone.Key, delegation []byte) raftfsm.Command {
		return &raftfsm.ClaimZone{Zone: k.Zone, Owner: k.DNSKEY.String(), Actor: "operator", Time: now, Delegation: delegation}
	}
	apply := registryFSM(t, now)
	if res, ok := apply(claim(pk, nil)).(*raftfsm.ApplyResult); !ok {
		t.Fatalf("Apply(claim) = %v", res)
	}
	var re *raftfsm.RejectedError
	if err, _ := apply(claim(ck, nil)).(error); !errors.As(err, &re) || re.Reason != raftfsm.ReasonDelegationRequired {
		t.Errorf("child claim without the delegation = %v, want %s", err, raftfsm.ReasonDelegationRequired)
	}
	if res, ok := apply(claim(ck, sig)).(*raftfsm.ApplyResult); !ok {
		t.Errorf("child claim with the CLI's delegation = %v, want accepted", res)
	}

	tests := []struct {
		desc string
		args []string
		code ExitCode
	}{
		{"child not below the parent", []string{"--key", parent, "--child-key", other, "example.org."}, ExitError},
		{"child key of another zone", []string{"--key", parent, "--child-key", other, "shop.example.com."}, ExitError},
		{"the parent itself", []string{"--key", parent, "--child-key", parent, "example.com."}, ExitError},
		{"no child key", []string{"--key", parent, "shop.example.com."}, ExitUsage},
		{"parent without its private half", []string{"--key", public + ".key", "--child-key", child + ".key", "x.shop.example.com."}, ExitError},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			r := ddnrs(t, append([]string{"zone", "delegate"}, tt.args...)...)
			if r.code != tt.code || r.stdout != "" {
				t.Errorf("exit %d stdout %q, want exit %d and nothing on stdout", r.code, r.stdout, tt.code)
			}
		})
	}
}

// registryFSM returns a function applying registry commands, in order,
// to a fresh state machine on a temp dir whose node directory lists one
// node (so claims can be placed).
func registryFSM(t *testing.T, now time.Time) func(raftfsm.Command) any {
	t.Helper()
	store, err := raftfsm.OpenStore(raftfsm.StorePath(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	fsm, err := raftfsm.NewFSM(store, raftfsm.FSMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var index uint64
	apply := func(c raftfsm.Command) any {
		b, err := raftfsm.EncodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		index++
		return fsm.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: b})
	}
	hb := &raftfsm.NodeHeartbeat{Node: raftfsm.NodeRecord{ID: "n1", Group: "g1", Seen: now}}
	if res, ok := apply(hb).(*raftfsm.ApplyResult); !ok {
		t.Fatalf("Apply(heartbeat) = %v", res)
	}
	return apply
}
