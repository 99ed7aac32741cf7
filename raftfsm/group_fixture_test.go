package raftfsm_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/raftfsm/raftfsmtest"
	"github.com/ddnrs/ddnrs/zone"
)

// testWrite is one change to commit through a group and how to check that
// a member holds it.
type testWrite struct {
	name  string
	cmd   []byte
	check func(m *raftfsmtest.Member) error
}

// newWrite returns a CreateZone of the signed zone w<i>.test. (serial i,
// its own owner key): a real command through R1's state machine, which
// verifies every signature, the head and the Merkle root on every member.
func newWrite(t testing.TB, i int) testWrite {
	t.Helper()
	origin := fmt.Sprintf("w%d.test.", i)
	k, err := zone.GenerateKey(origin, true, bytes.NewReader(bytes.Repeat([]byte{byte(i)}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("@ 3600 IN SOA ns hostmaster %d 7200 3600 1209600 300\n@ 3600 IN NS ns\nns 3600 IN A 192.0.2.%d\nwww 3600 IN TXT \"write %d\"\n", i, i%250+1, i)
	z, err := zone.ParseFile(strings.NewReader(text), origin, origin+"zone")
	if err != nil {
		t.Fatal(err)
	}
	signed, err := zone.Sign(z, k, zone.DefaultSignOptions(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := raftfsm.ChangeCommand(nil, signed, k)
	if err != nil {
		t.Fatal(err)
	}
	return testWrite{name: origin, cmd: cmd, check: func(m *raftfsmtest.Member) error {
		f := m.FSM()
		if f == nil {
			return fmt.Errorf("%s is stopped", m.ID)
		}
		st, ok := f.Zone(origin)
		if !ok {
			return fmt.Errorf("zone %s missing", origin)
		}
		if got := st.Zone.Serial(); got != uint32(i) {
			return fmt.Errorf("zone %s serial %d, want %d", origin, got, i)
		}
		stored, err := m.Store().Get(origin)
		if err != nil {
			return fmt.Errorf("zone %s not in the store: %w", origin, err)
		}
		if stored.Serial() != uint32(i) {
			return fmt.Errorf("stored zone %s serial %d, want %d", origin, stored.Serial(), i)
		}
		return nil
	}}
}

// newFSM returns an FSM over a fresh store, for tests that open a group
// by hand.
func newFSM(t testing.TB) *raftfsm.FSM {
	t.Helper()
	store, err := raftfsm.OpenStore(filepath.Join(t.TempDir(), raftfsm.StoreFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f, err := raftfsm.NewFSM(store, raftfsm.FSMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}
