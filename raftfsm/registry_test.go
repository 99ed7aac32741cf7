package raftfsm

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ddnrs/ddnrs/translog"
	"github.com/hashicorp/raft"
	"github.com/miekg/dns"
)

// registryGoldenCommands returns one registry command of every type, by
// golden file name, built from fixed keys (Ed25519 signatures are
// deterministic). Applied in registryGoldenOrder they are all accepted.
func registryGoldenCommands(t testing.TB) map[string][]byte {
	t.Helper()
	k1, k2 := seedKey(t, "example.", 1), seedKey(t, "example.", 2)
	key := testAPIKey("00000000000000a1")
	return map[string][]byte{
		"cmd_submit_application.hex": encode(t, &SubmitApplication{App: testApplication("app-1")}),
		"cmd_review_application.hex": encode(t, &ReviewApplication{ID: "app-1", Decision: DecisionApprove, Message: "welcome",
			Reviewer: "00000000000000ff", Time: regAt(2), Key: &key}),
		"cmd_issue_key.hex":        encode(t, &IssueKey{Key: testAPIKey("00000000000000b2"), Actor: OperatorActor}),
		"cmd_revoke_key.hex":       encode(t, &RevokeKey{ID: "00000000000000b2", Actor: "00000000000000ff", Time: regAt(3)}),
		"cmd_node_heartbeat.hex":   encode(t, heartbeat("n1", "g1", "eu", 4)),
		"cmd_claim_zone.hex":       encode(t, &ClaimZone{Zone: "example.", Owner: ownerText(k1), Region: "eu", Actor: "00000000000000a1", Time: regAt(5), Delegation: []byte{1, 2}}),
		"cmd_registry_suspend.hex": encode(t, &RegistrySuspend{Zone: "example.", Suspend: true, Reason: "abuse report 7", Actor: OperatorActor, Time: regAt(6)}),
		"cmd_change_owner_key.hex": encode(t, changeOwner("example.", k1, k2, 0)),
		"cmd_release_zone.hex":     encode(t, &ReleaseZone{Zone: "example.", Actor: "00000000000000a1", Time: regAt(10)}),
		"cmd_claim_zone_v2.hex": encode(t, &ClaimZone{Zone: "example.", Owner: ownerText(k1), Group: "g1", Actor: NodeOperatorActor("n1"),
			Time: regAt(11)}),
		"cmd_change_owner_key_v2.hex": encode(t, rotateOwner("example.", k1, k2, 2026112801)),
		"cmd_claim_zone_v3.hex": encode(t, withConsent(&ClaimZone{Zone: "example.org.", Owner: ownerText(seedKey(t, "example.org.", 3)), Region: "eu",
			Actor: "00000000000000a1", Time: regAt(12)}, "shop.example.org.", seedKey(t, "shop.example.org.", 4), seedKey(t, "example.org.", 3))),
		"cmd_submit_application_v2.hex": encode(t, &SubmitApplication{App: testApplication("app-2"), MaxOpen: 1000}),
		"cmd_issue_key_v2.hex":          encode(t, &IssueKey{Key: subKey("00000000000000b3", "00000000000000a1"), Actor: "00000000000000a1", MaxChildren: 100}),
		"cmd_revoke_cert.hex":           encode(t, &RevokeCert{Serial: "5f3a9c01d2", Name: "eu-ops", Group: "eu", Reason: "laptop stolen", Actor: OperatorActor, Time: regAt(13)}),
	}
}

var registryGoldenOrder = []string{"cmd_submit_application.hex", "cmd_review_application.hex", "cmd_issue_key.hex",
	"cmd_revoke_key.hex", "cmd_node_heartbeat.hex", "cmd_claim_zone.hex", "cmd_registry_suspend.hex",
	"cmd_change_owner_key.hex", "cmd_release_zone.hex"}

