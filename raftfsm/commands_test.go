package raftfsm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
)

// goldenCommands returns one command of every type, built from fixed keys
// and zones, by golden file name. Ed25519 signatures are deterministic, so
// the bytes are too.
func goldenCommands(t testing.TB) map[string][]byte {
	t.Helper()
	must := mustCmd(t)
	k1, k2 := seedKey(t, "example.", 1), seedKey(t, "example.", 2)
	z1 := ownerZone(t, "example.", 2025060101, k1)
	z2 := change(t, z1, k1, putA(t, "new.example.", "192.0.2.7"))
	z3 := resignWith(t, z2, k2)
	return map[string][]byte{
		"cmd_create_zone.hex":    must(ChangeCommand(nil, z1, k1)),
		"cmd_publish_change.hex": must(ChangeCommand(z1, z2, k1)),
		"cmd_rotate_key.hex":     must(RotateCommand(z2, z3, k1, k2)),
		"cmd_delete_zone.hex":    must(DeleteCommand(z2, k1)),
		"cmd_suspend.hex":        encode(t, &Suspend{Zone: "example.", Reason: "abuse report 7"}),
		"cmd_unsuspend.hex":      encode(t, &Unsuspend{Zone: "example.", Reason: "resolved"}),
		"cmd_set_member.hex":     encode(t, &SetMember{ID: "node-1", Admin: "127.0.0.2:8443", DNS: "127.0.0.2:53"}),
	}
}

// TestCommandGolden pins the encoding of every command type: a failure
// means the log format changed, which old logs and mixed-version groups
// cannot survive. Add a version instead.
func TestCommandGolden(t *testing.T) {
	wantType := map[string]CommandType{
		"cmd_create_zone.hex": TypeCreateZone, "cmd_publish_change.hex": TypePublishChange,
		"cmd_rotate_key.hex": TypeRotateKey, "cmd_delete_zone.hex": TypeDeleteZone,
		"cmd_suspend.hex": TypeSuspend, "cmd_unsuspend.hex": TypeUnsuspend, "cmd_set_member.hex": TypeSetMember,
	}
	for name, b := range goldenCommands(t) {
		t.Run(name, func(t *testing.T) {
			checkCommandGolden(t, name, b, wantType[name], commandVersion1)
		})
	}
}

// checkCommandGolden checks a golden command encoding: the file
// testdata/name holds b, its header is type typ at body version
// version, it decodes to a command of that (named) type, and encoding
// that command gives b again.
func checkCommandGolden(t *testing.T, name string, b []byte, typ CommandType, version byte) {
	t.Helper()
	checkGolden(t, name, b)
	if CommandType(b[0]) != typ || b[1] != version {
		t.Errorf("header %x, want type %d version %d", b[:2], typ, version)
	}
	c, err := DecodeCommand(b)
	if err != nil {
		t.Fatalf("DecodeCommand = %v", err)
	}
	if c.Type() != typ || strings.HasPrefix(c.Type().String(), "type-") {
		t.Errorf("decoded type %s, want %s (named)", c.Type(), typ)
	}
	if again := encode(t, c); !bytes.Equal(again, b) {
		t.Errorf("EncodeCommand(DecodeCommand(b)) differs from b")
	}
}

// TestGoldenCommandsApply applies the golden commands in order, so the
// pinned bytes are also commands the FSM accepts.
func TestGoldenCommandsApply(t *testing.T) {
	f := newTestFSM(t)
	for i, name := range []string{"cmd_create_zone.hex", "cmd_publish_change.hex", "cmd_suspend.hex",
		"cmd_unsuspend.hex", "cmd_set_member.hex", "cmd_rotate_key.hex"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		cmd, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := f.apply(uint64(i+1), cmd).(*ApplyResult); !ok {
			t.Errorf("Apply(%s) = %v, want accepted", name, f.apply(uint64(i+1), cmd))
		}
	}
}

