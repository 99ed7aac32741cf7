package raftfsm

import (
	"bytes"
	"errors"
	"testing"
)

// sealedApp is an application whose applicant gave a seal key.
func sealedApp(id string) Application {
	a := testApplication(id)
	for i := range a.SealTo {
		a.SealTo[i] = byte(0x40 + i)
	}
	return a
}

// testSealed stands for a sealed key: the state machine never opens it.
var testSealed = []byte("\x01sealed key bytes: an X25519 share and an AES-GCM box")

// sealGoldenCommands are the golden encodings of the commands and body
// versions of the key collected once and of the owed drops: a sealed
// application, its approval with the sealed key, its collection, and the
// end of an owed drop (after the lease goldens' expiry).
func sealGoldenCommands(t testing.TB) map[string][]byte {
	t.Helper()
	key := testAPIKey("00000000000000c1")
	return map[string][]byte{
		"cmd_submit_application_v3.hex": encode(t, &SubmitApplication{App: sealedApp("app-s"), MaxOpen: 1000}),
		"cmd_review_application_v2.hex": encode(t, &ReviewApplication{ID: "app-s", Decision: DecisionApprove, Message: "welcome",
			Reviewer: "00000000000000ff", Time: regAt(2), Key: &key, Sealed: testSealed}),
		"cmd_collect_key.hex":  encode(t, &CollectKey{ID: "app-s", Time: regAt(3)}),
		"cmd_zone_dropped.hex": encode(t, &ZoneDropped{Zone: "pr-1.dev.example.net.", Owner: ownerText(seedKey(t, "pr-1.dev.example.net.", 3)), Time: regAt(7)}),
	}
}

func TestSealCommandGolden(t *testing.T) {
	want := map[string][2]byte{
		"cmd_submit_application_v3.hex": {byte(TypeSubmitApplication), submitApplicationVersion3},
		"cmd_review_application_v2.hex": {byte(TypeReviewApplication), reviewApplicationVersion2},
		"cmd_collect_key.hex":           {byte(TypeCollectKey), 1},
		"cmd_zone_dropped.hex":          {byte(TypeZoneDropped), 1},
	}
	cmds := sealGoldenCommands(t)
	for name, b := range cmds {
		t.Run(name, func(t *testing.T) {
			checkCommandGolden(t, name, b, CommandType(want[name][0]), want[name][1])
		})
	}
	// They apply in order: submit, approve, collect; then a leased
	// claim, its expiry (a drop owed) and the drop's end.
	f := newTestFSM(t)
	next := f.applyAll(t, 1, regBase(t)...)
	for _, name := range []string{"cmd_submit_application_v3.hex", "cmd_review_application_v2.hex", "cmd_collect_key.hex"} {
		f.mustApply(t, next, cmds[name])
		next++
	}
	leases := leaseGoldenCommands(t)
	for _, name := range []string{"cmd_claim_zone_v4.hex", "cmd_expire_zone.hex"} {
		f.mustApply(t, next, leases[name])
		next++
	}
	if d := f.Registry().OwedDrops(); len(d) != 1 || d[0].Zone != "pr-1.dev.example.net." || d[0].Group == "" {
		t.Fatalf("owed drops after the golden expiry = %+v, want pr-1.dev.example.net.'s", d)
	}
	f.mustApply(t, next, cmds["cmd_zone_dropped.hex"])
	if d := f.Registry().OwedDrops(); len(d) != 0 {
		t.Errorf("owed drops after cmd_zone_dropped.hex = %+v", d)
	}
}

