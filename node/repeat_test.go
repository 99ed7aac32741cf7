package node

import (
	"context"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/internal/demo"
	"github.com/ddnrs/ddnrs/writes"
)

// TestSubmitRepeat: the same change sent twice to the admin endpoint (as
// after a send whose outcome was unknown) is committed once; the second
// answer says it was a repeat, at the same serial, with no index.
func TestSubmitRepeat(t *testing.T) {
	p := newTestPKI(t)
	a := runNode(t, groupConfig(t, p, "a"))
	k := publishDemoTB(t, a)
	ac := p.client(t, "owner")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stored, err := a.Stored(demo.Origin)
	if err != nil {
		t.Fatal(err)
	}
	z := demoWith(t, stored, k, "again."+demo.Origin+" 300 IN TXT \"sent twice\"")
	cmd, err := writes.PublishCommand(stored, z)
	if err != nil {
		t.Fatal(err)
	}
	first, err := ac.SubmitChange(ctx, a.AdminAddr(), demo.Origin, cmd)
	if err != nil || first.Repeat || first.Index == 0 || first.Serial != z.Serial() {
		t.Fatalf("first send = %+v, %v; want committed at an index, serial %d", first, err, z.Serial())
	}
	second, err := ac.SubmitChange(ctx, a.AdminAddr(), demo.Origin, cmd)
	if err != nil || !second.Repeat || second.Index != 0 || second.Serial != z.Serial() {
		t.Fatalf("second send = %+v, %v; want a repeat at serial %d, index 0", second, err, z.Serial())
	}
	if got := a.Served().Get(demo.Origin); got == nil || got.Serial() != z.Serial() {
		t.Errorf("zone after two sends = %v, want serial %d", got, z.Serial())
	}
}
