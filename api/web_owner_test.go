package api

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWebOwner: a zone owner signs in with their API key and sees their
// zone (serial, signature expiry, group), its records and the key's
// scope; a key of another suffix sees nothing of it; a bad key cannot
// sign in; without a session the pages send to the sign-in form.
func TestWebOwner(t *testing.T) {
	f := newWebFixture(t)
	owner := f.issue("owner", userScope("example.org."), bigLimits, time.Time{})
	tz := newTestZone(t, "example.org.")
	createZone(t, f.fixture, owner, tz)
	other := f.issue("other", userScope("example.net."), bigLimits, time.Time{})

	c := f.client(t)
	if status, _ := f.get(t, c, "/owner"); status != http.StatusSeeOther {
		t.Errorf("GET /owner without a session: %d, want 303 to the sign-in form", status)
	}
	resp, body := f.post(t, c, "/owner/login", url.Values{"key": {"ddnrs_0000000000000000_nope"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(pageText(body), "cannot sign in") {
		t.Errorf("sign-in with an unknown key: %d\n%s", resp.StatusCode, pageText(body))
	}
	resp, body = f.post(t, c, "/owner/login", url.Values{"key": {owner}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/owner" {
		t.Fatalf("sign-in: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), pageText(body))
	}
	status, page := f.get(t, c, "/owner")
	text := pageText(page)
	if status != http.StatusOK {
		t.Fatalf("GET /owner: %d\n%s", status, text)
	}
	for _, want := range []string{"example.org.", strconv.FormatUint(uint64(tz.z.Serial()), 10), "Signatures expire", "Signed in with key", "zones.create"} {
		if !strings.Contains(text, want) {
			t.Errorf("GET /owner lacks %q:\n%s", want, text)
		}
	}
	status, page = f.get(t, c, "/owner/zones/example.org.")
	if text := pageText(page); status != http.StatusOK || !strings.Contains(text, "192.0.2.10") || !strings.Contains(text, "until") {
		t.Errorf("GET /owner/zones/example.org.: %d\n%s", status, text)
	}

	// Signing out of the owner pages leads back to their sign-in.
	resp, _ = f.post(t, c, "/review/logout", url.Values{"csrf": {csrfToken(owner)}, "next": {"owner"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/owner/login" {
		t.Errorf("owner sign-out: %d to %q, want 303 to /owner/login", resp.StatusCode, resp.Header.Get("Location"))
	}
	if status, _ := f.get(t, c, "/owner"); status != http.StatusSeeOther {
		t.Errorf("GET /owner after sign-out: %d, want 303 to the sign-in form", status)
	}

	// Another suffix: the zone is neither listed nor shown.
	c2 := f.client(t)
	if resp, _ := f.post(t, c2, "/owner/login", url.Values{"key": {other}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in of the other key: %d", resp.StatusCode)
	}
	_, page = f.get(t, c2, "/owner")
	if text := pageText(page); strings.Contains(page, "/owner/zones/example.org.") || !strings.Contains(text, "Next steps") {
		t.Errorf("another key's /owner shows example.org. or lacks the next steps:\n%s", text)
	}
	if status, _ := f.get(t, c2, "/owner/zones/example.org."); status != http.StatusForbidden {
		t.Errorf("another key's GET /owner/zones/example.org.: %d, want 403", status)
	}
}

// TestWebOwnerSubKeys: the owner page lists the key's sub-keys (a
// revoked one marked so) and the audit records of the sub-keys with the
// key each issue concerned, and an ephemeral zone's deadline; a sub-key
// signed in sees neither its parent nor its siblings.
func TestWebOwnerSubKeys(t *testing.T) {
	f := newWebFixture(t)
	owner := f.issue("owner", userScope("example.org."), bigLimits, time.Time{})
	tz := newTestZone(t, "pr-7.example.org.")
	body := tz.createBody(t)
	body["idle"] = "3d"
	want(t, "create ephemeral", f.do("POST", "/v1/zones", owner, body), http.StatusCreated, "")
	var ci, acme issued
	r := f.do("POST", "/v1/keys", owner, map[string]any{"name": "ci-job", "scope": map[string]any{"suffixes": []string{"ci.example.org."}, "actions": []string{"read", "update"}}})
	want(t, "issue ci", r, http.StatusCreated, "")
	r.json(t, &ci)
	r = f.do("POST", "/v1/keys", owner, map[string]any{"name": "acme-client", "scope": map[string]any{"suffixes": []string{"example.org."}, "labels": []string{"_acme-challenge"}, "types": []string{"TXT"}, "actions": []string{"update"}}})
	want(t, "issue acme", r, http.StatusCreated, "")
	r.json(t, &acme)
	want(t, "the ci key reads", f.do("GET", "/v1/zones", ci.Key, nil), http.StatusOK, "")
	want(t, "revoke acme", f.do("DELETE", "/v1/keys/"+acme.KeyID, owner, nil), http.StatusOK, "")

	c := f.client(t)
	if resp, body := f.post(t, c, "/owner/login", url.Values{"key": {owner}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d\n%s", resp.StatusCode, pageText(body))
	}
	status, page := f.get(t, c, "/owner")
	text := pageText(page)
	if status != http.StatusOK {
		t.Fatalf("GET /owner: %d\n%s", status, text)
	}
	for _, w := range []string{"Sub-keys", ci.KeyID, "ci-job", acme.KeyID, "revoked", "keys.issue", "keys.revoke", "zones.list", "ephemeral: torn down at"} {
		if !strings.Contains(text, w) {
			t.Errorf("GET /owner lacks %q:\n%s", w, text)
		}
	}
	c2 := f.client(t)
	if resp, body := f.post(t, c2, "/owner/login", url.Values{"key": {ci.Key}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sub-key sign-in: %d\n%s", resp.StatusCode, pageText(body))
	}
	_, page = f.get(t, c2, "/owner")
	if text := pageText(page); strings.Contains(text, acme.KeyID) || !strings.Contains(text, "No sub-keys") {
		t.Errorf("the sub-key's page shows its sibling or lacks the sub-key hint:\n%s", text)
	}
}
