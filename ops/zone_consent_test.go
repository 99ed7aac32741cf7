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
)

// TestZoneConsent signs a child owner's consent with the CLI and has a
// registry state machine accept the parent's claim above the child with
// it (and refuse it without, naming the child).
func TestZoneConsent(t *testing.T) {
	dir := t.TempDir()
	parent := keygen(t, dir, "example.com.")
	child := keygen(t, dir, "shop.example.com.")
	other := keygen(t, dir, "example.org.")
	public := keygen(t, t.TempDir(), "shop.example.com.")
	if err := os.Remove(public + ".private"); err != nil {
		t.Fatal(err)
	}

	r := mustRun(t, "zone", "consent", "--key", child, "--parent-key", parent+".key", "EXAMPLE.com")
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
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	claim := func(k *zone.Key, consents []raftfsm.Consent) raftfsm.Command {
		return &raftfsm.ClaimZone{Zone: k.Zone, Owner: k.DNSKEY.String(), Actor: "operator", Time: now, Consents: consents}
	}
	apply := registryFSM(t, now)
	if res, ok := apply(claim(ck, nil)).(*raftfsm.ApplyResult); !ok {
		t.Fatalf("Apply(claim) = %v", res)
	}
	var re *raftfsm.RejectedError
	if err, _ := apply(claim(pk, nil)).(error); !errors.As(err, &re) || re.Reason != raftfsm.ReasonChildrenClaimed || !strings.Contains(re.Error(), "shop.example.com.") {
		t.Errorf("parent claim without the consent = %v, want %s naming shop.example.com.", err, raftfsm.ReasonChildrenClaimed)
	}
	if res, ok := apply(claim(pk, []raftfsm.Consent{{Zone: "shop.example.com.", Signature: sig}})).(*raftfsm.ApplyResult); !ok {
		t.Errorf("parent claim with the CLI's consent = %v, want accepted", res)
	}

	tests := []struct {
		desc string
		args []string
		code ExitCode
	}{
		{"parent not above the child", []string{"--key", child, "--parent-key", other + ".key", "example.org."}, ExitError},
		{"parent key of another zone", []string{"--key", child, "--parent-key", other + ".key", "example.com."}, ExitError},
		{"the zone itself", []string{"--key", child, "--parent-key", child + ".key", "shop.example.com."}, ExitError},
		{"no parent key", []string{"--key", child, "example.com."}, ExitUsage},
		{"not a name", []string{"--key", child, "--parent-key", parent + ".key", "exa mple..com"}, ExitUsage},
		{"child without its private half", []string{"--key", public + ".key", "--parent-key", parent + ".key", "example.com."}, ExitError},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			r := ddnrs(t, append([]string{"zone", "consent"}, tt.args...)...)
			if r.code != tt.code || r.stdout != "" {
				t.Errorf("exit %d stdout %q, want exit %d and nothing on stdout", r.code, r.stdout, tt.code)
			}
		})
	}
}