func TestCollectKeyApply(t *testing.T) {
	key := testAPIKey("00000000000000c1")
	approve := func(id string, sealed []byte) *ReviewApplication {
		k := key
		return &ReviewApplication{ID: id, Decision: DecisionApprove, Reviewer: "00000000000000ff", Time: regAt(2), Key: &k, Sealed: sealed}
	}
	submitSealed := &SubmitApplication{App: sealedApp("app-s")}
	tests := []struct {
		name  string
		setup []Command
		cmd   Command
		want  Reason
		check func(t *testing.T, r *RegistryState)
	}{
		{name: "approval keeps the sealed key", setup: []Command{submitSealed}, cmd: approve("app-s", testSealed),
			check: func(t *testing.T, r *RegistryState) {
				a, _ := r.Application("app-s")
				if a.Status != StatusApproved || !bytes.Equal(a.SealedKey, testSealed) || !a.Collected.IsZero() {
					t.Errorf("application %+v, want approved with its sealed key", a)
				}
			}},
		{name: "collect", setup: []Command{submitSealed, approve("app-s", testSealed)}, cmd: &CollectKey{ID: "app-s", Time: regAt(3)},
			check: func(t *testing.T, r *RegistryState) {
				a, _ := r.Application("app-s")
				if a.SealedKey != nil || !a.Collected.Equal(regAt(3)) || a.KeyID != key.ID {
					t.Errorf("application %+v, want the sealed key erased, collected at %s", a, regAt(3))
				}
			}},
		{name: "collect twice", setup: []Command{submitSealed, approve("app-s", testSealed), &CollectKey{ID: "app-s", Time: regAt(3)}},
			cmd: &CollectKey{ID: "app-s", Time: regAt(4)}, want: ReasonKeyCollected},
		{name: "collect before the approval", setup: []Command{submitSealed}, cmd: &CollectKey{ID: "app-s", Time: regAt(3)}, want: ReasonNotSealed},
		{name: "collect a key the reviewer handed over", setup: []Command{submitSealed, approve("app-s", nil)},
			cmd: &CollectKey{ID: "app-s", Time: regAt(3)}, want: ReasonNotSealed},
		{name: "collect of a rejected application", setup: []Command{submitSealed,
			&ReviewApplication{ID: "app-s", Decision: DecisionReject, Message: "no", Reviewer: "00000000000000ff", Time: regAt(2)}},
			cmd: &CollectKey{ID: "app-s", Time: regAt(3)}, want: ReasonNotSealed},
		{name: "collect of no application", cmd: &CollectKey{ID: "nope", Time: regAt(3)}, want: ReasonUnknownApplication},
		{name: "sealed key for an application without a seal key", cmd: approve("app-1", testSealed), want: ReasonMalformed},
		{name: "sealed key too large", setup: []Command{submitSealed}, cmd: approve("app-s", make([]byte, MaxSealedKeyBytes+1)), want: ReasonMalformed},
		{name: "sealed key in a rejection", setup: []Command{submitSealed},
			cmd: &ReviewApplication{ID: "app-s", Decision: DecisionReject, Message: "no", Reviewer: "00000000000000ff", Time: regAt(2),
				Key: &key, Sealed: testSealed}, want: ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			registryCase(t, tt.setup, tt.cmd, tt.want, tt.check)
		})
	}
}

// TestSealSnapshot: a sealed key and an owed drop survive a snapshot
// (format 5, golden) and a restart from the store (application value
// version 2, reg-drops); after the collection no snapshot holds the
// sealed bytes.
func TestSealSnapshot(t *testing.T) {
	f := newTestFSM(t)
	key := testAPIKey("00000000000000c1")
	next := f.applyAll(t, 1, append(regBase(t), &SubmitApplication{App: sealedApp("app-s")},
		&ReviewApplication{ID: "app-s", Decision: DecisionApprove, Reviewer: "00000000000000ff", Time: regAt(2), Key: &key, Sealed: testSealed},
		leased(t, "pr-1.example.net.", 3, Lease{Expires: regAt(9)}, 0),
		&ExpireZone{Zone: "pr-1.example.net.", Time: regAt(9)})...)
	var buf bytes.Buffer
	if err := f.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "snapshot_v5.hex", buf.Bytes())
	if buf.Bytes()[8] != snapshotVersion5 {
		t.Errorf("snapshot with a sealed key has version %d, want 5", buf.Bytes()[8])
	}
	g := newTestFSM(t)
	if err := g.Restore(readCloser(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if got, want := g.regDump(t), f.regDump(t); got != want {
		t.Errorf("restored registry:\n%s\nwant:\n%s", got, want)
	}
	if d := g.Registry().OwedDrops(); len(d) != 1 || d[0].Zone != "pr-1.example.net." || !d[0].Released.Equal(regAt(9)) {
		t.Errorf("restored owed drops %+v", d)
	}
	// Reopened from its store, the restored member has both too.
	g.store.Close()
	h := openFSM(t, reopenTestStore(t, g.path), g.path)
	if got, want := h.regDump(t), f.regDump(t); got != want {
		t.Errorf("registry read back from the store:\n%s\nwant:\n%s", got, want)
	}

	f.mustApply(t, next, encode(t, &CollectKey{ID: "app-s", Time: regAt(10)}))
	buf.Reset()
	if err := f.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), testSealed) {
		t.Error("a snapshot after the collection still holds the sealed key")
	}
	if a, _ := f.Registry().Application("app-s"); a.SealedKey != nil || a.Collected.IsZero() {
		t.Errorf("after the collection: %+v", a)
	}
}

