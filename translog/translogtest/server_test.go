package translogtest

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/translog"
)

func entry(zone string) translog.Entry {
	return translog.Entry{Kind: translog.KindRegistration, Time: time.Unix(1_800_000_000, 0), Zone: zone, Actor: "operator"}
}

func TestForkSharesPrefixThenDiverges(t *testing.T) {
	ctx := context.Background()
	a := NewServer(t, "")
	a.Append(t, entry("a."), entry("b."))
	b := a.Fork(t)
	a.Append(t, entry("c."))
	b.Append(t, entry("x."))
	la, err := a.Source().Entries(ctx, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := b.Source().Entries(ctx, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	if string(la[1]) != string(lb[1]) || string(la[2]) == string(lb[2]) {
		t.Errorf("fork: want leaves 0-1 shared and leaf 2 different")
	}
	ca, err := translog.OpenCheckpoint(a.Checkpoint(t), "", a.Key.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := translog.OpenCheckpoint(b.Checkpoint(t), "", a.Key.Verifier)
	if err != nil {
		t.Fatalf("the fork is signed by the same key: %v", err)
	}
	if ca.Size != 3 || cb.Size != 3 || ca.Root == cb.Root {
		t.Errorf("checkpoints %+v and %+v: want size 3, different roots", ca, cb)
	}
}

func TestTruncateAndStatus(t *testing.T) {
	ctx := context.Background()
	s := NewServer(t, "")
	s.Append(t, entry("a."), entry("b."), entry("c."))
	s.Truncate(1)
	if s.Size() != 1 {
		t.Fatalf("Size after Truncate(1) = %d", s.Size())
	}
	if _, err := s.Source().Entries(ctx, 0, 2); !errors.Is(err, translog.ErrHTTP) {
		// The server answers one entry; HTTPSource asks again for the
		// second, which is beyond the log.
		t.Errorf("Entries beyond a truncated log = %v, want ErrHTTP", err)
	}
	s.SetStatus(http.StatusTeapot)
	var he *translog.HTTPError
	if _, err := s.Source().Checkpoint(ctx); !errors.As(err, &he) || he.Status != http.StatusTeapot {
		t.Errorf("Checkpoint with SetStatus(418) = %v", err)
	}
}
