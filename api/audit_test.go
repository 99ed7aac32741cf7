package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/internal/testlog"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// auditCluster is several real Servers, each with its own audit log and
// node id, over one testBackend (one registry: the same keys everywhere),
// each served on loopback by httptest, each listing all of them (itself
// included, which it must skip) plus extra as its audit peers.
type auditCluster struct {
	b     *testBackend
	nodes []*fixture
	admin string

	mu       sync.Mutex
	peers    []Peer
	peersErr error
}

func newAuditCluster(t testing.TB, peerTimeout time.Duration, ids ...string) *auditCluster {
	t.Helper()
	c := &auditCluster{b: newTestBackend(t)}
	for _, id := range ids {
		s, err := New(Options{Backend: c.b, Logger: testlog.New(t, slog.LevelWarn).With("node", id), DataDir: t.TempDir(),
			NodeID: id, AuditPeers: c.auditPeers, PeerTimeout: peerTimeout})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		t.Cleanup(func() {
			srv.Close()
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
		f := &fixture{t: t, b: c.b, s: s, srv: srv}
		c.nodes = append(c.nodes, f)
		c.addPeer(Peer{ID: id, URL: srv.URL})
	}
	c.admin = c.nodes[0].issue("reviewer", raftfsm.Scope{Suffixes: []string{"."}, Actions: []string{ActionAdmin}}, bigLimits, time.Time{})
	for _, f := range c.nodes {
		f.admin = c.admin
	}
	return c
}

func (c *auditCluster) auditPeers(context.Context) ([]Peer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.peers), c.peersErr
}

func (c *auditCluster) addPeer(p Peer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.peers = append(c.peers, p)
}

// auditAnswer is the body of GET /v1/audit.
type auditAnswer struct {
	Records     []AuditRecord `json:"records"`
	Partial     bool          `json:"partial"`
	Unreachable []string      `json:"unreachable"`
}

// readAudit is GET /v1/audit?query at f with key, which must answer 200.
func readAudit(t *testing.T, f *fixture, key, query string) auditAnswer {
	t.Helper()
	r := f.do("GET", "/v1/audit?"+query, key, nil)
	want(t, "GET /v1/audit?"+query+" at "+f.s.opt.NodeID, r, http.StatusOK, "")
	var a auditAnswer
	r.json(t, &a)
	return a
}

// brief is "node key action" of each record, to compare lists.
func brief(recs []AuditRecord, names map[string]string) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		k := names[r.KeyID]
		if k == "" {
			k = r.KeyID
		}
		out[i] = r.Node + " " + k + " " + r.Action
	}
	return out
}

