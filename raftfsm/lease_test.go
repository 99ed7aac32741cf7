package raftfsm

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/translog"
)

// leased is a claim of origin by the base key with a lease.
func leased(t testing.TB, origin string, seed byte, l Lease, maxLeases uint32) *ClaimZone {
	t.Helper()
	c := claim(origin, seedKey(t, origin, seed), "")
	c.Lease, c.MaxLeases = l, maxLeases
	return c
}

// leaseGoldenCommands are the lease commands' golden encodings.
func leaseGoldenCommands(t testing.TB) map[string][]byte {
	t.Helper()
	return map[string][]byte{
		"cmd_claim_zone_v4.hex": encode(t, leased(t, "pr-1.dev.example.net.", 3, Lease{Expires: regAt(5).Add(72 * time.Hour), Idle: 3600}, 10)),
		"cmd_lease_change.hex":  encode(t, &LeaseChange{Zone: "pr-1.dev.example.net.", Actor: "00000000000000a1", Time: regAt(6), Expires: regAt(6).Add(96 * time.Hour)}),
		"cmd_expire_zone.hex":   encode(t, &ExpireZone{Zone: "pr-1.dev.example.net.", Time: regAt(6).Add(97 * time.Hour)}),
		"cmd_drop_zone.hex":     encode(t, &DropZone{Zone: "example.", Owner: ownerText(seedKey(t, "example.", 2)), Reason: "lease ran out"}),
	}
}

func TestLeaseCommandGolden(t *testing.T) {
	want := map[string][2]byte{"cmd_claim_zone_v4.hex": {byte(TypeClaimZone), claimZoneVersion4},
		"cmd_lease_change.hex": {byte(TypeLeaseChange), 1}, "cmd_expire_zone.hex": {byte(TypeExpireZone), 1}, "cmd_drop_zone.hex": {byte(TypeDropZone), 1}}
	for name, b := range leaseGoldenCommands(t) {
		t.Run(name, func(t *testing.T) {
			checkCommandGolden(t, name, b, CommandType(want[name][0]), want[name][1])
		})
	}
	// The golden lease commands apply in order: claim, extend, expire.
	f := newTestFSM(t)
	next := f.applyAll(t, 1, regBase(t)...)
	cmds := leaseGoldenCommands(t)
	for _, name := range []string{"cmd_claim_zone_v4.hex", "cmd_lease_change.hex", "cmd_expire_zone.hex"} {
		f.mustApply(t, next, cmds[name])
		next++
	}
	// The drop applies to the golden zone state (example. under key 2).
	g := goldenState(t)
	g.mustApply(t, g.AppliedIndex()+1, cmds["cmd_drop_zone.hex"])
	if _, ok := g.Zone("example."); ok {
		t.Error("example. still held after cmd_drop_zone.hex")
	}
}

