package api

import (
	"bytes"
	"net/http"
	"testing"
	"time"
)

// TestEphemeralZones: a zone created with a lease shows its deadline,
// its lease changes only by its key (or above), the key's quota holds,
// and bad inputs get clear errors. The teardown itself is node's
// (integration TestEphemeralZone).
func TestEphemeralZones(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxLeases = 2 })
	owner := f.issue("ci", userScope("dev.example.org."), bigLimits, time.Time{})
	other := f.issue("other", userScope("dev.example.org."), bigLimits, time.Time{})
	now := f.b.Now()

	zones := map[string]*testZone{}
	create := func(origin string, extra map[string]any) resp {
		t.Helper()
		zones[origin] = newTestZone(t, origin)
		body := zones[origin].createBody(t)
		for k, v := range extra {
			body[k] = v
		}
		return f.do("POST", "/v1/zones", owner, body)
	}
	for _, tc := range []struct {
		name  string
		extra map[string]any
		field string
	}{
		{"idle not a duration", map[string]any{"idle": "a week"}, "idle"},
		{"idle of zero", map[string]any{"idle": "0s"}, "idle"},
		{"idle past a year", map[string]any{"idle": "400d"}, "idle"},
		{"expiry in the past", map[string]any{"expires": now.Add(-time.Hour).Format(time.RFC3339)}, "expires"},
	} {
		r := create("bad.dev.example.org.", tc.extra)
		want(t, tc.name, r, http.StatusBadRequest, "invalid_field")
		if !bytes.Contains(r.body, []byte(`"field":"`+tc.field+`"`)) {
			t.Errorf("%s: %s, want field %s", tc.name, r.body, tc.field)
		}
	}

	expires := now.Add(72 * time.Hour).Truncate(time.Second)
	r := create("pr-1.dev.example.org.", map[string]any{"expires": expires.Format(time.RFC3339), "idle": "7d"})
	want(t, "create ephemeral", r, http.StatusCreated, "")
	var z struct {
		Lease *struct {
			Expires     time.Time `json:"expires"`
			IdleSeconds uint32    `json:"idle_seconds"`
			Deadline    time.Time `json:"deadline"`
			KeyID       string    `json:"key_id"`
		} `json:"lease"`
	}
	r.json(t, &z)
	ownerID, _ := parseKey(owner)
	if z.Lease == nil || !z.Lease.Deadline.Equal(expires) || z.Lease.IdleSeconds != 7*86400 || z.Lease.KeyID != ownerID {
		t.Fatalf("create answered %s, want a lease to %s, idle 7d, key %s", r.body, expires, ownerID)
	}
	want(t, "second ephemeral", create("pr-2.dev.example.org.", map[string]any{"idle": "36h"}), http.StatusCreated, "")
	want(t, "third past the quota", create("pr-3.dev.example.org.", map[string]any{"idle": "36h"}), http.StatusConflict, "lease_quota")
	want(t, "a permanent one is no lease", create("perm.dev.example.org.", nil), http.StatusCreated, "")

	r = f.do("GET", "/v1/zones", owner, nil)
	if !bytes.Contains(r.body, []byte(`"deadline":"`+expires.UTC().Format(time.RFC3339))) {
		t.Errorf("zone list %s lacks the deadline %s", r.body, expires)
	}

	lease := func(key, origin string, body map[string]any) resp {
		return f.do("POST", "/v1/zones/"+origin+"/lease", key, body)
	}
	want(t, "another key extends", lease(other, "pr-1.dev.example.org.", map[string]any{"extend": "24h"}), http.StatusForbidden, "out_of_scope")
	want(t, "nothing to change", lease(owner, "pr-1.dev.example.org.", map[string]any{}), http.StatusBadRequest, "missing_field")
	want(t, "permanent with an expiry", lease(owner, "pr-1.dev.example.org.", map[string]any{"permanent": true, "extend": "1h"}), http.StatusBadRequest, "invalid_field")
	want(t, "expires and extend", lease(owner, "pr-1.dev.example.org.", map[string]any{"extend": "1h", "expires": expires.Format(time.RFC3339)}), http.StatusBadRequest, "invalid_field")
	want(t, "lease of a permanent zone", lease(owner, "perm.dev.example.org.", map[string]any{"extend": "1h"}), http.StatusConflict, "permanent")
	want(t, "lease of no zone", lease(owner, "none.dev.example.org.", map[string]any{"extend": "1h"}), http.StatusNotFound, "not_found")

	r = lease(owner, "pr-1.dev.example.org.", map[string]any{"extend": "24h"})
	want(t, "extend", r, http.StatusOK, "")
	z.Lease = nil
	r.json(t, &z)
	if z.Lease == nil || !z.Lease.Expires.Equal(expires.Add(24*time.Hour)) || z.Lease.IdleSeconds != 7*86400 {
		t.Errorf("after extend: %s, want expiry %s and the idle time kept", r.body, expires.Add(24*time.Hour))
	}
	want(t, "admin makes it permanent", lease(f.admin, "pr-1.dev.example.org.", map[string]any{"permanent": true}), http.StatusOK, "")
	reg, _ := f.b.Registry()
	if c, _ := reg.Claim("pr-1.dev.example.org."); !c.Lease.IsZero() {
		t.Errorf("lease after permanent: %+v", c.Lease)
	}
	// The quota counts live leases: one is permanent now.
	want(t, "third within the quota again", create("pr-3.dev.example.org.", map[string]any{"idle": "36h"}), http.StatusCreated, "")

	// A change counts as activity for the idle time.
	f.b.advance(10 * time.Hour)
	tz := zones["pr-2.dev.example.org."]
	_, cmd := tz.change(t, tz.key, "v2")
	want(t, "change", f.do("POST", "/v1/zones/pr-2.dev.example.org./changes", owner, cmd), http.StatusOK, "")
	reg, _ = f.b.Registry()
	if c, _ := reg.Claim("pr-2.dev.example.org."); !c.Lease.Active.Equal(f.b.Now().Truncate(time.Second)) {
		t.Errorf("active after a change: %s, want %s", c.Lease.Active, f.b.Now())
	}
}

func TestParseLeaseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "72h": 72 * time.Hour, "90m": 90 * time.Minute, "1s": time.Second} {
		if got, err := ParseLeaseDuration(in); err != nil || got != want {
			t.Errorf("ParseLeaseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "0", "500ms", "367d", "1w", "7 d"} {
		if got, err := ParseLeaseDuration(in); err == nil {
			t.Errorf("ParseLeaseDuration(%q) = %v, want an error", in, got)
		}
	}
}
