package api

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/zone"
)

func userScope(sfx ...string) raftfsm.Scope {
	return raftfsm.Scope{Suffixes: sfx, Actions: []string{ActionRead, ActionCreate, ActionUpdate, ActionDelete}}
}

var bigLimits = raftfsm.Limits{PerMinute: 6000, Burst: 1000}

func TestApplications(t *testing.T) {
	f := newFixture(t)
	good := ApplicationInput{Domains: []string{"Example.ORG"}, Project: "p", Usage: "acme", Responsible: "r", Contact: "c@example.org"}

	r := f.do("POST", "/v1/applications", "", good)
	want(t, "submit", r, http.StatusCreated, "")
	var created struct{ ID, Status, StatusToken string }
	r.json(t, &struct {
		ID          *string `json:"id"`
		Status      *string `json:"status"`
		StatusToken *string `json:"status_token"`
	}{&created.ID, &created.Status, &created.StatusToken})

	var app applicationJSON
	r = f.do("GET", "/v1/applications/"+created.ID, created.StatusToken, nil)
	want(t, "status with Bearer token", r, http.StatusOK, "")
	r.json(t, &app)
	if app.Status != "pending" || len(app.Domains) != 1 || app.Domains[0] != "example.org." {
		t.Fatalf("application = %+v, want pending for example.org.", app)
	}
	want(t, "status with ?token=", f.do("GET", "/v1/applications/"+created.ID+"?token="+url.QueryEscape(created.StatusToken), "", nil), http.StatusOK, "")
	want(t, "status with a wrong token", f.do("GET", "/v1/applications/"+created.ID+"?token=nope", "", nil), http.StatusUnauthorized, "unauthenticated")
	want(t, "status of an unknown id", f.do("GET", "/v1/applications/0000000000000000?token=x", "", nil), http.StatusNotFound, "not_found")
	want(t, "get as admin", f.do("GET", "/v1/applications/"+created.ID, f.admin, nil), http.StatusOK, "")

	user := f.issue("user", userScope("example.org."), bigLimits, time.Time{})
	want(t, "list as admin", f.do("GET", "/v1/applications?status=pending", f.admin, nil), http.StatusOK, "")
	want(t, "list with a bad status", f.do("GET", "/v1/applications?status=odd", f.admin, nil), http.StatusBadRequest, "invalid_field")
	want(t, "list as a user", f.do("GET", "/v1/applications", user, nil), http.StatusForbidden, "out_of_scope")
	want(t, "get as a user key", f.do("GET", "/v1/applications/"+created.ID, user, nil), http.StatusForbidden, "out_of_scope")

	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"bad JSON", `{"domains":`, 400, "bad_json"},
		{"unknown field", `{"domains":["a.org"],"extra":1}`, 400, "bad_json"},
		{"two values", `{} {}`, 400, "bad_json"},
		{"no domains", ApplicationInput{Project: "p", Usage: "u", Responsible: "r", Contact: "c"}, 400, "missing_field"},
		{"no contact", ApplicationInput{Domains: []string{"a.org"}, Project: "p", Usage: "u", Responsible: "r"}, 400, "missing_field"},
		{"bad domain", ApplicationInput{Domains: []string{"a..org"}, Project: "p", Usage: "u", Responsible: "r", Contact: "c"}, 400, "invalid_field"},
		{"too large", `{"project":"` + strings.Repeat("x", maxJSONBody) + `"}`, 413, "too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want(t, "submit", f.do("POST", "/v1/applications", "", tc.body), tc.status, tc.code)
		})
	}
	want(t, "submit as text/plain", f.do("POST", "/v1/applications", "", "{}", "Content-Type", "text/plain"), http.StatusUnsupportedMediaType, "unsupported_media_type")

	// Review.
	rev := "/v1/applications/" + created.ID + "/review"
	want(t, "review by a user", f.do("POST", rev, user, ReviewInput{Decision: "approve"}), http.StatusForbidden, "out_of_scope")
	want(t, "review without decision", f.do("POST", rev, f.admin, ReviewInput{}), http.StatusBadRequest, "missing_field")
	want(t, "review with an odd decision", f.do("POST", rev, f.admin, ReviewInput{Decision: "maybe"}), http.StatusBadRequest, "invalid_field")
	want(t, "more_info without message", f.do("POST", rev, f.admin, ReviewInput{Decision: "more_info"}), http.StatusBadRequest, "missing_field")
	want(t, "review of an unknown application", f.do("POST", "/v1/applications/0000000000000000/review", f.admin, ReviewInput{Decision: "reject", Message: "no"}), http.StatusNotFound, "not_found")
	want(t, "more_info", f.do("POST", rev, f.admin, ReviewInput{Decision: "more_info", Message: "which zones?"}), http.StatusOK, "")
	bad := &ScopeInput{Suffixes: []string{"example.org"}, Actions: []string{"fly"}}
	want(t, "approve with a bad scope", f.do("POST", rev, f.admin, ReviewInput{Decision: "approve", Scope: bad}), http.StatusBadRequest, "invalid_field")

	r = f.do("POST", rev, f.admin, ReviewInput{Decision: "approve", Message: "ok"})
	want(t, "approve", r, http.StatusOK, "")
	var res struct {
		Status string `json:"status"`
		Key    string `json:"key"`
		KeyID  string `json:"key_id"`
		ID     string `json:"id"`
	}
	r.json(t, &res)
	if res.Status != "approved" || res.Key == "" || !strings.HasPrefix(res.Key, "ddnrs_"+res.KeyID+"_") {
		t.Fatalf("approve = %+v", res)
	}
	r = f.do("GET", "/v1/keys/"+res.KeyID, res.Key, nil)
	want(t, "the issued key reads itself", r, http.StatusOK, "")
	var k keyJSON
	r.json(t, &k)
	if k.Application != created.ID || len(k.Scope.Suffixes) != 1 || k.Scope.Suffixes[0] != "example.org." {
		t.Errorf("issued key = %+v, want application %s over example.org.", k, created.ID)
	}
	r = f.do("GET", "/v1/applications/"+created.ID+"?token="+url.QueryEscape(created.StatusToken), "", nil)
	want(t, "status after approval", r, http.StatusOK, "")
	app = applicationJSON{}
	r.json(t, &app)
	if app.Status != "approved" || app.KeyID != res.KeyID || app.Reviewed == nil || app.Message != "ok" {
		t.Errorf("application after approval = %+v", app)
	}
	want(t, "review a closed application", f.do("POST", rev, f.admin, ReviewInput{Decision: "reject", Message: "late"}), http.StatusUnprocessableEntity, "rejected")
}