func TestZoneDroppedApply(t *testing.T) {
	k3 := seedKey(t, "pr-1.example.net.", 3)
	expired := []Command{leased(t, "pr-1.example.net.", 3, Lease{Expires: regAt(9)}, 0), &ExpireZone{Zone: "pr-1.example.net.", Time: regAt(9)}}
	tests := []struct {
		name  string
		setup []Command
		cmd   Command
		want  Reason
		drops int // owed after
	}{
		{name: "expiry owes a drop", setup: expired[:1], cmd: expired[1], drops: 1},
		{name: "dropped", setup: expired, cmd: &ZoneDropped{Zone: "pr-1.example.net.", Owner: ownerText(k3), Time: regAt(10)}},
		{name: "dropped twice", setup: append(expired[:2:2], &ZoneDropped{Zone: "pr-1.example.net.", Owner: ownerText(k3), Time: regAt(10)}),
			cmd: &ZoneDropped{Zone: "pr-1.example.net.", Owner: ownerText(k3), Time: regAt(11)}, want: ReasonNoDrop},
		{name: "dropped under another owner key", setup: expired,
			cmd: &ZoneDropped{Zone: "pr-1.example.net.", Owner: ownerText(seedKey(t, "pr-1.example.net.", 4)), Time: regAt(10)}, want: ReasonNoDrop, drops: 1},
		{name: "a drop nobody owes", cmd: &ZoneDropped{Zone: "example.", Owner: ownerText(seedKey(t, "example.", 1)), Time: regAt(10)}, want: ReasonNoDrop},
		{name: "claimed again under the same key while its drop is owed", setup: expired,
			cmd: leased(t, "pr-1.example.net.", 3, Lease{Expires: regAt(30)}, 0), want: ReasonDropPending, drops: 1},
		{name: "claimed again under the same key once dropped", setup: append(expired[:2:2], &ZoneDropped{Zone: "pr-1.example.net.", Owner: ownerText(k3), Time: regAt(10)}),
			cmd: leased(t, "pr-1.example.net.", 3, Lease{Expires: regAt(30)}, 0)},
		{name: "released twice under two keys owes both", setup: append(expired[:2:2], leased(t, "pr-1.example.net.", 4, Lease{Expires: regAt(20)}, 0)),
			cmd: &ExpireZone{Zone: "pr-1.example.net.", Time: regAt(20)}, drops: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFSM(t)
			next := f.applyAll(t, 1, append(regBase(t), tt.setup...)...)
			before := f.regDump(t)
			res := f.apply(next, encode(t, tt.cmd))
			var rej *RejectedError
			switch err, _ := res.(error); {
			case tt.want == "" && err != nil:
				t.Fatalf("Apply = %v, want accepted", err)
			case tt.want != "" && (!errors.As(err, &rej) || rej.Reason != tt.want):
				t.Errorf("Apply = %v, want rejected (%s)", res, tt.want)
			case tt.want != "" && f.regDump(t) != before:
				t.Errorf("state changed by a rejected command")
			}
			f.regDump(t) // memory and disk agree
			if d := f.Registry().OwedDrops(); len(d) != tt.drops {
				t.Errorf("owed drops %+v, want %d", d, tt.drops)
			}
		})
	}
}