// TestAuditCluster writes records at three nodes and reads them through
// each: the merge order, the limit, key isolation, scope=node, and a
// partial answer when one node is stopped and when one does not answer.
func TestAuditCluster(t *testing.T) {
	c := newAuditCluster(t, 500*time.Millisecond, "n1", "n2", "n3")
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	user := n1.issue("user", userScope("example.org."), bigLimits, time.Time{})
	other := n1.issue("other", userScope("example.org."), bigLimits, time.Time{})
	userID, _ := parseKey(user)
	otherID, _ := parseKey(other)
	names := map[string]string{userID: "user", otherID: "other"}

	// t0: the user creates the zone at n1; t0+1m: exports it at n2;
	// t0+2m: the other key, then the user, export it at n3 (same time:
	// n3's seq orders them).
	createZone(t, n1, user, newTestZone(t, "example.org."))
	c.b.advance(time.Minute)
	want(t, "export at n2", n2.do("GET", "/v1/zones/example.org./export", user, nil), http.StatusOK, "")
	c.b.advance(time.Minute)
	want(t, "export at n3 by other", n3.do("GET", "/v1/zones/example.org./export", other, nil), http.StatusOK, "")
	want(t, "export at n3", n3.do("GET", "/v1/zones/example.org./export", user, nil), http.StatusOK, "")
	c.b.advance(time.Minute)

	all := []string{"n3 user zones.export", "n3 other zones.export", "n2 user zones.export", "n1 user zones.create"}
	for _, tc := range []struct {
		name  string
		at    *fixture
		key   string
		query string
		want  []string
	}{
		{"admin at n1", n1, c.admin, "zone=example.org.", all},
		{"admin at n2", n2, c.admin, "zone=example.org.", all},
		{"admin at n3, scope=cluster", n3, c.admin, "zone=example.org.&scope=cluster", all},
		{"limit 2", n1, c.admin, "zone=example.org.&limit=2", all[:2]},
		{"limit 3 at n3", n3, c.admin, "zone=example.org.&limit=3", all[:3]},
		{"one key, by the admin", n2, c.admin, "zone=example.org.&key=" + otherID, all[1:2]},
		{"the user's own", n1, user, "zone=example.org.", []string{all[0], all[2], all[3]}},
		{"the user's own, key named", n3, user, "zone=example.org.&key=" + userID, []string{all[0], all[2], all[3]}},
		{"the other key's own", n1, other, "zone=example.org.", all[1:2]},
		{"scope=node at n3", n3, c.admin, "zone=example.org.&scope=node", all[:2]},
		{"scope=node at n1", n1, c.admin, "zone=example.org.&scope=node", all[3:]},
		{"since", n1, c.admin, "zone=example.org.&since=" + c.b.Now().Add(-2*time.Minute).Format(time.RFC3339), all[:3]},
		{"until", n2, c.admin, "zone=example.org.&until=" + c.b.Now().Add(-time.Minute).Format(time.RFC3339), all[2:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := readAudit(t, tc.at, tc.key, tc.query)
			if got := brief(a.Records, names); !slices.Equal(got, tc.want) {
				t.Errorf("records\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if a.Partial || len(a.Unreachable) > 0 {
				t.Errorf("partial %v, unreachable %v with every node up", a.Partial, a.Unreachable)
			}
		})
	}

	t.Run("a key reads only its own records of every node", func(t *testing.T) {
		// Without the zone filter: the reads above are in the log too,
		// at every node (each peer recorded the scope=node read it
		// answered).
		a := readAudit(t, n2, other, "limit=1000")
		nodes := map[string]bool{}
		for _, r := range a.Records {
			if r.KeyID != otherID {
				t.Errorf("the other key reads %+v", r)
			}
			nodes[r.Node] = true
		}
		if len(nodes) != 3 {
			t.Errorf("the other key's records come from nodes %v, want n1, n2 and n3", nodes)
		}
		want(t, "the user reads the other key's", n1.do("GET", "/v1/audit?key="+otherID, user, nil), http.StatusForbidden, "out_of_scope")
		want(t, "the user reads the other key's, scope=node", n3.do("GET", "/v1/audit?scope=node&key="+otherID, user, nil), http.StatusForbidden, "out_of_scope")
		want(t, "a bad scope", n1.do("GET", "/v1/audit?scope=everywhere", c.admin, nil), http.StatusBadRequest, "invalid_field")
	})

	t.Run("a node does not ask itself", func(t *testing.T) {
		reader := n1.issue("reader", userScope("example.org."), bigLimits, time.Time{})
		readerID, _ := parseKey(reader)
		readAudit(t, n1, reader, "")
		for _, tc := range []struct {
			at   *fixture
			want []string
		}{
			{n1, []string{"n1 " + readerID + " audit"}},
			{n2, []string{"n2 " + readerID + " audit"}},
		} {
			a := readAudit(t, tc.at, c.admin, "scope=node&key="+readerID)
			if got := brief(a.Records, names); !slices.Equal(got, tc.want) {
				t.Errorf("after one read at n1, %s holds %v, want %v", tc.at.s.opt.NodeID, got, tc.want)
			}
		}
	})

	t.Run("a node that does not answer", func(t *testing.T) {
		// n4 holds every request until the reader gives up.
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
		t.Cleanup(hang.Close)
		c.addPeer(Peer{ID: "n4", URL: hang.URL})
		a := readAudit(t, n1, c.admin, "zone=example.org.")
		if !a.Partial || !slices.Equal(a.Unreachable, []string{"n4"}) || !slices.Equal(brief(a.Records, names), all) {
			t.Errorf("with n4 hanging: partial %v unreachable %v records %v; want partial, n4, and every record of n1..n3", a.Partial, a.Unreachable, brief(a.Records, names))
		}
	})

	t.Run("a stopped node", func(t *testing.T) {
		n3.srv.Close()
		a := readAudit(t, n1, c.admin, "zone=example.org.")
		if !a.Partial || !slices.Equal(a.Unreachable, []string{"n3", "n4"}) || !slices.Equal(brief(a.Records, names), all[2:]) {
			t.Errorf("with n3 stopped: partial %v unreachable %v records %v; want partial, n3 and n4, and the records of n1 and n2", a.Partial, a.Unreachable, brief(a.Records, names))
		}
	})

	t.Run("peers unknown", func(t *testing.T) {
		c.mu.Lock()
		c.peersErr = errors.New("test: no registry state")
		c.mu.Unlock()
		a := readAudit(t, n2, c.admin, "zone=example.org.")
		if !a.Partial || len(a.Unreachable) != 0 || !slices.Equal(brief(a.Records, names), all[2:3]) {
			t.Errorf("peers unknown: partial %v unreachable %v records %v; want partial and n2's record", a.Partial, a.Unreachable, brief(a.Records, names))
		}
	})
}

// TestAuditPeerAnswers checks that a peer's answer is merged only when it
// is that node's own records within the filter: anything else makes the
// read partial, without the peer's records.
func TestAuditPeerAnswers(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 11, 0, 0, 0, time.UTC)
	good := AuditRecord{Node: "p", Seq: 7, Time: t0, KeyID: "0123456789abcdef", Action: "zones.get", Zone: "example.org.", Result: "ok", Status: 200}
	body := func(recs ...AuditRecord) string {
		b, err := json.Marshal(auditList{Records: recs})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	many := make([]AuditRecord, 3)
	for i := range many {
		many[i] = good
		many[i].Seq = uint64(i + 1)
	}
	wrongNode, wrongZone := good, good
	wrongNode.Node = "q"
	wrongZone.Zone = "example.com."
	for _, tc := range []struct {
		name   string
		status int
		body   string
		noURL  bool
		ok     bool
	}{
		{name: "its own records", status: 200, body: body(good), ok: true},
		{name: "no records", status: 200, body: body(), ok: true},
		{name: "another node's records", status: 200, body: body(good, wrongNode)},
		{name: "a record outside the filter", status: 200, body: body(wrongZone)},
		{name: "more than the limit", status: 200, body: body(many...)},
		{name: "an error", status: 401, body: `{"error":{"code":"unauthenticated","message":"unknown key"}}`},
		{name: "not JSON", status: 200, body: "<html>"},
		{name: "no API address", noURL: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newAuditCluster(t, 0, "n1")
			var mu sync.Mutex
			var asked []string
			peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				asked = append(asked, r.Header.Get("Authorization")+" "+r.URL.RawQuery)
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			t.Cleanup(peer.Close)
			p := Peer{ID: "p", URL: peer.URL}
			if tc.noURL {
				p.URL = ""
			}
			c.addPeer(p)
			a := readAudit(t, c.nodes[0], c.admin, "zone=example.org.&limit=2")
			if tc.ok {
				if a.Partial || len(a.Unreachable) != 0 || len(a.Records) != strings.Count(tc.body, `"node"`) {
					t.Errorf("partial %v unreachable %v records %+v, want the peer's records", a.Partial, a.Unreachable, a.Records)
				}
			} else if !a.Partial || !slices.Equal(a.Unreachable, []string{"p"}) || len(a.Records) != 0 {
				t.Errorf("partial %v unreachable %v records %+v, want partial, p unreachable, no records", a.Partial, a.Unreachable, a.Records)
			}
			mu.Lock()
			defer mu.Unlock()
			if !tc.noURL && (len(asked) != 1 || asked[0] != "Bearer "+c.admin+" limit=2&scope=node&zone=example.org.") {
				t.Errorf("the peer was asked %q, want once with the caller's key, scope=node, the zone and the limit", asked)
			}
		})
	}
}