func TestKeys(t *testing.T) {
	f := newFixture(t)
	user := f.issue("user", userScope("example.org."), bigLimits, time.Time{})
	userID, _ := parseKey(user)
	other := f.issue("other", userScope("other.org."), bigLimits, time.Time{})
	otherID, _ := parseKey(other)
	expired := f.issue("old", userScope("example.org."), bigLimits, f.b.Now().Add(time.Hour))

	r := f.do("POST", "/v1/keys", f.admin, map[string]any{"name": "ci", "scope": map[string]any{"suffixes": []string{"example.org"}, "actions": []string{"read"}}})
	want(t, "issue", r, http.StatusCreated, "")
	var issued struct {
		Key   string `json:"key"`
		KeyID string `json:"key_id"`
	}
	r.json(t, &issued)
	if id, ok := parseKey(issued.Key); !ok || id != issued.KeyID {
		t.Fatalf("issued key %q, id %q: malformed", issued.Key, issued.KeyID)
	}
	want(t, "the new key works", f.do("GET", "/v1/zones", issued.Key, nil), http.StatusOK, "")
	want(t, "issue by a user", f.do("POST", "/v1/keys", user, map[string]any{"name": "x", "scope": map[string]any{"suffixes": []string{"."}, "actions": []string{"admin"}}}), http.StatusForbidden, "out_of_scope")
	want(t, "issue without scope", f.do("POST", "/v1/keys", f.admin, map[string]any{"name": "x"}), http.StatusBadRequest, "missing_field")
	want(t, "issue without name", f.do("POST", "/v1/keys", f.admin, map[string]any{"scope": map[string]any{"suffixes": []string{"."}, "actions": []string{"read"}}}), http.StatusBadRequest, "missing_field")
	want(t, "issue expiring in the past", f.do("POST", "/v1/keys", f.admin, map[string]any{"name": "x", "expires": "2000-01-01T00:00:00Z", "scope": map[string]any{"suffixes": []string{"."}, "actions": []string{"read"}}}), http.StatusBadRequest, "invalid_field")

	r = f.do("GET", "/v1/keys", f.admin, nil)
	want(t, "list", r, http.StatusOK, "")
	if bytes.Contains(r.body, []byte("hash")) {
		t.Errorf("key list shows hashes: %s", r.body)
	}
	r = f.do("GET", "/v1/keys", user, nil)
	want(t, "list as user", r, http.StatusOK, "")
	if bytes.Contains(r.body, []byte(otherID)) || !bytes.Contains(r.body, []byte(userID)) {
		t.Errorf("a user's key list = %s, want its own key and no other", r.body)
	}
	want(t, "get own", f.do("GET", "/v1/keys/"+userID, user, nil), http.StatusOK, "")
	want(t, "get another's", f.do("GET", "/v1/keys/"+otherID, user, nil), http.StatusNotFound, "not_found")
	want(t, "get unknown", f.do("GET", "/v1/keys/0123456789abcdef", f.admin, nil), http.StatusNotFound, "not_found")

	// Authentication failures.
	for _, tc := range []struct {
		name, key, code string
	}{
		{"no key", "", "unauthenticated"},
		{"malformed", "ddnrs_nope", "unauthenticated"},
		{"unknown id", "ddnrs_0123456789abcdef_" + strings.Repeat("A", 43), "unauthenticated"},
		{"known id, wrong secret", "ddnrs_" + userID + "_" + strings.Repeat("A", 43), "unauthenticated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want(t, "GET /v1/zones", f.do("GET", "/v1/zones", tc.key, nil), http.StatusUnauthorized, tc.code)
		})
	}
	f.b.advance(2 * time.Hour)
	want(t, "expired key", f.do("GET", "/v1/zones", expired, nil), http.StatusUnauthorized, "key_expired")

	// Revocation: by the key itself; then it is refused.
	r = f.do("DELETE", "/v1/keys/"+userID, user, nil)
	want(t, "revoke own", r, http.StatusOK, "")
	r.json(t, &struct{}{})
	if !bytes.Contains(r.body, []byte(`"revoked":true`)) {
		t.Errorf("revoke answered %s, want revoked true", r.body)
	}
	want(t, "revoked key", f.do("GET", "/v1/zones", user, nil), http.StatusUnauthorized, "key_revoked")
	want(t, "revoke another's", f.do("DELETE", "/v1/keys/"+userID, other, nil), http.StatusNotFound, "not_found")
	want(t, "admin revokes", f.do("DELETE", "/v1/keys/"+otherID, f.admin, nil), http.StatusOK, "")
	want(t, "revoke unknown", f.do("DELETE", "/v1/keys/0123456789abcdef", f.admin, nil), http.StatusNotFound, "not_found")
}

// createZone creates tz through the API with key and checks the answer.
func createZone(t *testing.T, f *fixture, key string, tz *testZone) {
	t.Helper()
	r := f.do("POST", "/v1/zones", key, tz.createBody(t))
	want(t, "create "+tz.origin, r, http.StatusCreated, "")
	var res struct {
		Zone   string `json:"zone"`
		Group  string `json:"group"`
		Serial uint32 `json:"serial"`
	}
	r.json(t, &res)
	if res.Zone != tz.origin || res.Group != "g1" || res.Serial != tz.z.Serial() {
		t.Fatalf("create = %+v, want %s on g1 serial %d", res, tz.origin, tz.z.Serial())
	}
}