func TestLeaseApply(t *testing.T) {
	const key = "00000000000000a1"
	in72h := regAt(5).Add(72 * time.Hour)
	tests := []struct {
		name  string
		setup []Command
		cmd   Command
		want  Reason
		check func(t *testing.T, r *RegistryState)
	}{
		{name: "claim with a lease", cmd: leased(t, "pr-1.example.net.", 3, Lease{Expires: in72h, Idle: 7 * 86400}, 2), check: func(t *testing.T, r *RegistryState) {
			c, _ := r.Claim("pr-1.example.net.")
			if c.Lease.Key != key || !c.Lease.Active.Equal(regAt(5)) || !c.Lease.Deadline().Equal(in72h) {
				t.Errorf("lease %+v, want key %s, active at the claim, deadline %s", c.Lease, key, in72h)
			}
			e, _ := translog.ParseEntry(must(r.LogEntry(r.LogSize() - 1)))
			if e.Kind != translog.KindRegistration || !strings.Contains(e.Reason, "ephemeral: expires") {
				t.Errorf("registration %+v, want it to say ephemeral", e)
			}
		}},
		{name: "claim expiring before it is made", cmd: leased(t, "pr-1.example.net.", 3, Lease{Expires: regAt(5)}, 0), want: ReasonMalformed},
		{name: "quota", setup: []Command{leased(t, "pr-1.example.net.", 3, Lease{Idle: 60}, 1)},
			cmd: leased(t, "pr-2.example.net.", 3, Lease{Idle: 60}, 1), want: ReasonLeaseQuota},
		{name: "quota counts only leased claims", setup: []Command{claim("perm.example.net.", seedKey(t, "perm.example.net.", 3), "")},
			cmd: leased(t, "pr-2.example.net.", 3, Lease{Idle: 60}, 1)},
		{name: "expire before the deadline", setup: []Command{leased(t, "pr-1.example.net.", 3, Lease{Expires: in72h}, 0)},
			cmd: &ExpireZone{Zone: "pr-1.example.net.", Time: in72h.Add(-time.Second)}, want: ReasonNotDue},
		{name: "expire at the deadline", setup: []Command{leased(t, "pr-1.example.net.", 3, Lease{Expires: in72h}, 0)},
			cmd: &ExpireZone{Zone: "pr-1.example.net.", Time: in72h}, check: func(t *testing.T, r *RegistryState) {
				if _, ok := r.Claim("pr-1.example.net."); ok {
					t.Error("claim still there after its expiry")
				}
				e, _ := translog.ParseEntry(must(r.LogEntry(r.LogSize() - 1)))
				if e.Kind != translog.KindRelease || e.Actor != LeaseActor || e.Zone != "pr-1.example.net." || e.OwnerKey == "" {
					t.Errorf("last log entry %+v, want the lease's release", e)
				}
			}},
		{name: "expire idle", setup: []Command{leased(t, "pr-1.example.net.", 3, Lease{Idle: 3600}, 0)},
			cmd: &ExpireZone{Zone: "pr-1.example.net.", Time: regAt(5).Add(time.Hour)}},
		{name: "a touch puts the idle deadline off", setup: []Command{leased(t, "pr-1.example.net.", 3, Lease{Idle: 3600}, 0),
			&LeaseChange{Zone: "pr-1.example.net.", Time: regAt(5).Add(30 * time.Minute), Touch: true}},
			cmd: &ExpireZone{Zone: "pr-1.example.net.", Time: regAt(5).Add(time.Hour)}, want: ReasonNotDue},
		{name: "an old touch does not move it back", setup: []Command{leased(t, "pr-1.example.net.", 3, Lease{Idle: 3600}, 0),
			&LeaseChange{Zone: "pr-1.example.net.", Time: regAt(5).Add(30 * time.Minute), Touch: true}},
			cmd: &LeaseChange{Zone: "pr-1.example.net.", Time: regAt(5), Touch: true}, check: func(t *testing.T, r *RegistryState) {
				if c, _ := r.Claim("pr-1.example.net."); !c.Lease.Active.Equal(regAt(5).Add(30 * time.Minute)) {
					t.Errorf("active %s after an older touch", c.Lease.Active)
				}
			}},
		{name: "touch does not end a fixed expiry", setup: []Command{leased(t, "pr-1.example.net.", 3, Lease{Expires: in72h}, 0),
			&LeaseChange{Zone: "pr-1.example.net.", Time: in72h.Add(-time.Minute), Touch: true}},
			cmd: &ExpireZone{Zone: "pr-1.example.net.", Time: in72h}},
		{name: "extend", setup: []Command{leased(t, "pr-1.example.net.", 3, Lease{Expires: in72h}, 0),
			&LeaseChange{Zone: "pr-1.example.net.", Time: regAt(6), Expires: in72h.Add(24 * time.Hour)}},
			cmd: &ExpireZone{Zone: "pr-1.example.net.", Time: in72h}, want: ReasonNotDue},
		{name: "extend into the past", setup: []Command{leased(t, "pr-1.example.net.", 3, Lease{Expires: in72h}, 0)},
			cmd: &LeaseChange{Zone: "pr-1.example.net.", Time: regAt(6), Expires: regAt(6)}, want: ReasonMalformed},
		{name: "make permanent", setup: []Command{leased(t, "pr-1.example.net.", 3, Lease{Expires: in72h}, 0),
			&LeaseChange{Zone: "pr-1.example.net.", Time: regAt(6)}},
			cmd: &ExpireZone{Zone: "pr-1.example.net.", Time: in72h.Add(time.Hour)}, want: ReasonNoLease},
		{name: "lease change of a permanent claim", cmd: &LeaseChange{Zone: "example.", Time: regAt(6), Expires: in72h}, want: ReasonNoLease},
		{name: "lease change of no claim", cmd: &LeaseChange{Zone: "nope.", Time: regAt(6), Touch: true}, want: ReasonNoClaim},
		{name: "expire a permanent claim", cmd: &ExpireZone{Zone: "example.", Time: in72h}, want: ReasonNoLease},
		{name: "name free after expiry", setup: []Command{leased(t, "pr-1.example.net.", 3, Lease{Expires: in72h}, 0),
			&ExpireZone{Zone: "pr-1.example.net.", Time: in72h}},
			cmd: claim("pr-1.example.net.", seedKey(t, "pr-1.example.net.", 4), "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			registryCase(t, tt.setup, tt.cmd, tt.want, tt.check)
		})
	}
}

// TestLeaseSnapshot: leases survive a snapshot (format 4) and a restart
// from the store (claim value version 2).
func TestLeaseSnapshot(t *testing.T) {
	f := newTestFSM(t)
	f.applyAll(t, 1, append(regBase(t), leased(t, "pr-1.example.net.", 3, Lease{Expires: regAt(9), Idle: 60}, 0))...)
	var buf bytes.Buffer
	if err := f.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if buf.Bytes()[8] != snapshotVersion4 {
		t.Errorf("snapshot with a lease has version %d, want 4", buf.Bytes()[8])
	}
	g := newTestFSM(t)
	if err := g.Restore(readCloser(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if got, want := g.regDump(t), f.regDump(t); got != want {
		t.Errorf("restored registry:\n%s\nwant:\n%s", got, want)
	}
	if c, _ := g.Registry().Claim("pr-1.example.net."); c.Lease.Idle != 60 || !c.Lease.Expires.Equal(regAt(9)) {
		t.Errorf("restored lease %+v", c.Lease)
	}
}

func TestDropZone(t *testing.T) {
	cmds := leaseGoldenCommands(t)
	g := goldenState(t) // example. under key 2
	other := encode(t, &DropZone{Zone: "example.", Owner: ownerText(seedKey(t, "example.", 1)), Reason: "x"})
	var rej *RejectedError
	if err, ok := g.apply(g.AppliedIndex()+1, other).(error); !ok || !errors.As(err, &rej) || rej.Reason != ReasonWrongKey {
		t.Errorf("drop with another owner key = %v, want %s", err, ReasonWrongKey)
	}
	g.mustApply(t, g.AppliedIndex()+1, cmds["cmd_drop_zone.hex"])
	if err, ok := g.apply(g.AppliedIndex()+1, cmds["cmd_drop_zone.hex"]).(error); !ok || !errors.As(err, &rej) || rej.Reason != ReasonNoZone {
		t.Errorf("second drop = %v, want %s", err, ReasonNoZone)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