// TestMergeAudit checks the order of merged records (time descending,
// node ascending, seq descending), duplicates and the limit.
func TestMergeAudit(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := func(node string, seq uint64, sec int) AuditRecord {
		return AuditRecord{Node: node, Seq: seq, Time: t0.Add(time.Duration(sec) * time.Second)}
	}
	ids := func(recs []AuditRecord) string {
		var b strings.Builder
		for _, r := range recs {
			fmt.Fprintf(&b, "%s%d@%d ", r.Node, r.Seq, r.Time.Sub(t0)/time.Second)
		}
		return strings.TrimSpace(b.String())
	}
	for _, tc := range []struct {
		name  string
		in    []AuditRecord
		limit int
		want  string
	}{
		{"empty", nil, 10, ""},
		{"by time", []AuditRecord{rec("a", 1, 1), rec("b", 1, 3), rec("a", 2, 2)}, 10, "b1@3 a2@2 a1@1"},
		{"same time: node, then seq", []AuditRecord{rec("b", 1, 5), rec("a", 1, 5), rec("a", 2, 5), rec("c", 9, 4)}, 10, "a2@5 a1@5 b1@5 c9@4"},
		{"duplicates", []AuditRecord{rec("a", 1, 1), rec("b", 1, 1), rec("a", 1, 1)}, 10, "a1@1 b1@1"},
		{"limit", []AuditRecord{rec("a", 1, 1), rec("b", 1, 2), rec("c", 1, 3)}, 2, "c1@3 b1@2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(mergeAudit(slices.Clone(tc.in), tc.limit)); got != tc.want {
				t.Errorf("mergeAudit = %q, want %q", got, tc.want)
			}
		})
	}
}

