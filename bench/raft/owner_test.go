package raftbench

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// TestOwnerChangesVerify checks that the owner's successive commands are
// what a replica accepts: a CreateZone, then PublishChanges each
// verifying against the previous zone with the owner key, with the
// serial, the register, (with Grow) the new name and (with Batch) the
// batch names' TXT, each in the change set, moving as documented.
func TestOwnerChangesVerify(t *testing.T) {
	tests := []struct {
		name  string
		grow  bool
		batch int
	}{{"register only", false, 0}, {"grow", true, 0}, {"batch", false, 3}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Cluster{}
			o, err := c.NewOwner(3, "verify.test", tt.grow)
			if err != nil {
				t.Fatal(err)
			}
			o.Batch = tt.batch
			var replica *zone.Zone
			for i := 1; i <= 4; i++ {
				ch, err := o.prepare()
				if err != nil {
					t.Fatal(err)
				}
				cmd, err := raftfsm.DecodeCommand(ch.cmd)
				if err != nil {
					t.Fatal(err)
				}
				var cs zone.ChangeSet
				switch c := cmd.(type) {
				case *raftfsm.CreateZone:
					if i != 1 {
						t.Fatalf("change %d is a CreateZone", i)
					}
					cs = c.Change
				case *raftfsm.PublishChange:
					if i == 1 {
						t.Fatal("first change is not a CreateZone")
					}
					cs = c.Change
				default:
					t.Fatalf("change %d is a %T", i, cmd)
				}
				next, err := zone.VerifyChange(replica, cs, o.Key)
				if err != nil {
					t.Fatalf("change %d refused: %v", i, err)
				}
				if ch.base != o.Serial() || next.Serial() != ch.serial {
					t.Errorf("change %d: base %d serial %d, owner at %d, replica at %d", i, ch.base, ch.serial, o.Serial(), next.Serial())
				}
				if got, want := registerValue(next, o.Origin), fmt.Sprintf("c3-%d", i); got != want {
					t.Errorf("change %d: register %q, want %q", i, got, want)
				}
				for b := 1; b <= tt.batch; b++ {
					name := zone.CanonicalName(fmt.Sprintf("b%d.%s", b, o.Origin))
					s := next.Node(name).RRset(dns.TypeTXT)
					if s == nil || s.NumRecords() != 1 || s.Records()[0].(*dns.TXT).Txt[0] != fmt.Sprintf("c3-%d", i) {
						t.Errorf("change %d: %s TXT = %v, want c3-%d", i, name, s, i)
					}
					if !slices.ContainsFunc(cs.Put, func(p *zone.RRset) bool { return zone.CanonicalName(p.Name) == name && p.Type == dns.TypeTXT }) {
						t.Errorf("change %d does not put %s TXT", i, name)
					}
				}
				if hasW := next.Node(zone.CanonicalName(fmt.Sprintf("w%d.%s", i, o.Origin))) != nil; hasW != tt.grow {
					t.Errorf("change %d: name w%d present = %v, want %v", i, i, hasW, tt.grow)
				}
				// A replica that already applied it refuses it again.
				if replica != nil {
					var ce *zone.ChangeError
					if _, err := zone.VerifyChange(next, cs, o.Key); !errors.As(err, &ce) || ce.Reason != zone.ReasonStaleSerial {
						t.Errorf("change %d applied twice: %v, want %s", i, err, zone.ReasonStaleSerial)
					}
				}
				replica = next
				o.pending = ch
				o.adopt(Record{Seq: ch.seq})
			}
			if len(o.Acked()) != 4 || o.Value() != "c3-4" {
				t.Errorf("acked %d, value %q", len(o.Acked()), o.Value())
			}
		})
	}
}
