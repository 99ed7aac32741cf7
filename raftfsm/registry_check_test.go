package raftfsm

import (
	"errors"
	"sync"
	"testing"

	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/zone"
)

// TestCheckZoneCommands: Check says what Apply would say of a zone
// command, and changes nothing.
func TestCheckZoneCommands(t *testing.T) {
	r := newRejectSetup(t)
	must := mustCmd(t)
	v3 := change(t, r.v2, r.k, putA(t, "www.example.", "192.0.2.82"))
	k2 := newKey(t, "example.")
	tests := []struct {
		desc string
		cmd  []byte
		want Reason // "" = accepted
	}{
		{"publish", must(ChangeCommand(r.v2, v3, r.k)), ""},
		{"stale publish", publishCS(t, zone.SignedDiff(r.v2, r.v1), nil), ReasonStaleSerial},
		{"create twice", must(ChangeCommand(nil, ownerZone(t, "example.", 99, k2), k2)), ReasonZoneExists},
		{"delete", must(DeleteCommand(r.v2, r.k)), ""},
		{"delete with another key", must(DeleteCommand(r.v2, k2)), ReasonBadSignature},
		{"garbage", []byte{byte(TypeSuspend), 1, 0}, ReasonMalformed},
	}
	before := r.f.dump(t)
	events := len(r.f.events.calls)
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			err := r.f.Check(tt.cmd)
			var re *RejectedError
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Check = %v, want nil", err)
			case tt.want != "" && (!errors.As(err, &re) || re.Reason != tt.want):
				t.Errorf("Check = %v, want rejected (%s)", err, tt.want)
			}
		})
	}
	if after := r.f.dump(t); after != before || len(r.f.events.calls) != events {
		t.Errorf("Check changed the state:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// Check of a command this build does not know, and after a halt.
	var unknown *UnknownCommandError
	if err := r.f.Check([]byte{0x42, 1}); !errors.As(err, &unknown) {
		t.Errorf("Check(unknown type) = %v, want *UnknownCommandError", err)
	}
	if res := r.f.apply(3, []byte{0x42, 1}); !errors.Is(res.(error), ErrHalted) {
		t.Fatalf("Apply(unknown type) = %v, want ErrHalted", res)
	}
	if err := r.f.Check(must(ChangeCommand(r.v2, v3, r.k))); !errors.Is(err, ErrHalted) {
		t.Errorf("Check on a halted FSM = %v, want ErrHalted", err)
	}
}

// TestRegistryConcurrentReads reads registry states from other
// goroutines while commands are applied (run with -race): every state a
// reader gets is whole (its log's root recomputes from its leaves, its
// claims match its registrations).
func TestRegistryConcurrentReads(t *testing.T) {
	f := newTestFSM(t)
	next := f.applyAll(t, 1, heartbeat("n1", "g1", "", 1))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := f.Registry()
				root, err := r.Log().Root(r.LogSize())
				if err != nil {
					errs <- err
					return
				}
				fresh := translog.NewTree()
				for i := range r.LogSize() {
					leaf, err := r.LogEntry(i)
					if err != nil {
						errs <- err
						return
					}
					fresh.Append(leaf)
				}
				again, _ := fresh.Root(fresh.Size())
				if root != again || uint64(len(r.Claims())+1) != r.LogSize() {
					errs <- errors.New("a registry state whose log does not match its leaves or claims")
					return
				}
			}
		}()
	}
	for i := range 40 {
		origin := "z" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".example."
		next = f.applyAll(t, next, claim(origin, seedKey(t, origin, byte(i)), ""))
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
