package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/miekg/dns"
)

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter()
	for _, tc := range []struct {
		at        time.Duration
		ok        bool
		remaining int
		retry     time.Duration
	}{
		{0, true, 2, 0},
		{0, true, 1, 0},
		{0, true, 0, 0},
		{0, false, 0, time.Second},
		{500 * time.Millisecond, false, 0, 500 * time.Millisecond},
		{time.Second, true, 0, 0},
		{10 * time.Second, true, 2, 0}, // refilled to the burst, not beyond
	} {
		d := l.take("k", 60, 3, t0.Add(tc.at))
		if d.ok != tc.ok || d.remaining != tc.remaining || d.retryAfter != tc.retry {
			t.Errorf("take at +%s = ok %v remaining %d retry %s, want %v %d %s", tc.at, d.ok, d.remaining, d.retryAfter, tc.ok, tc.remaining, tc.retry)
		}
	}
	// Another id has its own bucket; new limits reshape an existing one.
	if d := l.take("other", 60, 3, t0); !d.ok || d.remaining != 2 {
		t.Errorf("other bucket: %+v", d)
	}
	if d := l.take("k", 60, 1, t0.Add(10*time.Second)); !d.ok || d.remaining != 0 || d.burst != 1 {
		t.Errorf("reshaped bucket: %+v", d)
	}
	// Sweeping drops only buckets that have refilled.
	l.take("busy", 1, 5, t0.Add(20*time.Second))
	l.sweep(t0.Add(21 * time.Second))
	if _, ok := l.buckets["busy"]; !ok {
		t.Error("sweep dropped a bucket still refilling")
	}
	if _, ok := l.buckets["other"]; ok {
		t.Error("sweep kept a full bucket")
	}
}

func TestLimiterBounded(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter()
	for i := range maxBuckets + 10 {
		l.take(fmt.Sprint(i), 60, 20, t0.Add(time.Duration(i)*time.Hour))
	}
	if n := len(l.buckets); n > maxBuckets {
		t.Errorf("%d buckets, want at most %d", n, maxBuckets)
	}
}

func TestAuditBound(t *testing.T) {
	a, err := openAudit(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.close() })
	a.max = 5
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 12 {
		if err := a.add(AuditRecord{Time: t0.Add(time.Duration(i) * time.Second), KeyID: "k", Action: "x", Result: "ok", Status: 200}); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := a.query(AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 5 || recs[0].Seq != 12 || recs[4].Seq != 8 {
		t.Errorf("kept %+v, want seqs 12..8", recs)
	}
}

func TestParseKey(t *testing.T) {
	key, id, _, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in     string
		wantID string
	}{
		{key, id},
		{"ddnrs_" + id, ""},
		{"ddnrs_" + strings.ToUpper(id) + "_" + strings.Repeat("A", 43), ""},
		{"ddnrs_" + id + "_" + strings.Repeat("A", 42), ""},
		{"ddnrs_" + id + "_" + strings.Repeat("+", 43), ""},
		{"other_" + id + "_" + strings.Repeat("A", 43), ""},
		{"", ""},
	} {
		got, ok := parseKey(tc.in)
		if got != tc.wantID || ok != (tc.wantID != "") {
			t.Errorf("parseKey(%q) = %q, %v, want %q", tc.in, got, ok, tc.wantID)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	key, _, _, err := newKey()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(key)
	f.Add("ddnrs__")
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := parseKey(s)
		if ok && (len(id) != 16 || !strings.HasPrefix(s, keyPrefix+id+"_") || len(s) != len(keyPrefix)+16+1+43) {
			t.Errorf("parseKey(%q) accepted id %q", s, id)
		}
	})
}

func TestAllowRRset(t *testing.T) {
	for _, tc := range []struct {
		labels, types []string
		owner         string
		typ           uint16
		want          string // "" allowed, else the ScopeError's What
	}{
		{nil, nil, "www.example.org.", dns.TypeA, ""},
		{[]string{"_acme-challenge.*"}, nil, "_acme-challenge.www.example.org.", dns.TypeTXT, ""},
		{[]string{"_acme-challenge.*"}, nil, "_ACME-challenge.a.b.example.org.", dns.TypeTXT, "label"}, // * is one label
		{[]string{"_acme-challenge.**"}, nil, "_ACME-challenge.a.b.example.org.", dns.TypeTXT, ""},
		{[]string{"_acme-challenge.**"}, nil, "_acme-challenge.example.org.", dns.TypeTXT, "label"},
		{[]string{"_acme-challenge.*"}, nil, "_acme-challenge.example.org.", dns.TypeTXT, "label"},
		{[]string{"_acme-challenge"}, nil, "_acme-challenge.example.org.", dns.TypeTXT, ""},
		{[]string{"@"}, nil, "example.org.", dns.TypeMX, ""},
		{[]string{"www"}, nil, "example.org.", dns.TypeMX, "label"},
		{nil, []string{"TXT"}, "x.example.org.", dns.TypeTXT, ""},
		{nil, []string{"txt"}, "x.example.org.", dns.TypeA, "type"},
	} {
		k := raftfsm.APIKey{Scope: raftfsm.Scope{Labels: tc.labels, Types: tc.types}}
		err := allowRRset(k, "example.org.", tc.owner, tc.typ)
		got := ""
		if se, ok := err.(*ScopeError); ok {
			got = se.What
		} else if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("allowRRset(%v %v, %s %s) = %q, want %q", tc.labels, tc.types, tc.owner, dns.TypeToString[tc.typ], got, tc.want)
		}
	}
}