// TestRegistryCommandGolden pins the encoding of the registry commands;
// a failure means the log format changed. Add a version instead.
func TestRegistryCommandGolden(t *testing.T) {
	want := map[string]CommandType{
		"cmd_submit_application.hex": TypeSubmitApplication, "cmd_review_application.hex": TypeReviewApplication,
		"cmd_issue_key.hex": TypeIssueKey, "cmd_revoke_key.hex": TypeRevokeKey, "cmd_claim_zone.hex": TypeClaimZone,
		"cmd_release_zone.hex": TypeReleaseZone, "cmd_change_owner_key.hex": TypeChangeOwnerKey,
		"cmd_registry_suspend.hex": TypeRegistrySuspend, "cmd_node_heartbeat.hex": TypeNodeHeartbeat,
		"cmd_claim_zone_v2.hex": TypeClaimZone, "cmd_change_owner_key_v2.hex": TypeChangeOwnerKey,
		"cmd_claim_zone_v3.hex": TypeClaimZone, "cmd_submit_application_v2.hex": TypeSubmitApplication,
		"cmd_issue_key_v2.hex": TypeIssueKey, "cmd_revoke_cert.hex": TypeRevokeCert,
	}
	version := map[string]byte{"cmd_claim_zone_v2.hex": claimZoneVersion2, "cmd_change_owner_key_v2.hex": changeOwnerKeyVersion2,
		"cmd_claim_zone_v3.hex": claimZoneVersion3, "cmd_submit_application_v2.hex": submitApplicationVersion2,
		"cmd_issue_key_v2.hex": issueKeyVersion2} // others 1
	cmds := registryGoldenCommands(t)
	// The claim of version 2 is applied after the order (which the
	// registry snapshot golden state is built from), on the name the
	// release freed, then the owner key change of version 2, then the
	// claim of version 3 above another key's zone with its consent, then
	// the application of version 2, then the sub-key of version 2.
	if len(cmds) != len(want) || len(registryGoldenOrder)+6 != len(want) {
		t.Fatalf("%d golden commands, %d types", len(cmds), len(want))
	}
	for name, b := range cmds {
		t.Run(name, func(t *testing.T) {
			checkCommandGolden(t, name, b, want[name], max(version[name], commandVersion1))
		})
	}
	f := newTestFSM(t)
	for i, name := range registryGoldenOrder {
		if _, ok := f.apply(uint64(i+1), cmds[name]).(*ApplyResult); !ok {
			t.Errorf("Apply(%s) = %v, want accepted", name, f.apply(uint64(i+1), cmds[name]))
		}
	}
	if _, ok := f.apply(uint64(len(registryGoldenOrder)+1), cmds["cmd_claim_zone_v2.hex"]).(*ApplyResult); !ok {
		t.Fatal("Apply(cmd_claim_zone_v2.hex) not accepted")
	}
	if c, ok := f.Registry().Claim("example."); !ok || c.Group != "g1" || c.Actor != "operator:n1" {
		t.Errorf("claim after cmd_claim_zone_v2.hex = %+v, %v; want group g1, actor operator:n1", c, ok)
	}
	if _, ok := f.apply(uint64(len(registryGoldenOrder)+2), cmds["cmd_change_owner_key_v2.hex"]).(*ApplyResult); !ok {
		t.Fatal("Apply(cmd_change_owner_key_v2.hex) not accepted")
	}
	if c, _ := f.Registry().Claim("example."); c.Generation != 1 || !OwnerKeyIs(c.Owner, seedKey(t, "example.", 2).DNSKEY) {
		t.Errorf("claim after cmd_change_owner_key_v2.hex = %+v; want generation 1, owner key 2", c)
	}
	child := encode(t, claim("shop.example.org.", seedKey(t, "shop.example.org.", 4), ""))
	if _, ok := f.apply(uint64(len(registryGoldenOrder)+3), child).(*ApplyResult); !ok {
		t.Fatal("Apply(claim of shop.example.org.) not accepted")
	}
	if _, ok := f.apply(uint64(len(registryGoldenOrder)+4), cmds["cmd_claim_zone_v3.hex"]).(*ApplyResult); !ok {
		t.Fatal("Apply(cmd_claim_zone_v3.hex) not accepted")
	}
	if c, ok := f.Registry().Claim("example.org."); !ok || c.Region != "eu" {
		t.Errorf("claim after cmd_claim_zone_v3.hex = %+v, %v; want example.org. in eu", c, ok)
	}
	if _, ok := f.apply(uint64(len(registryGoldenOrder)+5), cmds["cmd_submit_application_v2.hex"]).(*ApplyResult); !ok {
		t.Fatal("Apply(cmd_submit_application_v2.hex) not accepted")
	}
	if a, ok := f.Registry().Application("app-2"); !ok || a.Status != StatusPending || f.Registry().OpenApplications() != 1 {
		t.Errorf("after cmd_submit_application_v2.hex: app-2 %+v %v, %d open; want it pending, 1 open (app-1 approved)", a, ok, f.Registry().OpenApplications())
	}
	if _, ok := f.apply(uint64(len(registryGoldenOrder)+6), cmds["cmd_issue_key_v2.hex"]).(*ApplyResult); !ok {
		t.Fatal("Apply(cmd_issue_key_v2.hex) not accepted")
	}
	if k, ok := f.Registry().Key("00000000000000b3"); !ok || k.Parent != "00000000000000a1" {
		t.Errorf("after cmd_issue_key_v2.hex: key %+v, %v; want a sub-key of 00000000000000a1", k, ok)
	}
}