func TestZoneLifecycle(t *testing.T) {
	f := newFixture(t)
	user := f.issue("user", userScope("example.org."), bigLimits, time.Time{})
	tz := newTestZone(t, "example.org.")

	// Create errors first.
	body := tz.createBody(t)
	noHead := map[string]any{"zone_file": body["zone_file"]}
	want(t, "create without head", f.do("POST", "/v1/zones", user, noHead), http.StatusBadRequest, "missing_field")
	want(t, "create without zone", f.do("POST", "/v1/zones", user, map[string]any{"head": body["head"]}), http.StatusBadRequest, "missing_field")
	want(t, "create with a bad zone file", f.do("POST", "/v1/zones", user, map[string]any{"zone_file": "garbage (", "head": body["head"]}), http.StatusBadRequest, "invalid_field")
	other := newTestZone(t, "example.org.")
	want(t, "create with another zone's head", f.do("POST", "/v1/zones", user, map[string]any{"zone_file": body["zone_file"], "head": other.createBody(t)["head"]}), http.StatusBadRequest, "invalid_field")
	outside := newTestZone(t, "example.net.")
	want(t, "create outside the key's suffixes", f.do("POST", "/v1/zones", user, outside.createBody(t)), http.StatusForbidden, "out_of_scope")
	reader := f.issue("reader", raftfsm.Scope{Suffixes: []string{"."}, Actions: []string{ActionRead}}, bigLimits, time.Time{})
	want(t, "create with a read-only key", f.do("POST", "/v1/zones", reader, body), http.StatusForbidden, "out_of_scope")

	createZone(t, f, user, tz)
	want(t, "create a claimed name", f.do("POST", "/v1/zones", user, other.createBody(t)), http.StatusConflict, "name_claimed")

	r := f.do("GET", "/v1/zones/example.org.", user, nil)
	want(t, "get zone", r, http.StatusOK, "")
	var cl claimJSON
	r.json(t, &cl)
	if cl.Zone != "example.org." || cl.Serial != 1 || cl.Group != "g1" || !strings.Contains(cl.OwnerKey, tz.key.DNSKEY.PublicKey) {
		t.Errorf("zone = %+v", cl)
	}
	want(t, "get an unclaimed zone", f.do("GET", "/v1/zones/nothing.example.org", user, nil), http.StatusNotFound, "not_found")
	want(t, "get a bad name", f.do("GET", "/v1/zones/a..b", user, nil), http.StatusBadRequest, "invalid_field")
	r = f.do("GET", "/v1/zones", user, nil)
	want(t, "list zones", r, http.StatusOK, "")
	if !bytes.Contains(r.body, []byte(`"example.org."`)) {
		t.Errorf("zone list %s lacks example.org.", r.body)
	}
	r = f.do("GET", "/v1/zones", f.issue("o", userScope("other.org."), bigLimits, time.Time{}), nil)
	if bytes.Contains(r.body, []byte(`"example.org."`)) {
		t.Errorf("zone list of another suffix's key shows example.org.: %s", r.body)
	}

	r = f.do("GET", "/v1/zones/example.org./records?name=_acme-challenge.www&type=TXT", user, nil)
	want(t, "records", r, http.StatusOK, "")
	var recs struct {
		RRsets []rrsetJSON `json:"rrsets"`
	}
	r.json(t, &recs)
	if len(recs.RRsets) != 1 || !strings.Contains(recs.RRsets[0].Records[0], `"v1"`) || len(recs.RRsets[0].RRSIGs) == 0 {
		t.Fatalf("records = %+v, want the signed TXT v1", recs)
	}
	want(t, "records with a bad type", f.do("GET", "/v1/zones/example.org./records?type=NOPE", user, nil), http.StatusBadRequest, "invalid_field")

	r = f.do("GET", "/v1/zones/example.org./export", user, nil)
	want(t, "export", r, http.StatusOK, "")
	exported, err := zone.ParseFile(bytes.NewReader(r.body), "example.org.", "export")
	if err != nil || exported.Serial() != 1 || r.header.Get(headHeader) == "" {
		t.Fatalf("export: %v, serial, head header %q", err, r.header.Get(headHeader))
	}

	// A change: dry run first (applies nothing), then for real.
	next, cmd := tz.change(t, tz.key, "v2")
	r = f.do("POST", "/v1/zones/example.org./changes?dry_run=true", user, cmd)
	want(t, "dry run", r, http.StatusOK, "")
	if z, _ := f.b.Zone(t.Context(), "example.org."); z.Serial() != 1 {
		t.Fatalf("dry run changed the zone to serial %d", z.Serial())
	}
	want(t, "bad dry_run", f.do("POST", "/v1/zones/example.org./changes?dry_run=maybe", user, cmd), http.StatusBadRequest, "invalid_field")
	_, wrongCmd := tz.change(t, other.key, "evil")
	r = f.do("POST", "/v1/zones/example.org./changes", user, map[string]any{"command": wrongCmd})
	want(t, "change signed by the wrong key", r, http.StatusUnprocessableEntity, "rejected")
	if !bytes.Contains(r.body, []byte(`"reason":"wrong-key"`)) && !bytes.Contains(r.body, []byte(`"reason":"bad-signature"`)) {
		t.Errorf("wrong-key change answered %s, want reason wrong-key", r.body)
	}
	want(t, "change with a garbage command", f.do("POST", "/v1/zones/example.org./changes", user, []byte{1, 2, 3}), http.StatusBadRequest, "invalid_field")
	want(t, "change without command", f.do("POST", "/v1/zones/example.org./changes", user, map[string]any{}), http.StatusBadRequest, "missing_field")
	want(t, "change for another zone", f.do("POST", "/v1/zones/example.net./changes", f.admin, cmd), http.StatusBadRequest, "invalid_field")
	r = f.do("POST", "/v1/zones/example.org./changes", user, map[string]any{"command": cmd})
	want(t, "change", r, http.StatusOK, "")
	if !bytes.Contains(r.body, []byte(`"serial":2`)) {
		t.Errorf("change answered %s, want serial 2", r.body)
	}
	tz.z = next

	// Import: the whole signed zone as text/dns, its head in the header.
	next, _ = tz.change(t, tz.key, "v3")
	var buf bytes.Buffer
	if err := zone.Write(&buf, next); err != nil {
		t.Fatal(err)
	}
	head := base64.StdEncoding.EncodeToString(next.Head.Note)
	r = f.do("POST", "/v1/zones/example.org./import", user, buf.Bytes(), "Content-Type", "text/dns", headHeader, head)
	want(t, "import", r, http.StatusOK, "")
	if z, _ := f.b.Zone(t.Context(), "example.org."); z.Serial() != 3 {
		t.Fatalf("after import serial %d, want 3", z.Serial())
	}
	tz.z = next
	want(t, "import without head", f.do("POST", "/v1/zones/example.org./import", user, buf.Bytes(), "Content-Type", "text/dns"), http.StatusBadRequest, "missing_field")
	want(t, "import as XML", f.do("POST", "/v1/zones/example.org./import", user, buf.Bytes(), "Content-Type", "application/xml"), http.StatusUnsupportedMediaType, "unsupported_media_type")

	// Delete: the owner-signed command, then the name is free again.
	del, err := raftfsm.DeleteCommand(tz.z, tz.key)
	if err != nil {
		t.Fatal(err)
	}
	want(t, "delete with a change command", f.do("DELETE", "/v1/zones/example.org.", user, map[string]any{"command": cmd}), http.StatusBadRequest, "invalid_field")
	want(t, "delete with a read key", f.do("DELETE", "/v1/zones/example.org.", reader, map[string]any{"command": del}), http.StatusForbidden, "out_of_scope")
	want(t, "delete", f.do("DELETE", "/v1/zones/example.org.", user, map[string]any{"command": del}), http.StatusOK, "")
	want(t, "get the deleted zone", f.do("GET", "/v1/zones/example.org.", user, nil), http.StatusNotFound, "not_found")
	want(t, "delete again", f.do("DELETE", "/v1/zones/example.org.", user, map[string]any{"command": del}), http.StatusNotFound, "not_found")
	createZone(t, f, user, other) // the name was released

	// The log: registration, release, registration (beside the node admission).
	checkLog(t, f, []translog.Kind{translog.KindNodeAdmission, translog.KindRegistration, translog.KindRelease, translog.KindRegistration})
}

