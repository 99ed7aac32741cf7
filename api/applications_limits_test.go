package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestApplicationCaps: a submission past MaxOpenApplications gets 503
// applications_full (until a review closes one), past the client's
// ApplicationsPerIPPerDay 429 application_limit with Retry-After until
// the next UTC day (an IPv6 /64 is one client), and an application past
// the size limit 400.
func TestApplicationCaps(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.MaxOpenApplications = 3
		o.ApplicationsPerIPPerDay = 2
		o.TrustProxy = true // X-Forwarded-For picks the client
	})
	app := ApplicationInput{Domains: []string{"example.org"}, Project: "p", Usage: "u", Responsible: "r", Contact: "c@example.org"}
	submit := func(from string) resp {
		t.Helper()
		return f.do("POST", "/v1/applications", "", app, "X-Forwarded-For", from)
	}
	var first string
	for i, from := range []string{"2001:db8:1:2::1", "2001:db8:1:2::ffff"} {
		r := submit(from)
		want(t, "submission from "+from, r, http.StatusCreated, "")
		if i == 0 {
			var out struct{ ID string }
			json.Unmarshal(r.body, &out)
			first = out.ID
		}
	}
	r := submit("2001:db8:1:2::2")
	want(t, "third submission from one /64", r, http.StatusTooManyRequests, "application_limit")
	if ra := r.header.Get("Retry-After"); ra != "43200" { // the fixture's clock is 12:00 UTC
		t.Errorf("Retry-After = %q, want 43200 (until midnight UTC)", ra)
	}
	want(t, "submission from another /64", submit("2001:db8:1:3::1"), http.StatusCreated, "")
	r = submit("192.0.2.1")
	want(t, "fourth open application, cap 3", r, http.StatusServiceUnavailable, "applications_full")
	t.Logf("at the cap: %s", r.body)
	want(t, "review", f.do("POST", "/v1/applications/"+first+"/review", f.admin, ReviewInput{Decision: "reject", Message: "spam"}), http.StatusOK, "")
	want(t, "submission after a rejection", submit("192.0.2.1"), http.StatusCreated, "")
	f.b.advance(12 * time.Hour)
	want(t, "the next day, cap reached again", submit("2001:db8:1:2::3"), http.StatusServiceUnavailable, "applications_full")

	big := app
	big.Domains = nil
	for i := range 20 {
		big.Domains = append(big.Domains, strings.Repeat("a", 60)+"."+strings.Repeat("b", 60)+"."+strings.Repeat("c", 60)+".d"+string(rune('a'+i))+".example")
	}
	big.Usage, big.Project, big.Responsible, big.Contact = strings.Repeat("u", 4000), strings.Repeat("p", 4000), strings.Repeat("r", 4000), strings.Repeat("c", 4000)
	want(t, "oversized application", f.do("POST", "/v1/applications", "", big, "X-Forwarded-For", "198.51.100.9"), http.StatusBadRequest, "invalid_field")
}

// TestApplicationsPaged: GET /v1/applications pages with limit and
// after, oldest first, and follows next to the end.
func TestApplicationsPaged(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.TrustProxy = true })
	app := ApplicationInput{Domains: []string{"example.org"}, Project: "p", Usage: "u", Responsible: "r", Contact: "c@example.org"}
	var ids []string
	for i := range 5 {
		r := f.do("POST", "/v1/applications", "", app, "X-Forwarded-For", "192.0.2."+string(rune('1'+i)))
		want(t, "submission", r, http.StatusCreated, "")
		var out struct{ ID string }
		json.Unmarshal(r.body, &out)
		ids = append(ids, out.ID)
		f.b.advance(time.Second)
	}
	var got []string
	after := ""
	for range 10 {
		r := f.do("GET", "/v1/applications?limit=2&after="+after, f.admin, nil)
		want(t, "page", r, http.StatusOK, "")
		var page struct {
			Applications []struct{ ID string }
			Next         string
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Applications {
			got = append(got, a.ID)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Errorf("pages = %v, want %v", got, ids)
	}
	want(t, "limit 0", f.do("GET", "/v1/applications?limit=0", f.admin, nil), http.StatusBadRequest, "invalid_field")
}
