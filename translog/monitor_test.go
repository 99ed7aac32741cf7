package translog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/translog/translogtest"
)

func entry(i int) translog.Entry {
	return translog.Entry{
		Kind:  translog.KindRegistration,
		Time:  time.Date(2026, 11, 27, 0, 0, i, 0, time.UTC),
		Zone:  fmt.Sprintf("z%d.example.", i),
		Group: "g1", Actor: "operator",
	}
}

func entries(from, to int) []translog.Entry {
	var out []translog.Entry
	for i := from; i < to; i++ {
		out = append(out, entry(i))
	}
	return out
}

func monitor(s *translogtest.Server, state string) *translog.Monitor {
	return &translog.Monitor{Verifier: s.Key.Verifier, StatePath: state}
}

func check(t *testing.T, m *translog.Monitor, src translog.Source) translog.Report {
	t.Helper()
	r, err := m.Check(context.Background(), src)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return r
}

func TestMonitorGrowthAcrossRuns(t *testing.T) {
	s := translogtest.NewServer(t, "")
	s.Append(t, entries(0, 3)...)
	state := filepath.Join(t.TempDir(), "sub", "monitor.json")

	m := monitor(s, state)
	m.Entries = true
	r := check(t, m, s.Source())
	if r.Checkpoint.Size != 3 || r.Consistent != 0 || r.Previous.Size != 0 || len(r.Entries) != 3 || r.FirstEntry != 0 {
		t.Fatalf("first run: %+v", r)
	}
	fi, err := os.Stat(state)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}

	s.Append(t, entries(3, 10)...)
	for run, want := range []struct {
		size       uint64
		consistent int
		newEntries int
	}{{10, 1, 7}, {10, 2, 0}} {
		m := monitor(s, state) // a new process: only the file remembers
		m.Entries = true
		r := check(t, m, s.Source())
		if r.Checkpoint.Size != want.size || r.Consistent != want.consistent || len(r.Entries) != want.newEntries {
			t.Errorf("run %d: size %d consistent %d entries %d; want %+v", run+2, r.Checkpoint.Size, r.Consistent, len(r.Entries), want)
		}
		if run == 0 && (r.Previous.Size != 3 || r.FirstEntry != 3 || !reflect.DeepEqual(r.Entries[0], entry(3))) {
			t.Errorf("run 2: previous %d, first entry %d (%+v); want 3, 3", r.Previous.Size, r.FirstEntry, r.Entries[0])
		}
	}
	var st struct {
		Checkpoints []struct{ Size uint64 }
	}
	b, _ := os.ReadFile(state)
	if err := json.Unmarshal(b, &st); err != nil || len(st.Checkpoints) != 2 {
		t.Errorf("state file keeps %+v (%v), want sizes 3 and 10", st, err)
	}
}

// fixedCheckpoint serves a given signed checkpoint and the rest from
// Source: an older checkpoint, or one of another server.
type fixedCheckpoint struct {
	translog.Source
	msg []byte
}

func (f fixedCheckpoint) Checkpoint(context.Context) ([]byte, error) { return f.msg, nil }

func TestMonitorSmallerCheckpoint(t *testing.T) {
	s := translogtest.NewServer(t, "")
	s.Append(t, entries(0, 4)...)
	old := s.Checkpoint(t)
	s.Append(t, entries(4, 9)...)
	m := monitor(s, "")
	check(t, m, s.Source())
	r := check(t, m, fixedCheckpoint{s.Source(), old})
	if r.Checkpoint.Size != 4 || r.Consistent != 1 {
		t.Errorf("older checkpoint: %+v, want size 4 consistent with 1", r)
	}
	r = check(t, m, s.Source())
	if r.Consistent != 2 {
		t.Errorf("third check consistent with %d, want 2", r.Consistent)
	}
}

