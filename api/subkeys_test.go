package api

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
)

// issued is the answer of POST /v1/keys.
type issued struct {
	Key    string `json:"key"`
	KeyID  string `json:"key_id"`
	Parent string `json:"parent"`
}

func subKeyBody(name string, scope map[string]any, extra ...any) map[string]any {
	b := map[string]any{"name": name, "scope": scope, "limits": map[string]any{"per_minute": 600, "burst": 100}}
	for i := 0; i+1 < len(extra); i += 2 {
		b[extra[i].(string)] = extra[i+1]
	}
	return b
}

// TestSubKeys runs an owner's sub-keys through the API as an attacker
// holding one would: widening itself, issuing a wider sibling or child,
// using or extending a revoked chain, outliving its parent.
func TestSubKeys(t *testing.T) {
	f := newFixture(t)
	expires := f.b.Now().Add(48 * time.Hour).Truncate(time.Second)
	owner := f.issue("owner", userScope("example.org."), raftfsm.Limits{PerMinute: 600, Burst: 100}, expires)
	ownerID, _ := parseKey(owner)
	other := f.issue("other", userScope("other.org."), bigLimits, time.Time{})
	otherID, _ := parseKey(other)
	acme := map[string]any{"suffixes": []string{"example.org."}, "labels": []string{"_acme-challenge", "_acme-challenge.*"}, "types": []string{"TXT"}, "actions": []string{"read", "update"}}
	soon := f.b.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)

	r := f.do("POST", "/v1/keys", owner, subKeyBody("ci", acme, "expires", soon))
	want(t, "owner issues an ACME sub-key", r, http.StatusCreated, "")
	var ci issued
	r.json(t, &ci)
	if ci.Parent != ownerID {
		t.Fatalf("sub-key answer %s, want parent %s", r.body, ownerID)
	}
	want(t, "the sub-key works", f.do("GET", "/v1/zones", ci.Key, nil), http.StatusOK, "")

	for _, tc := range []struct {
		name, key string
		body      map[string]any
		status    int
		code      string
	}{
		{"sub-key widening itself: wider suffix", ci.Key, subKeyBody("w", map[string]any{"suffixes": []string{"."}, "labels": []string{"_acme-challenge"}, "types": []string{"TXT"}, "actions": []string{"read"}}, "expires", soon), http.StatusForbidden, "out_of_scope"},
		{"sub-key widening itself: any label", ci.Key, subKeyBody("w", map[string]any{"suffixes": []string{"example.org."}, "types": []string{"TXT"}, "actions": []string{"read"}}, "expires", soon), http.StatusForbidden, "out_of_scope"},
		{"sub-key widening itself: any type", ci.Key, subKeyBody("w", map[string]any{"suffixes": []string{"example.org."}, "labels": []string{"_acme-challenge"}, "actions": []string{"read"}}, "expires", soon), http.StatusForbidden, "out_of_scope"},
		{"sub-key widening itself: deeper labels", ci.Key, subKeyBody("w", map[string]any{"suffixes": []string{"example.org."}, "labels": []string{"_acme-challenge.**"}, "types": []string{"TXT"}, "actions": []string{"read"}}, "expires", soon), http.StatusForbidden, "out_of_scope"},
		{"sub-key widening itself: delete", ci.Key, subKeyBody("w", map[string]any{"suffixes": []string{"example.org."}, "labels": []string{"_acme-challenge"}, "types": []string{"TXT"}, "actions": []string{"delete"}}, "expires", soon), http.StatusForbidden, "out_of_scope"},
		{"sub-key widening itself: admin", ci.Key, subKeyBody("w", map[string]any{"suffixes": []string{"example.org."}, "actions": []string{"admin"}}, "expires", soon), http.StatusForbidden, "out_of_scope"},
		{"sub-key widening itself: a later expiry", ci.Key, subKeyBody("w", map[string]any{"suffixes": []string{"example.org."}, "labels": []string{"_acme-challenge"}, "types": []string{"TXT"}, "actions": []string{"read"}}, "expires", "2099-01-01T00:00:00Z"), http.StatusForbidden, "out_of_scope"},
		{"sub-key widening itself: higher rate", ci.Key, subKeyBody("w", map[string]any{"suffixes": []string{"example.org."}, "labels": []string{"_acme-challenge"}, "types": []string{"TXT"}, "actions": []string{"read"}}, "expires", soon, "limits", map[string]any{"per_minute": 6000, "burst": 100}), http.StatusForbidden, "out_of_scope"},
		{"sub-key issuing a sibling under its parent", ci.Key, subKeyBody("s", acme, "expires", soon, "parent", ownerID), http.StatusNotFound, "not_found"},
		{"sub-key under another owner's key", owner, subKeyBody("s", acme, "expires", soon, "parent", otherID), http.StatusNotFound, "not_found"},
		{"parent that is no key id", owner, subKeyBody("s", acme, "expires", soon, "parent", "../x"), http.StatusBadRequest, "invalid_field"},
		{"owner outliving its own expiry", owner, subKeyBody("late", acme, "expires", expires.Add(time.Hour).Format(time.RFC3339)), http.StatusForbidden, "out_of_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do("POST", "/v1/keys", tc.key, tc.body)
			want(t, tc.name, r, tc.status, tc.code)
		})
	}

	// A narrower grandchild is fine; the owner lists the whole tree, the
	// sub-key only its own part of it.
	r = f.do("POST", "/v1/keys", ci.Key, subKeyBody("apex-only", map[string]any{"suffixes": []string{"example.org."}, "labels": []string{"_acme-challenge"}, "types": []string{"TXT"}, "actions": []string{"update"}}, "expires", soon))
	want(t, "sub-key issues a narrower key", r, http.StatusCreated, "")
	var grand issued
	r.json(t, &grand)
	r = f.do("GET", "/v1/keys", owner, nil)
	want(t, "owner lists", r, http.StatusOK, "")
	for _, id := range []string{ownerID, ci.KeyID, grand.KeyID} {
		if !bytes.Contains(r.body, []byte(id)) {
			t.Errorf("owner's list %s lacks %s", r.body, id)
		}
	}
	r = f.do("GET", "/v1/keys", grand.Key, nil)
	if bytes.Contains(r.body, []byte(`"id":"`+ci.KeyID)) || bytes.Contains(r.body, []byte(`"id":"`+ownerID)) {
		t.Errorf("a grandchild's list shows the keys above it: %s", r.body)
	}
	want(t, "sub-key reads its parent", f.do("GET", "/v1/keys/"+ownerID, ci.Key, nil), http.StatusNotFound, "not_found")
	want(t, "sub-key revokes its parent", f.do("DELETE", "/v1/keys/"+ownerID, ci.Key, nil), http.StatusNotFound, "not_found")
	want(t, "other owner revokes the sub-key", f.do("DELETE", "/v1/keys/"+ci.KeyID, other, nil), http.StatusNotFound, "not_found")

	// The owner revokes the ACME key: its child goes with it, and
	// neither can issue any more.
	want(t, "owner revokes", f.do("DELETE", "/v1/keys/"+ci.KeyID, owner, nil), http.StatusOK, "")
	want(t, "revoked sub-key", f.do("GET", "/v1/zones", ci.Key, nil), http.StatusUnauthorized, "key_revoked")
	want(t, "child of the revoked sub-key", f.do("GET", "/v1/zones", grand.Key, nil), http.StatusUnauthorized, "key_revoked")
	want(t, "revoked key issues", f.do("POST", "/v1/keys", grand.Key, subKeyBody("x", acme, "expires", soon)), http.StatusUnauthorized, "key_revoked")
	r = f.do("GET", "/v1/keys/"+grand.KeyID, owner, nil)
	if !bytes.Contains(r.body, []byte(`"revoked_by":"parent:`+ci.KeyID)) {
		t.Errorf("grandchild after its parent's revocation: %s", r.body)
	}

	// Every issue and revocation is in the owner's audit log, with the
	// key it concerned.
	var al struct {
		Records []AuditRecord `json:"records"`
	}
	r = f.do("GET", "/v1/audit?key="+grand.KeyID, owner, nil)
	want(t, "owner reads its sub-key's audit", r, http.StatusOK, "")
	r.json(t, &al)
	var issue, revoke bool
	for _, a := range al.Records {
		issue = issue || a.Action == "keys.issue" && a.Target == grand.KeyID && a.KeyID == ci.KeyID && a.Result == "ok"
		revoke = revoke || a.Action == "keys.revoke" && a.KeyID == grand.KeyID
	}
	if !issue {
		t.Errorf("audit of %s = %+v, want its issue by %s", grand.KeyID, al.Records, ci.KeyID)
	}
	r = f.do("GET", "/v1/audit?key="+ci.KeyID, owner, nil)
	al.Records = nil
	r.json(t, &al)
	revoke = false
	for _, a := range al.Records {
		revoke = revoke || a.Action == "keys.revoke" && a.Target == ci.KeyID && a.KeyID == ownerID && a.Result == "ok"
	}
	if !revoke {
		t.Errorf("audit of %s = %+v, want its revocation by the owner", ci.KeyID, al.Records)
	}
	want(t, "another owner reads the audit", f.do("GET", "/v1/audit?key="+ci.KeyID, other, nil), http.StatusForbidden, "out_of_scope")

	// The owner's key expires: so does everything below it.
	r = f.do("POST", "/v1/keys", owner, subKeyBody("late-lived", acme, "expires", expires.Format(time.RFC3339)))
	want(t, "sub-key expiring with its parent", r, http.StatusCreated, "")
	var last issued
	r.json(t, &last)
	f.b.advance(49 * time.Hour)
	want(t, "sub-key past its parent's expiry", f.do("GET", "/v1/zones", last.Key, nil), http.StatusUnauthorized, "key_expired")
}

// TestSubKeyRateLimit: a sub-key's requests draw from its top key's
// bucket too, so sub-keys never multiply what an owner may send.
func TestSubKeyRateLimit(t *testing.T) {
	f := newFixture(t)
	owner := f.issue("owner", userScope("example.org."), raftfsm.Limits{PerMinute: 60, Burst: 4}, time.Time{})
	r := f.do("POST", "/v1/keys", owner, map[string]any{"name": "ci", "scope": map[string]any{"suffixes": []string{"example.org."}, "actions": []string{"read"}}, "limits": map[string]any{"per_minute": 60, "burst": 4}})
	want(t, "issue", r, http.StatusCreated, "")
	var ci issued
	r.json(t, &ci)
	// The issue took one token of four; the sub-key takes the rest.
	for i := range 3 {
		want(t, "sub-key request", f.do("GET", "/v1/zones", ci.Key, nil), http.StatusOK, "")
		_ = i
	}
	want(t, "owner after its sub-key drained the bucket", f.do("GET", "/v1/zones", owner, nil), http.StatusTooManyRequests, "rate_limited")
}