func TestRegistryDecodeStrict(t *testing.T) {
	hb := encode(t, heartbeat("n1", "g1", "eu", 4))
	suspend := encode(t, &RegistrySuspend{Zone: "example.", Suspend: true, Time: regT0})
	review := encode(t, &ReviewApplication{ID: "a", Decision: DecisionReject, Time: regT0})
	claimV1 := encode(t, &ClaimZone{Zone: "example.", Owner: "o", Time: regT0})
	claimV2 := encode(t, &ClaimZone{Zone: "example.", Owner: "o", Group: "g1", Time: regT0})
	claimV3 := encode(t, &ClaimZone{Zone: "example.", Owner: "o", Time: regT0, Consents: []Consent{{Zone: "a.example.", Signature: []byte{1}}, {Zone: "b.example.", Signature: []byte{2}}}})
	ownerV1 := encode(t, &ChangeOwnerKey{Zone: "example.", NewOwner: "o", Time: regT0, Proof: []byte{1}})
	ownerV2 := encode(t, &ChangeOwnerKey{Zone: "example.", NewOwner: "o", Time: regT0, Proof: []byte{1}, RotateSerial: 7})
	submitV1 := encode(t, &SubmitApplication{App: testApplication("a")})
	submitV2 := encode(t, &SubmitApplication{App: testApplication("a"), MaxOpen: 3})
	claimV4 := encode(t, &ClaimZone{Zone: "example.", Owner: "o", Time: regT0, Lease: Lease{Idle: 60}, MaxLeases: 3})
	emptyLease := func() []byte {
		e := &encoder{b: append([]byte{byte(TypeClaimZone), 4}, claimV2[2:]...)}
		e.u32(0)
		e.lease(Lease{})
		e.u32(0)
		return e.b
	}()
	issueV1 := encode(t, &IssueKey{Key: testAPIKey("00000000000000b2")})
	issueV2 := encode(t, &IssueKey{Key: subKey("00000000000000b3", "00000000000000b2"), MaxChildren: 3})
	tests := []struct {
		desc string
		in   []byte
	}{
		{"truncated heartbeat", hb[:len(hb)-1]},
		{"trailing byte", append(bytes.Clone(hb), 0)},
		{"bool byte 2", func() []byte { b := bytes.Clone(suspend); b[2+2+len("example.")] = 2; return b }()},
		{"review key flag 2", func() []byte { b := bytes.Clone(review); b[len(b)-1] = 2; return b }()},
		{"review with a key flag and no key", func() []byte { b := bytes.Clone(review); b[len(b)-1] = 1; return b }()},
		{"huge string list", []byte{byte(TypeNodeHeartbeat), 1, 0, 1, 'n', 0, 1, 'g', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF}},
		{"version 2", append([]byte{byte(TypeNodeHeartbeat), 2}, hb[2:]...)},
		{"claim version 2 without a group", append([]byte{byte(TypeClaimZone), 2}, claimV1[2:]...)},
		{"claim version 2 with an empty group", append(append([]byte{byte(TypeClaimZone), 2}, claimV1[2:]...), 0, 0)},
		{"claim version 3 without consents", append([]byte{byte(TypeClaimZone), 3}, claimV2[2:]...)},
		{"claim version 3 with zero consents", append(append([]byte{byte(TypeClaimZone), 3}, claimV2[2:]...), 0, 0, 0, 0)},
		{"claim version 3 with consents out of order", func() []byte {
			b := bytes.Clone(claimV3)
			i := bytes.Index(b, []byte("a.example."))
			j := bytes.Index(b, []byte("b.example."))
			b[i], b[j] = 'b', 'a'
			return b
		}()},
		{"claim version 3 with a zone twice", func() []byte {
			b := bytes.Clone(claimV3)
			b[bytes.Index(b, []byte("b.example."))] = 'a'
			return b
		}()},
		{"claim version 3 cut in a signature", claimV3[:len(claimV3)-1]},
		{"claim version 4", append([]byte{byte(TypeClaimZone), 4}, claimV3[2:]...)},
		{"claim version 4 with an empty lease", emptyLease},
		{"claim version 4 cut in the cap", claimV4[:len(claimV4)-1]},
		{"claim version 5", append([]byte{byte(TypeClaimZone), 5}, claimV4[2:]...)},
		{"issue-key version 2 without a parent", append([]byte{byte(TypeIssueKey), 2}, issueV1[2:]...)},
		{"issue-key version 2 with an empty parent", append(append([]byte{byte(TypeIssueKey), 2}, issueV1[2:]...), 0, 0, 0, 0, 0, 0)},
		{"issue-key version 2 cut in the cap", issueV2[:len(issueV2)-1]},
		{"issue-key version 1 with a parent", append([]byte{byte(TypeIssueKey), 1}, issueV2[2:]...)},
		{"issue-key version 3", append([]byte{byte(TypeIssueKey), 3}, issueV2[2:]...)},
		{"claim version 1 with a group", append([]byte{byte(TypeClaimZone), 1}, claimV2[2:]...)},
		{"owner change version 2 without a serial", append([]byte{byte(TypeChangeOwnerKey), 2}, ownerV1[2:]...)},
		{"owner change version 2 with serial 0", append(append([]byte{byte(TypeChangeOwnerKey), 2}, ownerV1[2:]...), 0, 0, 0, 0)},
		{"owner change version 2 cut in the serial", ownerV2[:len(ownerV2)-1]},
		{"owner change version 3", append([]byte{byte(TypeChangeOwnerKey), 3}, ownerV2[2:]...)},
		{"owner change version 1 with a serial", append([]byte{byte(TypeChangeOwnerKey), 1}, ownerV2[2:]...)},
		{"submission version 2 without a cap", append([]byte{byte(TypeSubmitApplication), 2}, submitV1[2:]...)},
		{"submission version 2 with cap 0", append(append([]byte{byte(TypeSubmitApplication), 2}, submitV1[2:]...), 0, 0, 0, 0)},
		{"submission version 3", append([]byte{byte(TypeSubmitApplication), 3}, submitV2[2:]...)},
		{"submission version 1 with a cap", append([]byte{byte(TypeSubmitApplication), 1}, submitV2[2:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if c, err := DecodeCommand(tt.in); !errors.Is(err, ErrMalformedCommand) {
				t.Errorf("DecodeCommand = %T, %v; want ErrMalformedCommand", c, err)
			}
		})
	}
}

// regBase is the state most apply cases start from: two nodes in two
// groups and regions, an open application, a key, example. claimed by k1.
func regBase(t testing.TB) []Command {
	t.Helper()
	return []Command{
		heartbeat("n1", "g1", "eu", 1), heartbeat("n2", "g2", "us", 1),
		&SubmitApplication{App: testApplication("app-1")},
		&IssueKey{Key: testAPIKey("00000000000000a1"), Actor: OperatorActor},
		claim("example.", seedKey(t, "example.", 1), ""),
	}
}

func TestRegistryApply(t *testing.T) {
	k1, k2 := seedKey(t, "example.", 1), seedKey(t, "example.", 2)
	sub2 := seedKey(t, "sub.example.", 2)
	sub1 := seedKey(t, "sub.example.", 1) // the same public key as k1
	netKey, shop := seedKey(t, "example.net.", 7), seedKey(t, "shop.example.net.", 6)
	netShop := seedKey(t, "shop.example.net.", 7) // the same public key as netKey
	approveKey := testAPIKey("00000000000000c3")
	sameHash := testAPIKey("00000000000000c4")
	sameHash.Hash = testAPIKey("00000000000000a1").Hash
	badID := testAPIKey("00000000000000C3")
	badAction := testAPIKey("00000000000000c5")
	badAction.Scope.Actions = []string{"own"}
	zsk := seedKey(t, "other.example.", 3)
	zsk.DNSKEY.Flags = 0 // no zone flag
	nodelessApp := testApplication("app-2")
	nodelessApp.Status = StatusApproved
	noTime := claim("other.", seedKey(t, "other.", 4), "")
	noTime.Time = noTime.Time.AddDate(-100, 0, 0)

	tests := []struct {
		name  string
		bare  bool      // start from nothing instead of regBase
		setup []Command // after regBase
		cmd   Command
		want  Reason // "" = accepted
		check func(t *testing.T, r *RegistryState)
	}{
		{name: "submit", cmd: &SubmitApplication{App: testApplication("app-2")}, check: func(t *testing.T, r *RegistryState) {
			if a, ok := r.Application("app-2"); !ok || a.Status != StatusPending || a.Domains[1] != "example.net." {
				t.Errorf("Application(app-2) = %+v, %v", a, ok)
			}
		}},
		{name: "submit duplicate", cmd: &SubmitApplication{App: testApplication("app-1")}, want: ReasonDuplicateID},
		{name: "submit approved", cmd: &SubmitApplication{App: nodelessApp}, want: ReasonMalformed},
		{name: "submit without id", cmd: &SubmitApplication{App: testApplication("")}, want: ReasonMalformed},
		{name: "review unknown", cmd: &ReviewApplication{ID: "nope", Decision: DecisionReject, Time: regAt(2)}, want: ReasonUnknownApplication},
		{name: "approve", cmd: &ReviewApplication{ID: "app-1", Decision: DecisionApprove, Message: "ok", Reviewer: "r", Time: regAt(2), Key: &approveKey},
			check: func(t *testing.T, r *RegistryState) {
				a, _ := r.Application("app-1")
				k, ok := r.Key(approveKey.ID)
				if a.Status != StatusApproved || a.KeyID != approveKey.ID || a.Reviewer != "r" || !a.Reviewed.Equal(regAt(2)) || a.Message != "ok" {
					t.Errorf("application after approval: %+v", a)
				}
				if !ok || k.Application != "app-1" || k.Hash != approveKey.Hash || !slices.Equal(k.Scope.Types, []string{"TXT"}) {
					t.Errorf("Key(%s) = %+v, %v", approveKey.ID, k, ok)
				}
			}},
		{name: "approve without key", cmd: &ReviewApplication{ID: "app-1", Decision: DecisionApprove, Time: regAt(2)}, want: ReasonMalformed},
		{name: "approve with a used key id", cmd: &ReviewApplication{ID: "app-1", Decision: DecisionApprove, Time: regAt(2), Key: ptr(testAPIKey("00000000000000a1"))}, want: ReasonDuplicateID},
		{name: "approve with a used key hash", cmd: &ReviewApplication{ID: "app-1", Decision: DecisionApprove, Time: regAt(2), Key: &sameHash}, want: ReasonKeyExists},
		{name: "approve with a bad key id", cmd: &ReviewApplication{ID: "app-1", Decision: DecisionApprove, Time: regAt(2), Key: &badID}, want: ReasonMalformed},
		{name: "review approved", setup: []Command{&ReviewApplication{ID: "app-1", Decision: DecisionApprove, Time: regAt(2), Key: &approveKey}},
			cmd: &ReviewApplication{ID: "app-1", Decision: DecisionReject, Time: regAt(3)}, want: ReasonApplicationClosed},
		{name: "review rejected", setup: []Command{&ReviewApplication{ID: "app-1", Decision: DecisionReject, Time: regAt(2)}},
			cmd: &ReviewApplication{ID: "app-1", Decision: DecisionMoreInfo, Time: regAt(3)}, want: ReasonApplicationClosed},
		{name: "approve after more info", setup: []Command{&ReviewApplication{ID: "app-1", Decision: DecisionMoreInfo, Message: "why?", Time: regAt(2)}},
			cmd: &ReviewApplication{ID: "app-1", Decision: DecisionApprove, Time: regAt(3), Key: &approveKey},
			check: func(t *testing.T, r *RegistryState) {
				if a, _ := r.Application("app-1"); a.Status != StatusApproved {
					t.Errorf("status %q, want approved", a.Status)
				}
			}},
		{name: "reject", cmd: &ReviewApplication{ID: "app-1", Decision: DecisionReject, Message: "no", Time: regAt(2)},
			check: func(t *testing.T, r *RegistryState) {
				if a, _ := r.Application("app-1"); a.Status != StatusRejected || a.KeyID != "" {
					t.Errorf("application %+v, want rejected without key", a)
				}
			}},
		{name: "unknown decision", cmd: &ReviewApplication{ID: "app-1", Decision: "maybe", Time: regAt(2)}, want: ReasonMalformed},
		{name: "issue", cmd: &IssueKey{Key: testAPIKey("00000000000000b2"), Actor: OperatorActor}, check: func(t *testing.T, r *RegistryState) {
			if _, ok := r.Key("00000000000000b2"); !ok || len(r.Keys()) != 2 {
				t.Errorf("keys %+v", r.Keys())
			}
		}},
		{name: "issue duplicate id", cmd: &IssueKey{Key: testAPIKey("00000000000000a1")}, want: ReasonDuplicateID},
		{name: "issue bad action", cmd: &IssueKey{Key: badAction}, want: ReasonMalformed},
		{name: "revoke", cmd: &RevokeKey{ID: "00000000000000a1", Actor: "admin", Time: regAt(4)}, check: func(t *testing.T, r *RegistryState) {
			if k, _ := r.Key("00000000000000a1"); !k.Revoked || k.RevokedBy != "admin" || !k.RevokedAt.Equal(regAt(4)) {
				t.Errorf("key after revocation %+v", k)
			}
		}},
		{name: "revoke unknown", cmd: &RevokeKey{ID: "00000000000000ee", Time: regAt(4)}, want: ReasonUnknownKey},
		{name: "claim", cmd: claim("example.net.", seedKey(t, "example.net.", 5), ""), check: func(t *testing.T, r *RegistryState) {
			c, ok := r.Claim("EXAMPLE.net")
			if !ok || c.Group != "g2" || c.Generation != 0 || !c.Created.Equal(regAt(5)) {
				t.Errorf("Claim(example.net.) = %+v, %v; want group g2 (fewest claims)", c, ok)
			}
		}},
		{name: "claim claimed", cmd: claim("example.", k2, ""), want: ReasonNameClaimed},
		{name: "claim on a requested group", cmd: func() Command {
			c := claim("example.net.", seedKey(t, "example.net.", 5), "us") // place would pick g2 (us, fewest claims)
			c.Group, c.Actor = "g1", NodeOperatorActor("n1")
			return c
		}(), check: func(t *testing.T, r *RegistryState) {
			if c, ok := r.Claim("example.net."); !ok || c.Group != "g1" || c.Actor != "operator:n1" {
				t.Errorf("Claim(example.net.) = %+v, %v; want group g1, actor operator:n1", c, ok)
			}
			leaf, err := r.LogEntry(r.LogSize() - 1)
			if err != nil {
				t.Fatal(err)
			}
			e, err := translog.ParseEntry(leaf)
			if err != nil || e.Kind != translog.KindRegistration || e.Zone != "example.net." || e.Group != "g1" || e.Actor != "operator:n1" {
				t.Errorf("last log entry = %+v, %v; want the registration on g1", e, err)
			}
		}},
		{name: "claim on an unknown group", cmd: func() Command {
			c := claim("example.net.", seedKey(t, "example.net.", 5), "")
			c.Group = "g3"
			return c
		}(), want: ReasonUnknownGroup},
		{name: "claim on a group with an empty directory", bare: true, cmd: func() Command {
			c := claim("example.", k1, "")
			c.Group = "g1"
			return c
		}(), want: ReasonUnknownGroup},
		{name: "claim claimed on a requested group", cmd: func() Command {
			c := claim("example.", k1, "") // the same key, the same name
			c.Group = "g1"
			return c
		}(), want: ReasonNameClaimed},
		{name: "claim without nodes", bare: true, cmd: claim("example.", k1, ""), want: ReasonNoGroups},
		{name: "claim with a key of another name", cmd: claim("example.org.", k1, ""), want: ReasonMalformed},
		{name: "claim with a key without the zone flag", cmd: claim("other.example.", zsk, ""), want: ReasonMalformed},
		{name: "claim with a time before 1970", cmd: noTime, want: ReasonMalformed},
		{name: "claim of the root", cmd: &ClaimZone{Zone: ".", Owner: ownerText(seedKey(t, ".", 1)), Time: regT0}, want: ReasonMalformed},
		{name: "claim inside another key's zone", cmd: claim("sub.example.", sub2, ""), want: ReasonDelegationRequired},
		{name: "claim inside with a bad delegation", cmd: func() Command {
			c := claim("sub.example.", sub2, "")
			c.Delegation = delegation(sub2, sub2) // signed by the child, not the parent
			return c
		}(), want: ReasonDelegationInvalid},
		{name: "claim inside with a delegation", cmd: func() Command {
			c := claim("sub.example.", sub2, "")
			c.Delegation = delegation(k1, sub2)
			return c
		}(), check: func(t *testing.T, r *RegistryState) {
			if c, ok := r.EnclosingClaim("www.sub.example."); !ok || c.Zone != "sub.example." {
				t.Errorf("EnclosingClaim(www.sub.example.) = %+v, %v", c, ok)
			}
			if c, ok := r.EnclosingClaim("www.example."); !ok || c.Zone != "example." {
				t.Errorf("EnclosingClaim(www.example.) = %+v, %v", c, ok)
			}
			if _, ok := r.EnclosingClaim("example.org."); ok {
				t.Errorf("EnclosingClaim(example.org.) found a claim")
			}
		}},
		{name: "claim inside with the same key", cmd: claim("sub.example.", sub1, "")},
		// A parent claimed above another owner's zone needs that owner's
		// consent: else it could delegate the child to its own servers.
		{name: "claim above another key's zone", setup: []Command{claim("shop.example.net.", shop, "")},
			cmd: claim("example.net.", netKey, ""), want: ReasonChildrenClaimed},
		{name: "claim above another key's zone, consent signed by the claimant", setup: []Command{claim("shop.example.net.", shop, "")},
			cmd: withConsent(claim("example.net.", netKey, ""), "shop.example.net.", netKey, netKey), want: ReasonConsentInvalid},
		{name: "claim above another key's zone, consent for another parent key", setup: []Command{claim("shop.example.net.", shop, "")},
			cmd: withConsent(claim("example.net.", netKey, ""), "shop.example.net.", shop, k2), want: ReasonConsentInvalid},
		{name: "claim above two zones, one consent", setup: []Command{claim("shop.example.net.", shop, ""), claim("a.b.example.net.", seedKey(t, "a.b.example.net.", 8), "")},
			cmd: withConsent(claim("example.net.", netKey, ""), "shop.example.net.", shop, netKey), want: ReasonChildrenClaimed},
		{name: "claim above another key's zone with its consent", setup: []Command{claim("shop.example.net.", shop, "")},
			cmd: withConsent(claim("example.net.", netKey, ""), "shop.example.net.", shop, netKey), check: func(t *testing.T, r *RegistryState) {
				if c, ok := r.EnclosingClaim("www.example.net."); !ok || c.Zone != "example.net." {
					t.Errorf("EnclosingClaim(www.example.net.) = %+v, %v", c, ok)
				}
				if c, ok := r.EnclosingClaim("www.shop.example.net."); !ok || c.Zone != "shop.example.net." {
					t.Errorf("EnclosingClaim(www.shop.example.net.) = %+v, %v", c, ok)
				}
			}},
		{name: "claim above a zone of the same key", setup: []Command{claim("shop.example.net.", netShop, "")},
			cmd: claim("example.net.", netKey, "")},
		{name: "claim beside another key's zone", setup: []Command{claim("shop.example.net.", shop, "")},
			cmd: claim("example.org.", seedKey(t, "example.org.", 9), "")},
		{name: "release", cmd: &ReleaseZone{Zone: "example.", Actor: "a", Time: regAt(6)}, check: func(t *testing.T, r *RegistryState) {
			if _, ok := r.Claim("example."); ok || len(r.Claims()) != 0 {
				t.Errorf("claims after release: %+v", r.Claims())
			}
		}},
		{name: "release unclaimed", cmd: &ReleaseZone{Zone: "example.net.", Time: regAt(6)}, want: ReasonNoClaim},
		{name: "change owner", cmd: changeOwner("example.", k1, k2, 0), check: func(t *testing.T, r *RegistryState) {
			c, _ := r.Claim("example.")
			if c.Generation != 1 || !OwnerKeyIs(c.Owner, k2.DNSKEY) {
				t.Errorf("claim after owner change %+v", c)
			}
		}},
		{name: "change owner twice", setup: []Command{changeOwner("example.", k1, k2, 0)}, cmd: changeOwner("example.", k2, k1, 1)},
		{name: "change owner signed by the new key", cmd: changeOwner("example.", k2, k2, 0), want: ReasonBadProof},
		{name: "change owner replayed", setup: []Command{changeOwner("example.", k1, k2, 0), changeOwner("example.", k2, k1, 1)},
			cmd: changeOwner("example.", k1, k2, 0), want: ReasonBadProof},
		{name: "change owner to a key of another name", cmd: changeOwner("example.", k1, sub2, 0), want: ReasonMalformed},
		{name: "change owner with a rotation proof", cmd: rotateOwner("example.", k1, k2, 2026112801), check: func(t *testing.T, r *RegistryState) {
			c, _ := r.Claim("example.")
			if c.Generation != 1 || !OwnerKeyIs(c.Owner, k2.DNSKEY) {
				t.Errorf("claim after owner change %+v", c)
			}
			leaf, err := r.LogEntry(r.LogSize() - 1)
			if err != nil {
				t.Fatal(err)
			}
			e, err := translog.ParseEntry(leaf)
			if err != nil || e.Kind != translog.KindOwnerKeyChange || e.Zone != "example." || !OwnerKeyIs(e.OwnerKey, k2.DNSKEY) {
				t.Errorf("last log entry = %+v, %v; want the owner key change to key 2", e, err)
			}
		}},
		{name: "change owner with a rotation proof signed by the new key", cmd: rotateOwner("example.", k2, k2, 5), want: ReasonBadProof},
		{name: "change owner with a rotation proof for another serial", cmd: func() Command {
			c := rotateOwner("example.", k1, k2, 5)
			c.RotateSerial = 6
			return c
		}(), want: ReasonBadProof},
		{name: "change owner with a rotation proof for another key", cmd: func() Command {
			c := rotateOwner("example.", k1, k2, 5)
			c.NewOwner = ownerText(seedKey(t, "example.", 9))
			return c
		}(), want: ReasonBadProof},
		{name: "change owner with an owner-key proof read as a rotation", cmd: func() Command {
			c := changeOwner("example.", k1, k2, 0)
			c.RotateSerial = 1
			return c
		}(), want: ReasonBadProof},
		{name: "change owner with a rotation proof read as an owner-key proof", cmd: func() Command {
			c := rotateOwner("example.", k1, k2, 5)
			c.RotateSerial = 0
			return c
		}(), want: ReasonBadProof},
		// The documented replay limit: a rotation statement of a key that
		// owns the claim again still verifies (ChangeOwnerKey's doc).
		{name: "change owner with a rotation proof replayed after ownership returned", setup: []Command{
			rotateOwner("example.", k1, k2, 5), rotateOwner("example.", k2, k1, 6)}, cmd: rotateOwner("example.", k1, k2, 5)},
		{name: "change owner unclaimed", cmd: changeOwner("example.net.", k1, k2, 0), want: ReasonNoClaim},
		{name: "suspend", cmd: &RegistrySuspend{Zone: "example.", Suspend: true, Reason: "phishing", Actor: "op", Time: regAt(7)},
			check: func(t *testing.T, r *RegistryState) {
				if c, _ := r.Claim("example."); !c.Suspended || c.Reason != "phishing" {
					t.Errorf("claim after suspension %+v", c)
				}
			}},
		{name: "unsuspend", setup: []Command{&RegistrySuspend{Zone: "example.", Suspend: true, Reason: "x", Time: regAt(7)}},
			cmd: &RegistrySuspend{Zone: "example.", Reason: "fixed", Time: regAt(8)}, check: func(t *testing.T, r *RegistryState) {
				if c, _ := r.Claim("example."); c.Suspended || c.Reason != "fixed" {
					t.Errorf("claim after unsuspension %+v", c)
				}
			}},
		{name: "suspend unclaimed", cmd: &RegistrySuspend{Zone: "example.net.", Suspend: true, Time: regAt(7)}, want: ReasonNoClaim},
		{name: "heartbeat", cmd: heartbeat("n3", "g1", "eu", 2), check: func(t *testing.T, r *RegistryState) {
			if n := r.Nodes(); len(n) != 3 || n[0].ID != "n1" || n[1].ID != "n3" || n[2].ID != "n2" {
				t.Errorf("Nodes() = %+v, want n1 n3 (g1) n2 (g2)", n)
			}
		}},
		{name: "heartbeat without a group", cmd: heartbeat("n3", "", "eu", 2), want: ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFSM(t)
			var setup []Command
			if !tt.bare {
				setup = regBase(t)
			}
			next := f.applyAll(t, 1, append(setup, tt.setup...)...)
			before := f.regDump(t)
			cmd := encode(t, tt.cmd)
			checked := f.Check(cmd)
			res := f.apply(next, cmd)
			if tt.want == "" {
				if _, ok := res.(*ApplyResult); !ok || checked != nil {
					t.Fatalf("Apply = %v, Check = %v; want both to accept", res, checked)
				}
				f.checkDiskMatchesMemory(t)
				f.regDump(t) // memory and disk agree
				if tt.check != nil {
					tt.check(t, f.Registry())
				}
				return
			}
			for what, err := range map[string]interface{}{"Apply": res, "Check": checked} {
				var re *RejectedError
				if err, ok := err.(error); !ok || !errors.As(err, &re) || re.Reason != tt.want {
					t.Errorf("%s = %v, want rejected (%s)", what, err, tt.want)
				}
			}
			if after := f.regDump(t); after != before {
				t.Errorf("state changed by a rejected command:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestRegistryPlacement(t *testing.T) {
	tests := []struct {
		name   string
		nodes  [][3]string // id, group, region
		claims []string    // groups already holding one claim each
		region string
		want   string
	}{
		{name: "one group", nodes: [][3]string{{"a", "g1", "eu"}}, want: "g1"},
		{name: "tie by name", nodes: [][3]string{{"a", "gb", "eu"}, {"b", "ga", "us"}, {"c", "gc", ""}}, want: "ga"},
		{name: "fewest claims", nodes: [][3]string{{"a", "g1", "eu"}, {"b", "g2", "us"}, {"c", "g3", ""}},
			claims: []string{"g1", "g2", "g1"}, want: "g3"},
		{name: "region", nodes: [][3]string{{"a", "g1", "eu"}, {"b", "g2", "us"}, {"c", "g3", "us"}},
			claims: []string{"g2"}, region: "us", want: "g3"},
		{name: "region beats fewer claims", nodes: [][3]string{{"a", "g1", "eu"}, {"b", "g2", "us"}},
			claims: []string{"g2", "g2"}, region: "us", want: "g2"},
		{name: "unknown region: every group", nodes: [][3]string{{"a", "g1", "eu"}, {"b", "g2", "us"}},
			claims: []string{"g1"}, region: "ap", want: "g2"},
		{name: "a group with a node in the region", nodes: [][3]string{{"a", "g1", "eu"}, {"b", "g2", "us"}, {"c", "g1", "us"}},
			claims: []string{"g1", "g2", "g2"}, region: "us", want: "g1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTestFSM(t)
			var cmds []Command
			for _, n := range tt.nodes {
				cmds = append(cmds, heartbeat(n[0], n[1], n[2], 1))
			}
			next := f.applyAll(t, 1, cmds...)
			for i, g := range tt.claims {
				next = claimOn(t, f, next, g, "c"+string(rune('a'+i))+".example.")
			}
			c := claim("new.example.", seedKey(t, "new.example.", 9), tt.region)
			next = f.applyAll(t, next, c)
			if got, _ := f.Registry().Claim("new.example."); got.Group != tt.want {
				t.Errorf("placed on %q, want %q", got.Group, tt.want)
			}
		})
	}
}

// claimOn claims origin on group g, which must be in the directory: it
// adds a node of g in a region of its own and claims in that region. The
// group set does not change. It returns the next index.
func claimOn(t *testing.T, f *testFSM, next uint64, g, origin string) uint64 {
	t.Helper()
	region := "only-" + g
	next = f.applyAll(t, next, heartbeat("placeholder-"+g, g, region, 1))
	next = f.applyAll(t, next, claim(origin, seedKey(t, origin, 8), region))
	if c, _ := f.Registry().Claim(origin); c.Group != g {
		t.Fatalf("setup claim %s on %q, want %q", origin, c.Group, g)
	}
	return next
}

// TestRegistryLog checks that every registration, release, owner key
// change, suspension, unsuspension and node admission appends its entry,
// that heartbeats of a known node in its group do not, and that the tree
// rebuilt from the store after a restart has the same root.
func TestRegistryLog(t *testing.T) {
	k1, k2 := seedKey(t, "example.", 1), seedKey(t, "example.", 2)
	f := newTestFSM(t)
	f.applyAll(t, 1,
		heartbeat("n1", "g1", "eu", 1),
		heartbeat("n1", "g1", "eu", 2), // known, same group: no entry
		&SubmitApplication{App: testApplication("app-1")},
		&IssueKey{Key: testAPIKey("00000000000000a1")},
		claim("example.", k1, "eu"),
		&RegistrySuspend{Zone: "example.", Suspend: true, Reason: "abuse", Actor: OperatorActor, Time: regAt(6)},
		&RegistrySuspend{Zone: "example.", Reason: "resolved", Actor: OperatorActor, Time: regAt(7)},
		changeOwner("example.", k1, k2, 0),
		heartbeat("n1", "g2", "eu", 3), // moved group: an entry
		&ReleaseZone{Zone: "example.", Actor: "00000000000000a1", Time: regAt(10)},
	)
	hb := heartbeat("n1", "g1", "eu", 1).Node
	want := []translog.Entry{
		{Kind: translog.KindNodeAdmission, Time: regAt(1), Group: "g1", Region: "eu", Actor: OperatorActor, NodeID: "n1", NodeAddrs: nodeAddrs(hb)},
		{Kind: translog.KindRegistration, Time: regAt(5), Zone: "example.", OwnerKey: k1.DNSKEY.String(), Group: "g1", Region: "eu", Actor: "00000000000000a1"},
		{Kind: translog.KindSuspension, Time: regAt(6), Zone: "example.", Reason: "abuse", Actor: OperatorActor},
		{Kind: translog.KindUnsuspension, Time: regAt(7), Zone: "example.", Reason: "resolved", Actor: OperatorActor},
		{Kind: translog.KindOwnerKeyChange, Time: regAt(9), Zone: "example.", OwnerKey: k2.DNSKEY.String(), Group: "g1", Region: "eu", Actor: "00000000000000a1"},
		{Kind: translog.KindNodeAdmission, Time: regAt(3), Group: "g2", Region: "eu", Actor: OperatorActor, NodeID: "n1", NodeAddrs: nodeAddrs(hb)},
		{Kind: translog.KindRelease, Time: regAt(10), Zone: "example.", Group: "g1", Region: "eu", Actor: "00000000000000a1"},
	}
	r := f.Registry()
	if r.LogSize() != uint64(len(want)) || r.Log().Size() != uint64(len(want)) {
		t.Fatalf("log size %d (tree %d), want %d", r.LogSize(), r.Log().Size(), len(want))
	}
	for i, w := range want {
		leaf, err := r.LogEntry(uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		wb, err := w.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(leaf, wb) {
			got, _ := translog.ParseEntry(leaf)
			t.Errorf("leaf %d = %+v, want %+v", i, got, w)
		}
		if h, _ := r.Log().LeafHash(uint64(i)); h != translog.HashLeaf(wb) {
			t.Errorf("leaf hash %d does not hash the entry", i)
		}
	}
	if _, err := r.LogEntry(r.LogSize()); !errors.Is(err, ErrNoLogEntry) {
		t.Errorf("LogEntry(size) = %v, want ErrNoLogEntry", err)
	}
	root, err := r.Log().Root(r.LogSize())
	if err != nil {
		t.Fatal(err)
	}
	if root != recomputedRoot(t, r) {
		t.Errorf("tree root differs from the root of its leaves")
	}
	before := f.regDump(t)

	f.store.Close()
	s, err := OpenStore(f.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f2 := openFSM(t, s, f.path)
	r2 := f2.Registry()
	if got, err := r2.Log().Root(r2.LogSize()); err != nil || got != root || recomputedRoot(t, r2) != root {
		t.Errorf("root after reopening %x (%v), want %x", got, err, root)
	}
	if after := f2.regDump(t); after != before {
		t.Errorf("registry after reopening:\n%s\nwant:\n%s", after, before)
	}
	// An old state keeps reading its own size while the log grows.
	f2.applyAll(t, 11, claim("example.net.", seedKey(t, "example.net.", 3), ""))
	if r2.LogSize() != uint64(len(want)) || f2.Registry().LogSize() != uint64(len(want)+1) {
		t.Errorf("log sizes old %d new %d", r2.LogSize(), f2.Registry().LogSize())
	}
	if _, ok := r2.Claim("example.net."); ok {
		t.Errorf("an earlier RegistryState sees a later claim")
	}
}

// TestRegistryBatchRejection applies a batch in which a rejected command
// sits between accepted ones: only the accepted ones count, and the
// result equals applying them alone.
func TestRegistryBatchRejection(t *testing.T) {
	k1 := seedKey(t, "example.", 1)
	cmds := []Command{heartbeat("n1", "g1", "eu", 1), claim("example.", k1, ""), claim("example.", k1, ""),
		&RevokeKey{ID: "00000000000000ee", Time: regT0}, claim("example.net.", seedKey(t, "example.net.", 2), "")}
	f := newTestFSM(t)
	var logs []*raft.Log
	for i, c := range cmds {
		logs = append(logs, cmdLog(uint64(i+1), encode(t, c)))
	}
	res := f.ApplyBatch(logs)
	for i, want := range []Reason{"", "", ReasonNameClaimed, ReasonUnknownKey, ""} {
		var re *RejectedError
		err, _ := res[i].(error)
		if want == "" && err != nil || want != "" && (!errors.As(err, &re) || re.Reason != want) {
			t.Errorf("result %d = %v, want %q", i, res[i], want)
		}
	}
	g := newTestFSM(t)
	g.applyAll(t, 1, cmds[0], cmds[1])
	g.applyAll(t, 5, cmds[4])
	if a, b := f.regDump(t), g.regDump(t); a != b {
		t.Errorf("batch with rejections:\n%s\none by one:\n%s", a, b)
	}
}

// TestRegistryDeterminism applies the same commands to two FSMs, one in
// a single batch and one command at a time: same state, same log root.
func TestRegistryDeterminism(t *testing.T) {
	k1, k2 := seedKey(t, "example.", 1), seedKey(t, "example.", 2)
	var cmds []Command
	for i, g := range []string{"g3", "g1", "g2", "g1"} {
		cmds = append(cmds, heartbeat("n"+string(rune('a'+i)), g, []string{"eu", "us"}[i%2], i))
	}
	for i := range 12 {
		origin := "z" + string(rune('a'+i)) + ".example.org."
		cmds = append(cmds, claim(origin, seedKey(t, origin, byte(i+10)), []string{"", "eu", "us"}[i%3]))
	}
	cmds = append(cmds, claim("example.", k1, ""), changeOwner("example.", k1, k2, 0),
		&RegistrySuspend{Zone: "za.example.org.", Suspend: true, Reason: "r", Time: regAt(20)},
		&ReleaseZone{Zone: "zb.example.org.", Time: regAt(21)})
	a, b := newTestFSM(t), newTestFSM(t)
	var logs []*raft.Log
	for i, c := range cmds {
		logs = append(logs, cmdLog(uint64(i+1), encode(t, c)))
	}
	for i, r := range a.ApplyBatch(logs) {
		if _, ok := r.(*ApplyResult); !ok {
			t.Fatalf("batch result %d = %v", i, r)
		}
	}
	b.applyAll(t, 1, cmds...)
	da, db := a.regDump(t), b.regDump(t)
	if da != db {
		t.Errorf("two FSMs differ:\n%s\n---\n%s", da, db)
	}
	ra, _ := a.Registry().Log().Root(a.Registry().LogSize())
	rb, _ := b.Registry().Log().Root(b.Registry().LogSize())
	if ra != rb || a.Registry().LogSize() != uint64(4+12+2+2) {
		t.Errorf("roots %x %x, log size %d", ra, rb, a.Registry().LogSize())
	}
	groups := map[string]int{}
	for _, c := range a.Registry().Claims() {
		groups[c.Group]++
	}
	if groups["g1"] < 3 || groups["g2"] < 3 || groups["g3"] < 3 {
		t.Errorf("claims per group %v, want them spread", groups)
	}
}

func TestStatements(t *testing.T) {
	k := seedKey(t, "Sub.Example.", 1)
	text := k.DNSKEY.String()
	other := strings.Replace(text, "3600", "60", 1) // another TTL: same statement
	if !bytes.Equal(DelegationStatement("sub.example.", text), DelegationStatement("SUB.example", other)) {
		t.Errorf("DelegationStatement depends on the TTL or the case:\n%s\n%s", DelegationStatement("sub.example.", text), DelegationStatement("SUB.example", other))
	}
	want := "ddnrs-owner-key/1\nsub.example.\nsub.example.\t0\tIN\tDNSKEY\t257 3 15 " + k.DNSKEY.PublicKey + "\n4\n"
	if got := string(OwnerKeyStatement("sub.example.", text, 4)); got != want {
		t.Errorf("OwnerKeyStatement = %q, want %q", got, want)
	}
	if _, err := ParseOwnerKey("sub.example. 3600 IN A 192.0.2.1", ""); !errors.Is(err, ErrBadOwnerKey) {
		t.Errorf("ParseOwnerKey(A) = %v", err)
	}
	rsa := "example. 3600 IN DNSKEY 257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7HrxRixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3EgVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Apxz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn6UwNR1AkUTV74bU="
	if _, err := ParseOwnerKey(rsa, "example."); !errors.Is(err, ErrBadOwnerKey) {
		t.Errorf("ParseOwnerKey(RSA) = %v", err)
	}
	if dk, err := ParseOwnerKey(text, "sub.EXAMPLE."); err != nil || dk.Hdr.Name != "sub.example." || dk.Hdr.Rrtype != dns.TypeDNSKEY {
		t.Errorf("ParseOwnerKey = %v, %v", dk, err)
	}
}