func wantSplitView(t *testing.T, err error, a, b []byte) {
	t.Helper()
	var sv *translog.SplitViewError
	if !errors.As(err, &sv) || !errors.Is(err, translog.ErrSplitView) {
		t.Fatalf("Check = %v, want a *SplitViewError", err)
	}
	if !bytes.Equal(sv.A, a) || !bytes.Equal(sv.B, b) {
		t.Errorf("split view carries\nA:\n%s\nB:\n%s\nwant\nA:\n%s\nB:\n%s", sv.A, sv.B, a, b)
	}
}

func TestMonitorFork(t *testing.T) {
	for _, tc := range []struct {
		name         string
		extraA       int // entries appended to a after the fork
		extraB       int
		unchangedLog bool
	}{
		{"same size", 1, 1, false},
		{"fork larger", 1, 3, false},
		{"fork smaller", 3, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := translogtest.NewServer(t, "")
			a.Append(t, entries(0, 5)...)
			b := a.Fork(t)
			a.Append(t, entries(100, 100+tc.extraA)...)
			b.Append(t, entries(200, 200+tc.extraB)...)
			state := filepath.Join(t.TempDir(), "m.json")
			m := monitor(a, state)
			seenA := check(t, m, a.Source()).Signed
			before, _ := os.ReadFile(state)

			// b serves its own proofs; for a smaller fork, the proof must
			// come from a log that has the larger size: ask a.
			var src translog.Source = b.Source()
			if tc.extraB < tc.extraA {
				src = fixedCheckpoint{a.Source(), b.Checkpoint(t)}
			}
			_, err := monitor(a, state).Check(context.Background(), src)
			wantSplitView(t, err, seenA, b.Checkpoint(t))
			if after, _ := os.ReadFile(state); !bytes.Equal(before, after) {
				t.Errorf("a split view changed the state file")
			}
			// a is still fine.
			check(t, monitor(a, state), a.Source())
		})
	}
}

func TestMonitorRewrittenHistory(t *testing.T) {
	s := translogtest.NewServer(t, "")
	s.Append(t, entries(0, 5)...)
	m := monitor(s, "")
	seen := check(t, m, s.Source()).Signed
	s.Truncate(3)
	s.Append(t, entries(50, 53)...)
	_, err := m.Check(context.Background(), s.Source())
	wantSplitView(t, err, seen, s.Checkpoint(t))

	// Rewriting to the same size.
	s2 := translogtest.NewServer(t, "")
	s2.Append(t, entries(0, 5)...)
	m2 := monitor(s2, "")
	seen = check(t, m2, s2.Source()).Signed
	s2.Truncate(4)
	s2.Append(t, entry(99))
	_, err = m2.Check(context.Background(), s2.Source())
	wantSplitView(t, err, seen, s2.Checkpoint(t))
}

type failingProofs struct {
	translog.Source
	err error
}

func (f failingProofs) Consistency(context.Context, uint64, uint64) ([][32]byte, error) {
	return nil, f.err
}

func TestMonitorRejects(t *testing.T) {
	other := translogtest.NewKey(t, translog.DefaultOrigin)
	errBoom := errors.New("boom")
	for _, tc := range []struct {
		name  string
		setup func(s *translogtest.Server) translog.Source
		want  error
	}{
		{"signed by another key", func(s *translogtest.Server) translog.Source {
			s.SetSigner(other.Signer)
			return s.Source()
		}, translog.ErrCheckpoint},
		{"wrong origin", func(s *translogtest.Server) translog.Source {
			s.SetOrigin("evil.example/log")
			return s.Source()
		}, translog.ErrCheckpoint},
		{"server error", func(s *translogtest.Server) translog.Source {
			s.SetStatus(http.StatusServiceUnavailable)
			return s.Source()
		}, translog.ErrHTTP},
		{"proof unavailable", func(s *translogtest.Server) translog.Source {
			return failingProofs{s.Source(), errBoom}
		}, errBoom},
		{"lagging replica cannot prove", func(s *translogtest.Server) translog.Source {
			lag := s.Fork(t)
			lag.Truncate(2)
			return lag.Source()
		}, translog.ErrHTTP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := translogtest.NewServer(t, "")
			s.Append(t, entries(0, 3)...)
			m := monitor(s, "")
			check(t, m, s.Source())
			s.Append(t, entry(3))
			_, err := m.Check(context.Background(), tc.setup(s))
			if !errors.Is(err, tc.want) || errors.Is(err, translog.ErrSplitView) {
				t.Fatalf("Check = %v, want %v and no split view", err, tc.want)
			}
		})
	}
}