// blockingBackend is a testBackend whose zone group never answers:
// SubmitZone waits for the request's deadline.
type blockingBackend struct{ *testBackend }

func (b blockingBackend) SubmitZone(ctx context.Context, _, _ string, _ raftfsm.Encoded, _ bool) (uint32, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

func TestDeadline(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.Backend = blockingBackend{o.Backend.(*testBackend)}
		// Long enough for everything before the group (decoding and
		// checking the zone, the claim) on a loaded 2-core machine: at
		// 50 ms a CI-style run timed out the third request before its
		// claim check. The two blocked requests take this long each.
		o.RequestTimeout = time.Second
	})
	user := f.issue("user", userScope("example.org."), bigLimits, time.Time{})
	tz := newTestZone(t, "example.org.")
	want(t, "create against a group that never answers", f.do("POST", "/v1/zones", user, tz.createBody(t)), http.StatusGatewayTimeout, "timeout")
	// The create may have reached the group: the claim is kept for the
	// owner's resend, which gets past the claim to the group again; the
	// name stays taken for any other key.
	want(t, "get", f.do("GET", "/v1/zones/example.org.", user, nil), http.StatusOK, "")
	want(t, "the same create again", f.do("POST", "/v1/zones", user, tz.createBody(t)), http.StatusGatewayTimeout, "timeout")
	other := newTestZone(t, "example.org.")
	want(t, "a create under another key", f.do("POST", "/v1/zones", user, other.createBody(t)), http.StatusConflict, "name_claimed")
}

// refusingBackend is a testBackend whose zone group refuses every write.
type refusingBackend struct{ *testBackend }

func (b refusingBackend) SubmitZone(context.Context, string, string, raftfsm.Encoded, bool) (uint32, error) {
	return 0, &raftfsm.RejectedError{Reason: raftfsm.ReasonZoneExists, Err: errors.New("zone example.org. exists")}
}

// TestCreateRefusedReleasesClaim: a create the group refuses leaves no
// claim behind.
func TestCreateRefusedReleasesClaim(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.Backend = refusingBackend{o.Backend.(*testBackend)}
	})
	user := f.issue("user", userScope("example.org."), bigLimits, time.Time{})
	tz := newTestZone(t, "example.org.")
	want(t, "create the group refuses", f.do("POST", "/v1/zones", user, tz.createBody(t)), http.StatusUnprocessableEntity, "rejected")
	want(t, "get", f.do("GET", "/v1/zones/example.org.", user, nil), http.StatusNotFound, "not_found")
}

func TestMethodsAndCookies(t *testing.T) {
	f := newFixture(t)
	r := f.do("PUT", "/v1/keys", f.admin, map[string]any{})
	want(t, "PUT /v1/keys", r, http.StatusMethodNotAllowed, "method_not_allowed")
	if got := r.header.Get("Allow"); got != "GET, POST" {
		t.Errorf("Allow = %q, want GET, POST", got)
	}
	// The web pages' cookie does not authenticate JSON API calls.
	want(t, "cookie only", f.do("GET", "/v1/keys", "", nil, "Cookie", "ddnrs_key="+f.admin), http.StatusUnauthorized, "unauthenticated")
}

// unreachableGroupBackend is a backend whose zone groups cannot be reached.
type unreachableGroupBackend struct{ *testBackend }

func (b unreachableGroupBackend) SubmitZone(context.Context, string, string, raftfsm.Encoded, bool) (uint32, error) {
	return 0, fmt.Errorf("%w: group east: dial: connection refused", ErrNoGroupMember)
}

func TestNoGroupMember(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.Backend = unreachableGroupBackend{o.Backend.(*testBackend)}
	})
	user := f.issue("user", userScope("example.org."), bigLimits, time.Time{})
	tz := newTestZone(t, "example.org.")
	resp := f.do("POST", "/v1/zones", user, tz.createBody(t))
	if ra := resp.header.Get("Retry-After"); ra != "2" {
		t.Errorf("no_group_member: Retry-After %q, want 2: it is temporary and clients should ask again", ra)
	}
	want(t, "create on a group no member of which answers", resp, http.StatusServiceUnavailable, "no_group_member")
	// The claim was released: the name can be claimed again later.
	want(t, "get", f.do("GET", "/v1/zones/example.org.", user, nil), http.StatusNotFound, "not_found")
}