// checkLog fetches the checkpoint, every entry and their proofs through
// the API and verifies them.
func checkLog(t *testing.T, f *fixture, kinds []translog.Kind) {
	t.Helper()
	r := f.do("GET", "/v1/log/checkpoint", "", nil)
	want(t, "checkpoint", r, http.StatusOK, "")
	v, err := translog.NewVerifier(f.b.vkey)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := translog.OpenCheckpoint(r.body, translog.DefaultOrigin, v)
	if err != nil {
		t.Fatalf("checkpoint %q: %v", r.body, err)
	}
	if cp.Size != uint64(len(kinds)) {
		t.Fatalf("log size %d, want %d", cp.Size, len(kinds))
	}
	r = f.do("GET", fmt.Sprintf("/v1/log/entries?start=0&end=%d", cp.Size+5), "", nil)
	want(t, "entries", r, http.StatusOK, "")
	var es struct {
		Entries []LogEntry `json:"entries"`
	}
	r.json(t, &es)
	if len(es.Entries) != len(kinds) {
		t.Fatalf("%d entries, want %d", len(es.Entries), len(kinds))
	}
	for i, e := range es.Entries {
		if e.Entry.Kind != kinds[i] {
			t.Errorf("entry %d kind %s, want %s", i, e.Entry.Kind, kinds[i])
		}
		r = f.do("GET", fmt.Sprintf("/v1/log/proof/inclusion?index=%d&size=%d", i, cp.Size), "", nil)
		want(t, "inclusion", r, http.StatusOK, "")
		var p struct {
			Hashes [][]byte `json:"hashes"`
		}
		r.json(t, &p)
		if err := translog.VerifyInclusion(e.Leaf, uint64(i), cp.Size, cp.Root, toHashes(p.Hashes)); err != nil {
			t.Errorf("entry %d: inclusion proof: %v", i, err)
		}
	}
	r = f.do("GET", fmt.Sprintf("/v1/log/proof/consistency?first=1&second=%d", cp.Size), "", nil)
	want(t, "consistency", r, http.StatusOK, "")
	var p struct {
		Hashes [][]byte `json:"hashes"`
	}
	r.json(t, &p)
	root1, err := rootOf(es.Entries[:1])
	if err != nil {
		t.Fatal(err)
	}
	if err := translog.VerifyConsistency(1, cp.Size, root1, cp.Root, toHashes(p.Hashes)); err != nil {
		t.Errorf("consistency proof: %v", err)
	}
}

func rootOf(es []LogEntry) ([32]byte, error) {
	tr := translog.NewTree()
	for _, e := range es {
		tr.Append(e.Leaf)
	}
	return tr.Root(tr.Size())
}

func toHashes(b [][]byte) [][32]byte {
	out := make([][32]byte, len(b))
	for i := range b {
		copy(out[i][:], b[i])
	}
	return out
}

func TestLogErrors(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		path string
		code string
	}{
		{"/v1/log/entries?end=1", "missing_field"},
		{"/v1/log/entries?start=x&end=1", "invalid_field"},
		{"/v1/log/entries?start=5&end=6", "invalid_field"},
		{"/v1/log/entries?start=0&end=0", "invalid_field"},
		{"/v1/log/proof/inclusion?index=0&size=9", "invalid_field"},
		{"/v1/log/proof/inclusion?index=1&size=1", "invalid_field"},
		{"/v1/log/proof/inclusion?index=0", "missing_field"},
		{"/v1/log/proof/consistency?first=2&second=1", "invalid_field"},
		{"/v1/log/proof/consistency?first=0&second=9", "invalid_field"},
	} {
		want(t, tc.path, f.do("GET", tc.path, "", nil), http.StatusBadRequest, tc.code)
	}
	want(t, "unknown path", f.do("GET", "/v1/nothing", "", nil), http.StatusNotFound, "not_found")
	f.b.mu.Lock()
	f.b.signer = nil // a node outside the registry group has no log key
	f.b.mu.Unlock()
	want(t, "checkpoint without a signer", f.do("GET", "/v1/log/checkpoint", "", nil), http.StatusServiceUnavailable, "no_registry")
	r := f.do("GET", "/v1/health", "", nil)
	want(t, "health", r, http.StatusOK, "")
	if !bytes.Contains(r.body, []byte(`"id":"n1"`)) {
		t.Errorf("health = %s, want node n1", r.body)
	}
}