func TestMonitorServerErrorNamesURL(t *testing.T) {
	s := translogtest.NewServer(t, "")
	s.SetStatus(http.StatusInternalServerError)
	_, err := monitor(s, "").Check(context.Background(), s.Source())
	var he *translog.HTTPError
	if !errors.As(err, &he) || he.Status != 500 || he.URL != s.URL+"/v1/log/checkpoint" {
		t.Fatalf("Check = %v, want an HTTPError for %s/v1/log/checkpoint, status 500", err, s.URL)
	}
}

// otherEntries serves the entries of another log beside the real
// checkpoint.
type otherEntries struct {
	translog.Source
	other translog.Source
}

func (o otherEntries) Entries(ctx context.Context, start, end uint64) ([][]byte, error) {
	return o.other.Entries(ctx, start, end)
}

func TestMonitorEntries(t *testing.T) {
	s := translogtest.NewServer(t, "")
	s.Append(t, entries(0, 4)...)
	f := s.Fork(t)
	f.Truncate(2)
	f.Append(t, entries(70, 72)...)
	m := monitor(s, "")
	m.Entries = true
	if _, err := m.Check(context.Background(), otherEntries{s.Source(), f.Source()}); !errors.Is(err, translog.ErrEntriesMismatch) {
		t.Errorf("entries of another log: %v, want ErrEntriesMismatch", err)
	}
	s.AppendLeaf([]byte("not an entry"))
	if _, err := m.Check(context.Background(), s.Source()); !errors.Is(err, translog.ErrEntriesMismatch) {
		t.Errorf("a leaf that is not an entry: %v, want ErrEntriesMismatch", err)
	}
	// Without Entries the same log passes: only the tree is checked.
	check(t, monitor(s, ""), s.Source())
}

func TestMonitorStateFile(t *testing.T) {
	s := translogtest.NewServer(t, "")
	s.Append(t, entry(0))
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
	}{
		{"not JSON", "{"},
		{"other version", `{"version":2}`},
		{"damaged root", `{"version":1,"checkpoints":[{"size":1,"root":"AAAA","note":""}]}`},
		{"other log", `{"version":1,"origin":"other/log","checkpoints":[]}`},
	} {
		path := filepath.Join(dir, tc.name+".json")
		if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if r, err := monitor(s, path).Check(context.Background(), s.Source()); err == nil {
			t.Errorf("%s: Check = %+v, want an error", tc.name, r)
		}
	}
}

// noProofs fails every proof request: a check that needs none passes.
type noProofs struct{ translog.Source }

func (noProofs) Consistency(context.Context, uint64, uint64) ([][32]byte, error) {
	return nil, errors.New("no proof should be needed")
}

func TestMonitorEmptyLogNeedsNoProof(t *testing.T) {
	s := translogtest.NewServer(t, "")
	m := monitor(s, "")
	empty := s.Checkpoint(t)
	check(t, m, noProofs{s.Source()})
	s.Append(t, entries(0, 3)...)
	check(t, m, noProofs{s.Source()})
	r := check(t, m, noProofs{fixedCheckpoint{s.Source(), empty}})
	if r.Checkpoint.Size != 0 || r.Consistent != 2 {
		t.Errorf("empty checkpoint again: %+v", r)
	}
}
