package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/translog/translogtest"
	"github.com/ddnrs/ddnrs/zone"
)

// TestLogStateAnchors: a Go program following the registry's log gets
// the zones' owner keys as trust anchors, and verifies an answer with
// them: registrations give anchors, an owner key change replaces the
// anchor and keeps the key before as previous (with a grace), a release
// drops it; a log that does not extend the checkpoint held (a fork under
// the same key) is a split view and changes nothing.
func TestLogStateAnchors(t *testing.T) {
	ctx := context.Background()
	z, key := exampleZone()
	_, old := exampleZone()
	s := translogtest.NewServer(t, "")
	now := time.Now().UTC().Truncate(time.Second)
	s.Append(t,
		translog.Entry{Kind: translog.KindRegistration, Time: now, Zone: "example.", Group: "east", OwnerKey: old.DNSKEY.String()},
		translog.Entry{Kind: translog.KindRegistration, Time: now, Zone: "gone.test.", Group: "east", OwnerKey: old.DNSKEY.String()},
	)
	fork := s.Fork(t)
	s.Append(t,
		translog.Entry{Kind: translog.KindOwnerKeyChange, Time: now, Zone: "example.", OwnerKey: key.DNSKEY.String()},
		translog.Entry{Kind: translog.KindRelease, Time: now, Zone: "gone.test."},
	)
	fork.Append(t, // longer than s: not a lagging replica
		translog.Entry{Kind: translog.KindRelease, Time: now, Zone: "example."},
		translog.Entry{Kind: translog.KindSuspension, Time: now, Zone: "gone.test.", Reason: "other view"},
		translog.Entry{Kind: translog.KindSuspension, Time: now, Zone: "example.", Reason: "other view"},
	)

	st := client.NewLogState()
	follow := func(src translog.Source) error {
		leaves, err := st.Extend(ctx, src, s.Key.Verifier, "")
		for _, l := range leaves {
			e, err := translog.ParseEntry(l)
			if err != nil {
				t.Fatal(err)
			}
			st.Apply(e, now, time.Hour)
		}
		return err
	}
	if err := follow(s.Source()); err != nil {
		t.Fatalf("Extend: %v", err)
	}
	anchors := st.TrustAnchors(func(z string, err error) { t.Errorf("anchor of %s: %v", z, err) })
	if len(anchors) != 1 || anchors["example."] == nil || !zone.SameKey(anchors["example."].DNSKEY, key.DNSKEY) {
		t.Fatalf("TrustAnchors = %v, want example. with the rotated key only", anchors)
	}
	prev := st.PreviousAnchors()
	if p, ok := prev["example."]; !ok || !zone.SameKey(p.Key.DNSKEY, old.DNSKEY) || !p.Until.Equal(now.Add(time.Hour)) {
		t.Errorf("PreviousAnchors = %v, want example.'s key before the change until %v", prev, now.Add(time.Hour))
	}
	a := groupAnswer(z, "www.example.", dns.TypeA)
	if _, err := client.NewVerifier(anchors, nil).VerifyAnswer("www.example.", dns.TypeA, a.Msg, a.Head, a.Proof); err != nil {
		t.Errorf("VerifyAnswer with the log's anchors: %v", err)
	}

	size := st.Size
	err := follow(fork.Source())
	var sv *translog.SplitViewError
	if !errors.As(err, &sv) || !errors.Is(err, translog.ErrSplitView) || st.SplitView == "" {
		t.Fatalf("Extend on a fork = %v (split view %q), want a split view", err, st.SplitView)
	}
	if st.Size != size || st.Anchors["example."] == "" || len(st.Suspended) != 0 {
		t.Errorf("after the split view: size %d anchors %v, want size %d, example. kept, nothing suspended", st.Size, st.Anchors, size)
	}
	if _, err := st.Extend(ctx, s.Source(), s.Key.Verifier, ""); !errors.Is(err, translog.ErrSplitView) {
		t.Errorf("Extend after a split view = %v, want it refused", err)
	}

	// A checkpoint signed by another key is refused.
	other := client.NewLogState()
	if _, err := other.Extend(ctx, s.Source(), translogtest.NewKey(t, "").Verifier, ""); err == nil {
		t.Error("Extend with another log's key = nil error, want the checkpoint refused")
	}
}