// TestScopes checks label, type and action scopes on changes.
func TestScopes(t *testing.T) {
	f := newFixture(t)
	owner := f.issue("owner", userScope("example.org."), bigLimits, time.Time{})
	tz := newTestZone(t, "example.org.")
	createZone(t, f, owner, tz)

	// A change of the TXT at _acme-challenge.www only.
	_, txtCmd := tz.change(t, tz.key, "token")
	// A change of www's A record (and nothing else but SOA/NSEC).
	u := unsignedZone(t, tz.origin, 2, "v1")
	aChange := strings.Replace(fmt.Sprintf(testZoneText, tz.origin, 2, "v1"), "192.0.2.10", "192.0.2.11", 1)
	u, err := zone.ParseFile(strings.NewReader(aChange), tz.origin, "a")
	if err != nil {
		t.Fatal(err)
	}
	aNext, err := tz.z.Apply(zone.Diff(tz.z, u), tz.key, zone.DefaultSignOptions(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	aCmd, err := raftfsm.EncodeCommand(&raftfsm.PublishChange{Change: zone.SignedDiff(tz.z, aNext)})
	if err != nil {
		t.Fatal(err)
	}

	// A change deleting www's A record.
	noA := strings.Replace(fmt.Sprintf(testZoneText, tz.origin, 2, "v1"), "www 300 IN A 192.0.2.10\n", "", 1)
	u, err = zone.ParseFile(strings.NewReader(noA), tz.origin, "noA")
	if err != nil {
		t.Fatal(err)
	}
	delNext, err := tz.z.Apply(zone.Diff(tz.z, u), tz.key, zone.DefaultSignOptions(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	delCmd, err := raftfsm.EncodeCommand(&raftfsm.PublishChange{Change: zone.SignedDiff(tz.z, delNext)})
	if err != nil {
		t.Fatal(err)
	}

	// The challenge TXT changed, and the apex SOA with it in more than its
	// serial: the attack of a scoped key taking over the zone's SOA.
	soaChange := func(from, to string) []byte {
		t.Helper()
		text := strings.Replace(fmt.Sprintf(testZoneText, tz.origin, tz.z.Serial()+1, "token"), from, to, 1)
		u, err := zone.ParseFile(strings.NewReader(text), tz.origin, "soa")
		if err != nil {
			t.Fatal(err)
		}
		next, err := tz.z.Apply(zone.Diff(tz.z, u), tz.key, zone.DefaultSignOptions(time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		cmd, err := raftfsm.EncodeCommand(&raftfsm.PublishChange{Change: zone.SignedDiff(tz.z, next)})
		if err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	soaFields := soaChange("IN SOA ns1."+tz.origin+" hostmaster."+tz.origin, "IN SOA evil.attacker.example. root.attacker.example.")
	soaTimers := soaChange(" 7200 3600 1209600 300", " 7200 3600 1209600 86400")
	soaTTL := soaChange("@ 3600 IN SOA", "@ 86400 IN SOA")

	acme := raftfsm.Scope{Suffixes: []string{"example.org."}, Labels: []string{"_acme-challenge.*"}, Types: []string{"TXT"}, Actions: []string{ActionUpdate}}
	for _, tc := range []struct {
		name   string
		scope  raftfsm.Scope
		cmd    []byte
		status int
		detail string
	}{
		{"acme key, TXT change", acme, txtCmd, http.StatusOK, ""},
		{"acme key, TXT change rewriting the SOA's names", acme, soaFields, http.StatusForbidden, "(label)"},
		{"acme key, TXT change rewriting the SOA's minimum", acme, soaTimers, http.StatusForbidden, "(label)"},
		{"acme key, TXT change rewriting the SOA's TTL", acme, soaTTL, http.StatusForbidden, "(label)"},
		{"SOA-typed apex key, SOA rewrite", raftfsm.Scope{Suffixes: []string{"example.org."}, Labels: []string{"@", "_acme-challenge.*"}, Types: []string{"SOA", "TXT"}, Actions: []string{ActionUpdate}}, soaFields, http.StatusOK, ""},
		{"acme key of one label, deeper challenge", raftfsm.Scope{Suffixes: []string{"example.org."}, Labels: []string{"_acme-challenge"}, Types: []string{"TXT"}, Actions: []string{ActionUpdate}}, txtCmd, http.StatusForbidden, "(label)"},
		{"acme key, A change", acme, aCmd, http.StatusForbidden, "(label)"},
		{"TXT-only key, A change", raftfsm.Scope{Suffixes: []string{"example.org."}, Types: []string{"TXT"}, Actions: []string{ActionUpdate}}, aCmd, http.StatusForbidden, "(type)"},
		{"www-only key, A change", raftfsm.Scope{Suffixes: []string{"example.org."}, Labels: []string{"www"}, Actions: []string{ActionUpdate}}, aCmd, http.StatusOK, ""},
		{"acme key, A deletion", acme, delCmd, http.StatusForbidden, "(label)"},
		{"www-only key, A deletion", raftfsm.Scope{Suffixes: []string{"example.org."}, Labels: []string{"www"}, Types: []string{"A"}, Actions: []string{ActionUpdate}}, delCmd, http.StatusOK, ""},
		{"read-only key", raftfsm.Scope{Suffixes: []string{"."}, Actions: []string{ActionRead}}, txtCmd, http.StatusForbidden, "(action)"},
		{"other suffix", raftfsm.Scope{Suffixes: []string{"org.example."}, Actions: []string{ActionUpdate}}, txtCmd, http.StatusForbidden, "(suffix)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := f.issue(tc.name, tc.scope, bigLimits, time.Time{})
			r := f.do("POST", "/v1/zones/example.org./changes?dry_run=true", key, tc.cmd)
			want(t, "dry-run change", r, tc.status, "")
			if tc.detail != "" && (r.code() != "out_of_scope" || !bytes.Contains(r.body, []byte(tc.detail))) {
				t.Errorf("answer %s, want out_of_scope %s", r.body, tc.detail)
			}
		})
	}

	// The same attack with a sub-key: the owner (any change) gives a CI
	// job an ACME-scoped sub-key, which then tries the SOA's other fields.
	r := f.do("POST", "/v1/keys", owner, map[string]any{"name": "acme", "scope": map[string]any{"suffixes": []string{"example.org."}, "labels": []string{"_acme-challenge.*"}, "types": []string{"TXT"}, "actions": []string{"update"}}})
	want(t, "owner issues an ACME sub-key", r, http.StatusCreated, "")
	var sub struct {
		Key string `json:"key"`
	}
	r.json(t, &sub)
	for name, cmd := range map[string][]byte{"SOA names": soaFields, "SOA minimum": soaTimers, "SOA TTL": soaTTL, "A record": aCmd} {
		r := f.do("POST", "/v1/zones/example.org./changes?dry_run=true", sub.Key, cmd)
		want(t, "ACME sub-key changing the "+name, r, http.StatusForbidden, "out_of_scope")
	}
	want(t, "ACME sub-key changing its TXT", f.do("POST", "/v1/zones/example.org./changes?dry_run=true", sub.Key, txtCmd), http.StatusOK, "")
}

func TestRateLimits(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.IPLimits = raftfsm.Limits{PerMinute: 60, Burst: 2} })
	key := f.issue("slow", userScope("example.org."), raftfsm.Limits{PerMinute: 60, Burst: 3}, time.Time{})
	for i := 2; i >= 0; i-- {
		r := f.do("GET", "/v1/zones", key, nil)
		want(t, "within burst", r, http.StatusOK, "")
		if got, w := r.header.Get("RateLimit"), fmt.Sprintf(`"default";r=%d;t=%d`, i, 3-i); got != w {
			t.Errorf("RateLimit = %q, want %q", got, w)
		}
		if got := r.header.Get("RateLimit-Policy"); got != `"default";q=3;w=3` {
			t.Errorf("RateLimit-Policy = %q", got)
		}
	}
	r := f.do("GET", "/v1/zones", key, nil)
	want(t, "past the burst", r, http.StatusTooManyRequests, "rate_limited")
	if r.header.Get("Retry-After") != "1" || r.header.Get("RateLimit") != `"default";r=0;t=3` {
		t.Errorf("429 headers: Retry-After %q RateLimit %q", r.header.Get("Retry-After"), r.header.Get("RateLimit"))
	}
	f.b.advance(time.Second)
	want(t, "a second later", f.do("GET", "/v1/zones", key, nil), http.StatusOK, "")
	// Another key has its own bucket.
	want(t, "the admin key", f.do("GET", "/v1/zones", f.admin, nil), http.StatusOK, "")

	// Public endpoints: per client IP.
	want(t, "public 1", f.do("GET", "/v1/health", "", nil), http.StatusOK, "")
	want(t, "public 2", f.do("GET", "/v1/health", "", nil), http.StatusOK, "")
	r = f.do("GET", "/v1/health", "", nil)
	want(t, "public 3", r, http.StatusTooManyRequests, "rate_limited")
	if r.header.Get("Retry-After") == "" {
		t.Error("public 429 without Retry-After")
	}
}

func TestRateLimitTrustProxy(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.IPLimits = raftfsm.Limits{PerMinute: 60, Burst: 1}; o.TrustProxy = true })
	want(t, "client A", f.do("GET", "/v1/health", "", nil, "X-Forwarded-For", "198.51.100.1"), http.StatusOK, "")
	want(t, "client A again", f.do("GET", "/v1/health", "", nil, "X-Forwarded-For", "198.51.100.1"), http.StatusTooManyRequests, "rate_limited")
	want(t, "client B", f.do("GET", "/v1/health", "", nil, "X-Forwarded-For", "198.51.100.2"), http.StatusOK, "")
}

func TestAudit(t *testing.T) {
	f := newFixture(t)
	user := f.issue("user", userScope("example.org."), bigLimits, time.Time{})
	userID, _ := parseKey(user)
	other := f.issue("other", userScope("example.org."), bigLimits, time.Time{})
	tz := newTestZone(t, "example.org.")
	createZone(t, f, user, tz)
	f.b.advance(time.Minute)
	mid := f.b.Now()
	want(t, "forbidden", f.do("GET", "/v1/zones/example.org./export", other, nil), http.StatusOK, "")
	want(t, "no key", f.do("GET", "/v1/zones/example.org./export", "ddnrs_"+userID+"_"+strings.Repeat("A", 43), nil), http.StatusUnauthorized, "unauthenticated")

	var al struct {
		Records []AuditRecord `json:"records"`
	}
	r := f.do("GET", "/v1/audit?zone=example.org.", f.admin, nil)
	want(t, "admin audit", r, http.StatusOK, "")
	r.json(t, &al)
	if len(al.Records) != 3 {
		t.Fatalf("audit for example.org. = %+v, want 3 records", al.Records)
	}
	if a := al.Records[2]; a.KeyID != userID || a.Action != "zones.create" || a.Result != "ok" || a.Status != 201 {
		t.Errorf("oldest record %+v, want the create by %s", a, userID)
	}
	if a := al.Records[0]; a.KeyID != userID || a.Result != "unauthenticated" || a.Status != 401 {
		t.Errorf("newest record %+v, want the failed authentication with %s's id", a, userID)
	}
	r = f.do("GET", "/v1/audit?key="+userID+"&since="+url.QueryEscape(mid.Format(time.RFC3339))+"&limit=1", f.admin, nil)
	al.Records = nil
	r.json(t, &al)
	if len(al.Records) != 1 || al.Records[0].Result != "unauthenticated" {
		t.Errorf("audit since %s limit 1 = %+v", mid, al.Records)
	}
	r = f.do("GET", "/v1/audit?until="+url.QueryEscape(mid.Format(time.RFC3339))+"&zone=example.org.", f.admin, nil)
	al.Records = nil
	r.json(t, &al)
	if len(al.Records) != 1 || al.Records[0].Action != "zones.create" {
		t.Errorf("audit until %s = %+v", mid, al.Records)
	}
	r = f.do("GET", "/v1/audit", user, nil)
	want(t, "own audit", r, http.StatusOK, "")
	al.Records = nil
	r.json(t, &al)
	for _, a := range al.Records {
		if a.KeyID != userID {
			t.Errorf("a user's audit shows %+v", a)
		}
	}
	want(t, "another key's audit", f.do("GET", "/v1/audit?key=0123456789abcdef", user, nil), http.StatusForbidden, "out_of_scope")
	want(t, "bad limit", f.do("GET", "/v1/audit?limit=0", f.admin, nil), http.StatusBadRequest, "invalid_field")
	want(t, "bad since", f.do("GET", "/v1/audit?since=yesterday", f.admin, nil), http.StatusBadRequest, "invalid_field")
}

func TestSuspendAndOwnerKey(t *testing.T) {
	f := newFixture(t)
	user := f.issue("user", userScope("example.org."), bigLimits, time.Time{})
	tz := newTestZone(t, "example.org.")
	createZone(t, f, user, tz)

	want(t, "suspend by a user", f.do("POST", "/v1/zones/example.org./suspend", user, reasonInput{Reason: "abuse"}), http.StatusForbidden, "out_of_scope")
	want(t, "suspend without reason", f.do("POST", "/v1/zones/example.org./suspend", f.admin, reasonInput{}), http.StatusBadRequest, "missing_field")
	want(t, "suspend an unclaimed zone", f.do("POST", "/v1/zones/nothing.org./suspend", f.admin, reasonInput{Reason: "x"}), http.StatusNotFound, "not_found")
	r := f.do("POST", "/v1/zones/example.org./suspend", f.admin, reasonInput{Reason: "abuse"})
	want(t, "suspend", r, http.StatusOK, "")
	if !bytes.Contains(r.body, []byte(`"suspended":true`)) {
		t.Errorf("suspend answered %s", r.body)
	}
	want(t, "unsuspend", f.do("POST", "/v1/zones/example.org./unsuspend", f.admin, reasonInput{Reason: "fixed"}), http.StatusOK, "")

	nk, err := zone.GenerateKey("example.org.", true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	newOwner := nk.DNSKEY.String()
	proof := ed25519.Sign(tz.key.Private, raftfsm.OwnerKeyStatement("example.org.", newOwner, 0))
	forged := ed25519.Sign(nk.Private, raftfsm.OwnerKeyStatement("example.org.", newOwner, 0))
	want(t, "owner key without proof", f.do("POST", "/v1/zones/example.org./owner-key", user, ownerKeyInput{OwnerKey: newOwner}), http.StatusBadRequest, "missing_field")
	want(t, "owner key not a DNSKEY", f.do("POST", "/v1/zones/example.org./owner-key", user, ownerKeyInput{OwnerKey: "example.org. IN A 192.0.2.1", Proof: proof}), http.StatusBadRequest, "invalid_field")
	r = f.do("POST", "/v1/zones/example.org./owner-key", user, ownerKeyInput{OwnerKey: newOwner, Proof: forged})
	want(t, "owner key with a forged proof", r, http.StatusUnprocessableEntity, "rejected")
	if !bytes.Contains(r.body, []byte(`"reason":"bad-proof"`)) {
		t.Errorf("forged proof answered %s", r.body)
	}
	r = f.do("POST", "/v1/zones/example.org./owner-key", user, ownerKeyInput{OwnerKey: newOwner, Proof: proof})
	want(t, "owner key", r, http.StatusOK, "")
	if !bytes.Contains(r.body, []byte(`"generation":1`)) {
		t.Errorf("owner key answered %s", r.body)
	}
	checkLog(t, f, []translog.Kind{translog.KindNodeAdmission, translog.KindRegistration, translog.KindSuspension, translog.KindUnsuspension, translog.KindOwnerKeyChange})
}

// TestCreateRollback checks that a zone the group does not take leaves no
// claim behind.
func TestCreateRollback(t *testing.T) {
	f := newFixture(t)
	user := f.issue("user", userScope("example.org."), bigLimits, time.Time{})
	tz := newTestZone(t, "example.org.")
	f.b.mu.Lock()
	f.b.submitErr = errSubmitFailed
	f.b.mu.Unlock()
	want(t, "create with the group down", f.do("POST", "/v1/zones", user, tz.createBody(t)), http.StatusInternalServerError, "internal")
	want(t, "get", f.do("GET", "/v1/zones/example.org.", user, nil), http.StatusNotFound, "not_found")
	f.b.mu.Lock()
	f.b.submitErr = nil
	f.b.mu.Unlock()
	createZone(t, f, user, tz)
}

// TestNotRegistry checks a node outside the registry group: 503 without
// registry URLs, proxied to the registry with them.
func TestNotRegistry(t *testing.T) {
	reg := newFixture(t)
	key := reg.issue("user", userScope("example.org."), bigLimits, time.Time{})

	alone := newFixture(t)
	alone.b.mu.Lock()
	alone.b.notRegistry = true
	alone.b.mu.Unlock()
	want(t, "no registry", alone.do("GET", "/v1/zones", key, nil), http.StatusServiceUnavailable, "no_registry")
	want(t, "health needs no registry", alone.do("GET", "/v1/health", "", nil), http.StatusOK, "")

	proxied := newFixture(t, func(o *Options) { o.RegistryURLs = []string{reg.srv.URL} })
	proxied.b.mu.Lock()
	proxied.b.notRegistry = true
	proxied.b.mu.Unlock()
	want(t, "proxied", proxied.do("GET", "/v1/zones", key, nil), http.StatusOK, "")
	tz := newTestZone(t, "example.org.")
	createZone(t, proxied, key, tz)
	if _, err := reg.b.Zone(t.Context(), "example.org."); err != nil {
		t.Errorf("the zone created through the proxy is not at the registry: %v", err)
	}
	// A proxied request reaching a non-registry node is not proxied again.
	want(t, "no loop", alone.do("GET", "/v1/zones", key, nil, proxiedHeader, "1"), http.StatusServiceUnavailable, "no_registry")

	if _, err := New(Options{Backend: reg.b, DataDir: t.TempDir(), RegistryURLs: []string{"not a url"}}); err == nil {
		t.Error("New accepted a bad registry URL")
	}
}

// TestDelegation checks a claim inside another key's zone: refused
// without the enclosing owner's delegation, accepted with it.
func TestDelegation(t *testing.T) {
	f := newFixture(t)
	parentKey := f.issue("parent", userScope("example.org."), bigLimits, time.Time{})
	parent := newTestZone(t, "example.org.")
	createZone(t, f, parentKey, parent)

	child := newTestZone(t, "sub.example.org.")
	r := f.do("POST", "/v1/zones", parentKey, child.createBody(t))
	want(t, "child without delegation", r, http.StatusUnprocessableEntity, "rejected")
	if !bytes.Contains(r.body, []byte(`"reason":"delegation-required"`)) {
		t.Errorf("child without delegation answered %s", r.body)
	}
	body := child.createBody(t)
	body["delegation"] = ed25519.Sign(child.key.Private, raftfsm.DelegationStatement(child.origin, child.key.DNSKEY.String()))
	r = f.do("POST", "/v1/zones", parentKey, body)
	want(t, "child with a delegation the child signed", r, http.StatusUnprocessableEntity, "rejected")
	body["delegation"] = ed25519.Sign(parent.key.Private, raftfsm.DelegationStatement(child.origin, child.key.DNSKEY.String()))
	want(t, "child with the parent's delegation", f.do("POST", "/v1/zones", parentKey, body), http.StatusCreated, "")
}

// TestProxyFailover checks that a registry URL that does not answer is
// reported (503 no_registry) and the next request goes to the next URL.
func TestProxyFailover(t *testing.T) {
	reg := newFixture(t)
	key := reg.issue("user", userScope("example.org."), bigLimits, time.Time{})
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	p := newFixture(t, func(o *Options) {
		o.RegistryURLs = []string{deadURL, reg.srv.URL}
		o.IPLimits = raftfsm.Limits{PerMinute: 60, Burst: 3}
	})
	p.b.mu.Lock()
	p.b.notRegistry = true
	p.b.mu.Unlock()
	want(t, "through the dead URL", p.do("GET", "/v1/zones", key, nil), http.StatusServiceUnavailable, "no_registry")
	want(t, "through the next URL", p.do("GET", "/v1/zones", key, nil), http.StatusOK, "")
	// Public requests are limited per client before they are proxied.
	for range 3 {
		want(t, "public through the proxy", p.do("GET", "/v1/log/checkpoint", "", nil), http.StatusOK, "")
	}
	want(t, "public past the proxy's limit", p.do("GET", "/v1/log/checkpoint", "", nil), http.StatusTooManyRequests, "rate_limited")
}

// TestNodeClients checks the per-IP limit for requests from a node of
// the directory (TrustNodeIPs, a plain-HTTP registry): its own (log following) are not limited, those it
// proxies for a client are limited by the client's address.
func TestNodeClients(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.IPLimits = raftfsm.Limits{PerMinute: 60, Burst: 1}; o.TrustNodeIPs = true })
	// The test's requests come from 127.0.0.1: make that a node's address.
	f.b.mustApply(&raftfsm.NodeHeartbeat{Node: raftfsm.NodeRecord{ID: "n2", Group: "g2", API: "127.0.0.1:8053", Seen: f.b.Now()}})
	for i := range 3 {
		r := f.do("GET", "/v1/log/checkpoint", "", nil)
		want(t, fmt.Sprintf("a node's own request %d", i), r, http.StatusOK, "")
		if r.header.Get("RateLimit") != "" {
			t.Errorf("a node's own request has RateLimit %q", r.header.Get("RateLimit"))
		}
	}
	want(t, "client A through the node", f.do("GET", "/v1/log/checkpoint", "", nil, "X-Forwarded-For", "198.51.100.1"), http.StatusOK, "")
	want(t, "client A again", f.do("GET", "/v1/log/checkpoint", "", nil, "X-Forwarded-For", "198.51.100.1"), http.StatusTooManyRequests, "rate_limited")
	want(t, "client B through the node", f.do("GET", "/v1/log/checkpoint", "", nil, "X-Forwarded-For", "198.51.100.2"), http.StatusOK, "")
}

// TestHealthOutsideRegistry: a node outside the registry group answers
// GET /v1/health with the registry's view (through the first registry
// URL that answers), and with its own marked partial when none does.
func TestHealthOutsideRegistry(t *testing.T) {
	reg := newFixture(t)
	hb, err := raftfsm.EncodeCommand(&raftfsm.NodeHeartbeat{Node: raftfsm.NodeRecord{ID: "far", Group: "g2", Seen: reg.b.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.b.ProposeRegistry(t.Context(), hb); err != nil {
		t.Fatal(err)
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	health := func(t *testing.T, f *fixture) Health {
		t.Helper()
		r := f.do("GET", "/v1/health", "", nil)
		want(t, "GET /v1/health", r, http.StatusOK, "")
		var h Health
		if err := json.Unmarshal(r.body, &h); err != nil {
			t.Fatalf("health %s: %v", r.body, err)
		}
		return h
	}
	outside := func(urls ...string) *fixture {
		f := newFixture(t, func(o *Options) { o.RegistryURLs = urls })
		f.b.mu.Lock()
		f.b.notRegistry = true
		f.b.mu.Unlock()
		return f
	}
	for _, tc := range []struct {
		name        string
		f           *fixture
		wantFar     bool
		wantPartial bool
	}{
		{"registry member", reg, true, false},
		{"outside, through the registry", outside(reg.srv.URL), true, false},
		{"outside, a dead URL first", outside(deadURL, reg.srv.URL), true, false},
		{"outside, no registry answers", outside(deadURL), false, true},
		{"outside, no registry URL", outside(), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := health(t, tc.f)
			far := slices.ContainsFunc(h.Nodes, func(n NodeHealth) bool { return n.ID == "far" })
			if far != tc.wantFar || h.Partial != tc.wantPartial {
				t.Errorf("health = %+v; want node far listed %v, partial %v", h, tc.wantFar, tc.wantPartial)
			}
		})
	}
	// A registry's answer is relayed whatever its status (a 429 here);
	// only a registry that cannot be reached is passed over.
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "9")
		writeJSON(w, http.StatusTooManyRequests, errorBody{Error: errorDetail{Code: "rate_limited", Message: "busy"}})
	}))
	t.Cleanup(busy.Close)
	viaBusy := outside(busy.URL, reg.srv.URL)
	for i := range 2 {
		r := viaBusy.do("GET", "/v1/health", "", nil)
		want(t, fmt.Sprintf("health through a busy registry (%d)", i), r, http.StatusTooManyRequests, "rate_limited")
		if r.header.Get("Retry-After") != "9" {
			t.Errorf("relayed 429 has Retry-After %q, want 9", r.header.Get("Retry-After"))
		}
	}
	// The registry's answer says nothing of partial at all.
	if r := reg.do("GET", "/v1/health", "", nil); bytes.Contains(r.body, []byte("partial")) {
		t.Errorf("registry health mentions partial: %s", r.body)
	}
}