// BenchmarkAuditCluster is one cluster-wide GET /v1/audit by an admin key
// through the first of three nodes on loopback, each holding 1000
// records: the node's own query, two scope=node requests over HTTP (each
// with its own authentication, query and audit write) and the merge of
// 3×100 records down to the default limit of 100.
func BenchmarkAuditCluster(b *testing.B) {
	c := newAuditCluster(b, 0, "n1", "n2", "n3")
	admin := c.nodes[0].issue("bench", raftfsm.Scope{Suffixes: []string{"."}, Actions: []string{ActionAdmin}},
		raftfsm.Limits{PerMinute: 1 << 30, Burst: 1 << 30}, time.Time{})
	for _, f := range c.nodes {
		for i := range 1000 {
			if err := f.s.audit.add(AuditRecord{Time: c.b.Now().Add(time.Duration(i) * time.Second), KeyID: "0123456789abcdef",
				Action: "zones.get", Zone: "example.org.", Result: "ok", Status: 200}); err != nil {
				b.Fatal(err)
			}
		}
	}
	h := c.nodes[0].s.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/v1/audit", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || strings.Contains(w.Body.String(), `"partial"`) {
			b.Fatalf("status %d: %.200s", w.Code, w.Body)
		}
	}
}

// roundTrip is an http.RoundTripper of a function.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzPeerAudit feeds arbitrary peer answers (status and body) to the
// reader of a peer's scope=node records: it never panics, and what it
// accepts is at most the limit of records, every one of that peer and
// within the filter.
func FuzzPeerAudit(f *testing.F) {
	t0 := time.Date(2026, 11, 27, 11, 0, 0, 0, time.UTC)
	good, err := json.Marshal(auditList{Records: []AuditRecord{{Node: "p", Seq: 1, Time: t0, KeyID: "0123456789abcdef", Action: "zones.get", Zone: "example.org.", Result: "ok", Status: 200}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(200, good)
	f.Add(200, []byte(`{"records":[]}`))
	f.Add(200, []byte(`{"records":[{"node":"q","seq":1}]}`))
	f.Add(200, []byte(`{"records":null,"partial":true}`))
	f.Add(401, []byte(`{"error":{"code":"unauthenticated","message":"x"}}`))
	f.Add(200, []byte(`[`))
	flt := AuditFilter{Zone: "example.org.", KeyID: "0123456789abcdef", Since: t0.Add(-time.Hour), Until: t0.Add(time.Hour), Limit: 2}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 999 {
			t.Skip()
		}
		s := &Server{peerClient: &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: http.Header{},
				Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
		})}}
		recs, err := s.peerAudit(context.Background(), Peer{ID: "p", URL: "http://192.0.2.1:1"}, flt, "Bearer x")
		if err != nil {
			var pe *PeerError
			if !errors.As(err, &pe) || pe.Node != "p" {
				t.Fatalf("error %v is not a *PeerError of p", err)
			}
			return
		}
		if status != http.StatusOK || len(recs) > flt.Limit {
			t.Fatalf("accepted %d records with status %d", len(recs), status)
		}
		for _, r := range recs {
			if r.Node != "p" || !flt.match(r) {
				t.Fatalf("accepted %+v", r)
			}
		}
	})
}
