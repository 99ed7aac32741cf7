package translog_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/translog/translogtest"
)

func TestHTTPSourceAgainstTestServer(t *testing.T) {
	ctx := context.Background()
	s := translogtest.NewServer(t, "")
	const n = 2*translog.MaxEntriesPerRequest + 7
	s.Append(t, entries(0, n)...)
	src := s.Source()
	leaves, err := src.Entries(ctx, 3, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaves) != n-3 {
		t.Fatalf("Entries(3, %d) = %d leaves", n, len(leaves))
	}
	tr := translog.NewTree()
	all, err := src.Entries(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range all {
		tr.Append(l)
	}
	c, err := translog.OpenCheckpoint(s.Checkpoint(t), "", s.Key.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := tr.Root(n); r != c.Root {
		t.Fatalf("entries hash to %x, checkpoint root %x", r, c.Root)
	}
	for _, i := range []uint64{0, 999, 1000, n - 1} {
		p, err := src.Inclusion(ctx, i, n)
		if err != nil {
			t.Fatal(err)
		}
		if err := translog.VerifyInclusion(all[i], i, n, c.Root, p); err != nil {
			t.Errorf("inclusion of %d: %v", i, err)
		}
	}
	r1, _ := tr.Root(17)
	p, err := src.Consistency(ctx, 17, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := translog.VerifyConsistency(17, n, r1, c.Root, p); err != nil {
		t.Errorf("consistency: %v", err)
	}
	if _, err := src.Inclusion(ctx, n, n); !errors.Is(err, translog.ErrHTTP) {
		t.Errorf("Inclusion(n, n) = %v, want ErrHTTP", err)
	}
}

// TestHTTPSourceBadAnswers: a server that answers wrongly is an
// *HTTPError naming the URL, never a panic or a silent success.
func TestHTTPSourceBadAnswers(t *testing.T) {
	hash := `"` + strings.Repeat("A", 43) + `="`
	for _, tc := range []struct {
		name string
		body string
		call func(*translog.HTTPSource) error
	}{
		{"checkpoint too long", strings.Repeat("x", 65<<10), func(s *translog.HTTPSource) error {
			_, err := s.Checkpoint(context.Background())
			return err
		}},
		{"entries not JSON", `[`, func(s *translog.HTTPSource) error {
			_, err := s.Entries(context.Background(), 0, 2)
			return err
		}},
		{"no entries", `{"entries":[]}`, func(s *translog.HTTPSource) error {
			_, err := s.Entries(context.Background(), 0, 2)
			return err
		}},
		{"wrong index", `{"entries":[{"index":1,"leaf":"AA=="}]}`, func(s *translog.HTTPSource) error {
			_, err := s.Entries(context.Background(), 0, 2)
			return err
		}},
		{"too many entries", `{"entries":[{"index":0,"leaf":"AA=="},{"index":1,"leaf":"AA=="},{"index":2,"leaf":"AA=="}]}`, func(s *translog.HTTPSource) error {
			_, err := s.Entries(context.Background(), 0, 2)
			return err
		}},
		{"short hash", `{"index":0,"size":2,"hashes":["AAAA"]}`, func(s *translog.HTTPSource) error {
			_, err := s.Inclusion(context.Background(), 0, 2)
			return err
		}},
		{"other proof", `{"index":1,"size":2,"hashes":[` + hash + `]}`, func(s *translog.HTTPSource) error {
			_, err := s.Inclusion(context.Background(), 0, 2)
			return err
		}},
		{"other consistency", `{"first":1,"second":3,"hashes":[` + hash + `]}`, func(s *translog.HTTPSource) error {
			_, err := s.Consistency(context.Background(), 1, 2)
			return err
		}},
		{"too many hashes", `{"first":1,"second":2,"hashes":[` + strings.Repeat(hash+",", 130) + hash + `]}`, func(s *translog.HTTPSource) error {
			_, err := s.Consistency(context.Background(), 1, 2)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			err := tc.call(&translog.HTTPSource{BaseURL: srv.URL + "/", Client: srv.Client()})
			var he *translog.HTTPError
			if !errors.As(err, &he) || !strings.HasPrefix(he.URL, srv.URL+"/v1/log/") {
				t.Fatalf("got %v, want an *HTTPError naming %s/v1/log/...", err, srv.URL)
			}
		})
	}
}

func TestHTTPSourceStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":{"code":"no_registry","message":"not a registry node"}}`, http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	_, err := (&translog.HTTPSource{BaseURL: srv.URL}).Checkpoint(context.Background())
	var he *translog.HTTPError
	if !errors.As(err, &he) || he.Status != 503 || !strings.Contains(err.Error(), "not a registry node") || !strings.Contains(err.Error(), srv.URL+"/v1/log/checkpoint") {
		t.Fatalf("Checkpoint = %v, want status 503 with the URL and the server's message", err)
	}
}
