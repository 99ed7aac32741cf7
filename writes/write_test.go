package writes

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/api"
	"github.com/ddnrs/ddnrs/intergroup"
	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// mustDecode decodes an encoded command for the write path.
func mustDecode(t testing.TB, b []byte) raftfsm.Encoded {
	t.Helper()
	c, err := raftfsm.Decode(b)
	if err != nil {
		t.Fatalf("raftfsm.Decode: %v", err)
	}
	return c
}

// createCommand returns a small zone signed by a fresh owner key and its
// CreateZone command.
func createCommand(t testing.TB) (*zone.Zone, []byte) {
	t.Helper()
	const origin = "create.test."
	k, err := zone.GenerateKey(origin, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := zone.ParseFile(strings.NewReader("@ 3600 IN SOA ns hm 1 7200 3600 1209600 300\n@ 3600 IN NS ns\nns 3600 IN A 192.0.2.53\n"), origin, "test")
	if err != nil {
		t.Fatal(err)
	}
	z, _, err := zone.Prepare(nil, u, k, time.Now())
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	cmd, err := raftfsm.ChangeCommand(nil, z, k)
	if err != nil {
		t.Fatalf("ChangeCommand: %v", err)
	}
	return z, cmd
}

func TestCheckCommand(t *testing.T) {
	z, create := createCommand(t)
	member, err := raftfsm.EncodeCommand(&raftfsm.SetMember{ID: "n1", Admin: "127.0.0.1:1", DNS: "127.0.0.1:2"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		origin string
		cmd    []byte
		code   string
	}{
		{"create", z.Origin, create, ""},
		{"other zone in path", "example.", create, admin.CodeBadRequest},
		{"unknown type", z.Origin, []byte{0x42, 1}, admin.CodeRejected},
		{"unknown type, ignore bit", z.Origin, []byte{0xc2, 1}, admin.CodeRejected},
		{"truncated", z.Origin, create[:len(create)/2], admin.CodeRejected},
		{"set member", z.Origin, member, admin.CodeBadRequest},
	}
	for _, tt := range tests {
		cmd, err := raftfsm.Decode(tt.cmd)
		if err == nil {
			err = checkCommand(tt.origin, cmd)
		}
		if tt.code == "" {
			if err != nil {
				t.Errorf("checkCommand(%s) = %v, want nil", tt.name, err)
			}
			continue
		}
		if got := admin.ErrorOf(err).Code; err == nil || got != tt.code {
			t.Errorf("checkCommand(%s) = %v (code %s), want code %s", tt.name, err, got, tt.code)
		}
	}
}

func TestBackendErr(t *testing.T) {
	rejected := func(reason string) func(error) bool {
		return func(err error) bool {
			var rej *raftfsm.RejectedError
			return errors.As(err, &rej) && string(rej.Reason) == reason
		}
	}
	isNoZone := func(err error) bool { return errors.Is(err, api.ErrNoZone) }
	isField := func(err error) bool {
		var fe *api.FieldError
		return errors.As(err, &fe) && fe.Field == "command"
	}
	plain := errors.New("boom")
	for _, tt := range []struct {
		name string
		in   error
		want func(error) bool
	}{
		{"forwarded rejection", &admin.APIError{Status: 422, Code: admin.CodeRejected, Reason: "stale-serial", Message: "m"}, rejected("stale-serial")},
		{"local rejection", &raftfsm.RejectedError{Reason: "bad-signature", Err: plain}, rejected("bad-signature")},
		{"remote rejection", groupRejection(&overlay.RPCError{Code: overlay.CodeRejected, Reason: "zone-exists", Message: "zone x. exists"}), rejected("zone-exists")},
		{"remote rejection from a version-1 member", groupRejection(&overlay.RPCError{Code: overlay.CodeRejected, Message: "zone-exists: zone x. exists"}), rejected("remote")},
		{"exists elsewhere", &admin.OtherGroupError{Zone: "x.", Create: true}, rejected(string(admin.CodeExistsElsewhere))},
		{"forwarded not found", &admin.APIError{Status: 404, Code: admin.CodeNotFound, Message: "m"}, isNoZone},
		{"remote not found", &overlay.RPCError{Code: overlay.CodeNotFound, Message: "m"}, isNoZone},
		{"not hosted", fmt.Errorf("%w: x.", intergroup.ErrNotHosted), isNoZone},
		{"bad request", fmt.Errorf("%w: command is about zone y.", admin.ErrBadRequest), isField},
		{"other", plain, func(err error) bool { return err == plain }},
	} {
		if got := backendErr(tt.in); !tt.want(got) {
			t.Errorf("%s: backendErr(%v) = %#v", tt.name, tt.in, got)
		}
	}
}

// TestRejectionMessageOnce: a rejection that crossed nodes (forwarded to
// the leader over the admin API, or sent to another group over
// DDNRS-RPC, once or twice) is the same typed error, saying
// "rejected (<reason>)" once, as the local one does: the reason travels
// as a field, never parsed back out of text.
func TestRejectionMessageOnce(t *testing.T) {
	local := &raftfsm.RejectedError{Reason: "wrong-key", Err: errors.New("zone x. is signed by another key")}
	// What the admin API of the leader answers, and what a node of
	// another group sends over DDNRS-RPC (rpcWrites.Submit).
	forwarded := admin.ErrorOf(local)
	remote := groupRejection(remoteRefusal(local))
	twice := admin.ErrorOf(backendErr(forwarded))
	for _, tt := range []struct {
		name string
		in   error
	}{
		{"forwarded to the leader", forwarded},
		{"from another group", remote},
		{"forwarded twice", twice},
		{"from another group, forwarded there", groupRejection(remoteRefusal(twice))},
		{"forwarded, wrapped", fmt.Errorf("submit: %w", forwarded)},
	} {
		got := backendErr(tt.in)
		var rej *raftfsm.RejectedError
		if !errors.As(got, &rej) || rej.Reason != local.Reason {
			t.Errorf("%s: backendErr = %#v, want a rejection (%s)", tt.name, got, local.Reason)
			continue
		}
		if rej.Error() != local.Error() {
			t.Errorf("%s: message %q, want %q", tt.name, rej.Error(), local.Error())
		}
	}
}