func TestDecodeCommandErrors(t *testing.T) {
	suspend := encode(t, &Suspend{Zone: "example.", Reason: "r"})
	tests := []struct {
		desc    string
		in      []byte
		unknown bool // *UnknownCommandError
		ignore  bool
		version bool
	}{
		{desc: "empty", in: nil},
		{desc: "type only", in: []byte{byte(TypeSuspend)}},
		{desc: "unknown type", in: []byte{0x42, 1}, unknown: true},
		{desc: "unknown type, ignorable", in: []byte{0x80 | 0x42, 1}, unknown: true, ignore: true},
		{desc: "known type with the flag set is unknown", in: append([]byte{0x80 | byte(TypeSuspend)}, suspend[1:]...), unknown: true, ignore: true},
		{desc: "type zero", in: []byte{0, 1}, unknown: true},
		{desc: "version 2", in: append([]byte{byte(TypeSuspend), 2}, suspend[2:]...), version: true},
		{desc: "version 0", in: append([]byte{byte(TypeSuspend), 0}, suspend[2:]...), version: true},
		{desc: "trailing byte", in: append(bytes.Clone(suspend), 0)},
		{desc: "truncated", in: suspend[:len(suspend)-1]},
		{desc: "huge count", in: []byte{byte(TypePublishChange), 1, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF}},
		{desc: "owner not a DNSKEY", in: func() []byte {
			e := &encoder{b: []byte{byte(TypeCreateZone), 1}}
			e.changeSet(zone.ChangeSet{Zone: "example."})
			rr, _ := dns.NewRR("example. 3600 IN A 192.0.2.1")
			e.rr(rr)
			return e.b
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			c, err := DecodeCommand(tt.in)
			if err == nil {
				t.Fatalf("DecodeCommand(%x) = %T, want an error", tt.in, c)
			}
			var u *UnknownCommandError
			switch {
			case tt.unknown:
				if !errors.As(err, &u) || u.Ignorable != tt.ignore {
					t.Errorf("DecodeCommand(%x) = %v, want *UnknownCommandError ignorable=%v", tt.in, err, tt.ignore)
				}
			default:
				if !errors.Is(err, ErrMalformedCommand) || errors.As(err, &u) {
					t.Errorf("DecodeCommand(%x) = %v, want ErrMalformedCommand", tt.in, err)
				}
				if tt.version != errors.Is(err, ErrCommandVersion) {
					t.Errorf("DecodeCommand(%x) = %v, ErrCommandVersion %v, want %v", tt.in, err, !tt.version, tt.version)
				}
			}
		})
	}
}

func TestEncodeCommandErrors(t *testing.T) {
	for _, c := range []Command{
		&CreateZone{Change: zone.ChangeSet{Zone: "example."}},                             // no owner
		&PublishChange{Change: zone.ChangeSet{Zone: "example.", Put: []*zone.RRset{nil}}}, // nil RRset
		&Suspend{Zone: strings.Repeat("a", 70000)},                                        // string too long
	} {
		if _, err := EncodeCommand(c); !errors.Is(err, ErrMalformedCommand) {
			t.Errorf("EncodeCommand(%T) = %v, want ErrMalformedCommand", c, err)
		}
	}
}

func FuzzDecodeCommand(f *testing.F) {
	for _, b := range goldenCommands(f) {
		f.Add(b)
	}
	for _, b := range registryGoldenCommands(f) {
		f.Add(b)
	}
	for _, b := range stageGoldenCommands(f) {
		f.Add(b)
	}
	for _, b := range leaseGoldenCommands(f) {
		f.Add(b)
	}
	for _, b := range sealGoldenCommands(f) {
		f.Add(b)
	}
	for _, c := range membershipGoldenCommands() {
		f.Add(encode(f, c))
	}
	f.Add(encode(f, testApproval()))
	f.Add([]byte{0x80 | 0x42, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			return
		}
		again, err := EncodeCommand(c)
		if err != nil {
			if !errors.Is(err, ErrMalformedCommand) {
				t.Fatalf("EncodeCommand(decoded) = %v", err)
			}
			return
		}
		c2, err := DecodeCommand(again)
		if err != nil {
			t.Fatalf("DecodeCommand(EncodeCommand(DecodeCommand(%x))) = %v", b, err)
		}
		if third := encode(t, c2); !bytes.Equal(third, again) {
			t.Fatalf("encoding not stable after one round trip:\n%x\n%x", again, third)
		}
	})
}
