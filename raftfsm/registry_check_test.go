package raftfsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
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

// TestApplicationCap: a submission carrying MaxOpen is refused while that
// many applications are open (pending or more_info), a review closing
// one frees its place, an oversized one is malformed, one without a cap
// is never refused for the count, a dry run changes nothing, and the
// open count survives a snapshot and a reopen of the store.
func TestApplicationCap(t *testing.T) {
	f := newTestFSM(t)
	next := uint64(1)
	submit := func(id string, maxOpen uint32) interface{} {
		t.Helper()
		r := f.apply(next, encode(t, &SubmitApplication{App: testApplication(id), MaxOpen: maxOpen}))
		next++
		return r
	}
	wantReason := func(what string, r interface{}, reason Reason) {
		t.Helper()
		var rej *RejectedError
		if err, ok := r.(error); !ok || !errors.As(err, &rej) || rej.Reason != reason {
			t.Fatalf("%s = %v, want rejected %s", what, r, reason)
		}
	}
	for _, id := range []string{"a1", "a2"} {
		if _, ok := submit(id, 2).(*ApplyResult); !ok {
			t.Fatalf("submission %s refused below the cap", id)
		}
	}
	if err := f.Check(encode(t, &SubmitApplication{App: testApplication("a3"), MaxOpen: 2})); err == nil {
		t.Error("Check of a third submission under cap 2 = nil, want the refusal")
	}
	wantReason("third submission, cap 2", submit("a3", 2), ReasonApplicationsFull)
	next = f.applyAll(t, next, &ReviewApplication{ID: "a1", Decision: DecisionMoreInfo, Time: regAt(2)})
	wantReason("third submission, one more_info", submit("a3", 2), ReasonApplicationsFull)
	next = f.applyAll(t, next, &ReviewApplication{ID: "a1", Decision: DecisionReject, Time: regAt(3)})
	if _, ok := submit("a3", 2).(*ApplyResult); !ok {
		t.Fatal("submission refused after a rejection freed a place")
	}
	if _, ok := submit("a4", 0).(*ApplyResult); !ok {
		t.Fatal("submission without a cap refused")
	}
	big := testApplication("big")
	big.Usage = strings.Repeat("u", MaxApplicationBytes)
	wantReason("oversized submission", f.apply(next, encode(t, &SubmitApplication{App: big, MaxOpen: 100})), ReasonMalformed)
	next++
	if got := f.Registry().OpenApplications(); got != 3 {
		t.Fatalf("open applications = %d, want 3 (a2, a3, a4)", got)
	}
	var buf bytes.Buffer
	if err := f.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	g := newTestFSM(t)
	if err := g.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	if got := g.Registry().OpenApplications(); got != 3 {
		t.Errorf("open applications after restore = %d, want 3", got)
	}
	h, err := NewFSM(f.store, FSMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Registry().OpenApplications(); got != 3 {
		t.Errorf("open applications after reopening the store = %d, want 3", got)
	}
}

// TestApplicationsPage: pages follow one another without gaps or
// repeats, oldest or newest first, filtered by status.
func TestApplicationsPage(t *testing.T) {
	f := newTestFSM(t)
	next := uint64(1)
	var ids []string
	for i := range 7 {
		a := testApplication(fmt.Sprintf("app%d", i))
		a.Submitted = regAt(i / 2) // pairs share a second: ID breaks the tie
		next = f.applyAll(t, next, &SubmitApplication{App: a})
		ids = append(ids, a.ID)
	}
	f.applyAll(t, next, &ReviewApplication{ID: "app3", Decision: DecisionReject, Time: regAt(9)})
	r := f.Registry()
	collect := func(q ApplicationQuery) []string {
		var out []string
		for {
			page := r.ApplicationsPage(q)
			for _, a := range page {
				out = append(out, a.ID)
			}
			if len(page) < q.Limit {
				return out
			}
			q.After = page[len(page)-1].ID
		}
	}
	pending := slices.DeleteFunc(slices.Clone(ids), func(s string) bool { return s == "app3" })
	for _, tc := range []struct {
		q    ApplicationQuery
		want []string
	}{
		{ApplicationQuery{Limit: 3}, ids},
		{ApplicationQuery{Limit: 2, Newest: true}, reversed(ids)},
		{ApplicationQuery{Limit: 2, Status: StatusPending}, pending},
		{ApplicationQuery{Limit: 1, Status: StatusRejected}, []string{"app3"}},
	} {
		if got := collect(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("pages of %+v = %v, want %v", tc.q, got, tc.want)
		}
	}
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}
