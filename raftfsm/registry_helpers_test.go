package raftfsm

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/zone"
)

// regT0 is when the registry test commands happen; Apply reads no clock.
var regT0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func regAt(minutes int) time.Time { return regT0.Add(time.Duration(minutes) * time.Minute) }

// ownerText is the presentation form of k's DNSKEY, as a ClaimZone
// carries it.
func ownerText(k *zone.Key) string { return k.DNSKEY.String() }

// testAPIKey returns a well-formed key with id and a hash made from id.
func testAPIKey(id string) APIKey {
	return APIKey{
		ID: id, Hash: sha256.Sum256([]byte("ddnrs_" + id + "_secret")), Name: "key " + id,
		Scope:   Scope{Suffixes: []string{"example."}, Labels: []string{"_acme-challenge"}, Types: []string{"TXT"}, Actions: []string{"read", "update"}},
		Limits:  Limits{PerMinute: 30, Burst: 5},
		Created: regT0,
	}
}

func testApplication(id string) Application {
	return Application{
		ID: id, Submitted: regAt(1), Domains: []string{"example.", "example.net."}, Project: "p " + id, Usage: "acme",
		Responsible: "Ada", Contact: "ada@example.org", TokenHash: sha256.Sum256([]byte("token " + id)), Status: StatusPending,
	}
}

func heartbeat(id, group, region string, seen int) *NodeHeartbeat {
	return &NodeHeartbeat{Node: NodeRecord{
		ID: id, Group: group, Region: region, DNS: "127.0.0.1:53", Admin: "127.0.0.1:8443", API: "127.0.0.1:8053",
		PeerID: "12D3Koo" + id, Overlay: []string{"/ip4/127.0.0.1/udp/4001/quic-v1"}, Transports: []string{"udp", "tcp"},
		Seen: regAt(seen), Leader: "n1", Applied: 7, LastIndex: 8, Term: 2,
	}}
}

func claim(origin string, k *zone.Key, region string) *ClaimZone {
	return &ClaimZone{Zone: origin, Owner: ownerText(k), Region: region, Actor: "00000000000000a1", Time: regAt(5)}
}

// delegation returns parent's signature letting child's key claim child.
func delegation(parent, child *zone.Key) []byte {
	return ed25519.Sign(parent.Private, DelegationStatement(child.Zone, ownerText(child)))
}

// withConsent adds to c the consent of child's owner, signed by signer,
// for a claim of c.Zone by parent's key.
func withConsent(c *ClaimZone, child string, signer, parent *zone.Key) *ClaimZone {
	c.Consents = append(c.Consents, Consent{Zone: child, Signature: ed25519.Sign(signer.Private, ParentConsentStatement(c.Zone, ownerText(parent), child))})
	return c
}

// changeOwner returns a ChangeOwnerKey from old to next at generation gen.
func changeOwner(origin string, old, next *zone.Key, gen uint32) *ChangeOwnerKey {
	return &ChangeOwnerKey{Zone: origin, NewOwner: ownerText(next), Actor: "00000000000000a1", Time: regAt(9),
		Proof: ed25519.Sign(old.Private, OwnerKeyStatement(origin, ownerText(next), gen))}
}

// rotateOwner returns a ChangeOwnerKey from old to next carrying the
// proof of a RotateKey to serial: old's signature over RotateStatement.
func rotateOwner(origin string, old, next *zone.Key, serial uint32) *ChangeOwnerKey {
	return &ChangeOwnerKey{Zone: origin, NewOwner: ownerText(next), Actor: "00000000000000a1", Time: regAt(12),
		Proof: ed25519.Sign(old.Private, RotateStatement(origin, next.DNSKEY, serial)), RotateSerial: serial}
}

// applyAll applies cmds from index first on, each must be accepted.
func (f *testFSM) applyAll(t testing.TB, first uint64, cmds ...Command) uint64 {
	t.Helper()
	for _, c := range cmds {
		f.mustApply(t, first, encode(t, c))
		first++
	}
	return first
}

// describeRegistry writes everything r holds, the log's leaves decoded
// and its root.
func describeRegistry(t testing.TB, b *strings.Builder, what string, r *RegistryState) {
	t.Helper()
	for _, a := range r.Applications() {
		fmt.Fprintf(b, "%s app %+v\n", what, a)
	}
	for _, k := range r.Keys() {
		fmt.Fprintf(b, "%s key %+v\n", what, k)
	}
	for _, c := range r.Claims() {
		fmt.Fprintf(b, "%s claim %+v\n", what, c)
	}
	for _, n := range r.Nodes() {
		fmt.Fprintf(b, "%s node %+v\n", what, n)
	}
	for _, d := range r.OwedDrops() {
		fmt.Fprintf(b, "%s owed drop %+v\n", what, d)
	}
	for _, q := range r.NodeRequests() {
		fmt.Fprintf(b, "%s node request %+v\n", what, q)
	}
	for i := range r.LogSize() {
		leaf, err := r.LogEntry(i)
		if err != nil {
			t.Fatalf("LogEntry(%d): %v", i, err)
		}
		e, err := translog.ParseEntry(leaf)
		if err != nil {
			t.Fatalf("ParseEntry(leaf %d): %v", i, err)
		}
		fmt.Fprintf(b, "%s leaf %d %+v\n", what, i, e)
	}
	root, err := r.Log().Root(r.LogSize())
	if err != nil {
		t.Fatalf("Root(%d): %v", r.LogSize(), err)
	}
	fmt.Fprintf(b, "%s log size %d root %x\n", what, r.LogSize(), root)
}

// regDump describes the registry in memory and on disk and the applied
// index, for comparing states; it fails the test when memory and disk
// differ.
func (f *testFSM) regDump(t testing.TB) string {
	t.Helper()
	st, err := f.store.loadState()
	if err != nil {
		t.Fatalf("loadState: %v", err)
	}
	var mem, disk strings.Builder
	describeRegistry(t, &mem, "", f.Registry())
	describeRegistry(t, &disk, "", st.reg)
	if mem.String() != disk.String() {
		t.Errorf("registry in memory:\n%s\non disk:\n%s", mem.String(), disk.String())
	}
	return fmt.Sprintf("applied %d/%d\n%s", st.applied, f.AppliedIndex(), mem.String())
}

// recomputedRoot hashes leaves into a fresh tree.
func recomputedRoot(t testing.TB, r *RegistryState) [32]byte {
	t.Helper()
	tr := translog.NewTree()
	for i := range r.LogSize() {
		leaf, err := r.LogEntry(i)
		if err != nil {
			t.Fatal(err)
		}
		tr.Append(leaf)
	}
	root, err := tr.Root(tr.Size())
	if err != nil {
		t.Fatal(err)
	}
	return root
}
