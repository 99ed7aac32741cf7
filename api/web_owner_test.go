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
