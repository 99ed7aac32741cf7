package api

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"html"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/ddnrs/ddnrs/raftfsm"
)

func TestSealOpen(t *testing.T) {
	const token, id, key = "the-status-token", "0123456789abcdef", "ddnrs_00000000000000c1_secret"
	to, err := sealTo(token)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := sealKey(to, id, key)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(key)) || len(sealed) > raftfsm.MaxSealedKeyBytes {
		t.Fatalf("sealed key of %d bytes holds the key, or is over the bound", len(sealed))
	}
	if got, err := openKey(token, id, sealed); err != nil || got != key {
		t.Fatalf("openKey = %q, %v, want %q", got, err, key)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	for _, tc := range []struct {
		name, token, id string
		sealed          []byte
	}{
		{"wrong token", "another-token", id, sealed},
		{"another application", token, "fedcba9876543210", sealed},
		{"tampered", token, id, flipped},
		{"truncated", token, id, sealed[:40]},
		{"another version", token, id, append([]byte{2}, sealed[1:]...)},
		{"empty", token, id, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := openKey(tc.token, tc.id, tc.sealed); !errors.Is(err, ErrSealedKey) {
				t.Errorf("openKey = %q, %v, want ErrSealedKey", got, err)
			}
		})
	}
}

func FuzzOpenKey(f *testing.F) {
	to, err := sealTo("t")
	if err != nil {
		f.Fatal(err)
	}
	sealed, err := sealKey(to, "id", "k")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("t", sealed)
	f.Fuzz(func(t *testing.T, token string, b []byte) {
		if k, err := openKey(token, "id", b); err == nil && k != "k" {
			t.Fatalf("openKey = %q from bytes that were not sealed", k)
		}
	})
}

// TestCollectKey: the applicant collects the key once with the status
// token; the registry's state machine, its commands (the Raft log), its
// snapshot, its store file and its transparency log never hold it.
func TestCollectKey(t *testing.T) {
	f := newFixture(t)
	good := ApplicationInput{Domains: []string{"example.org"}, Project: "p", Usage: "acme", Responsible: "r", Contact: "c@example.org"}
	r := f.do("POST", "/v1/applications", "", good)
	want(t, "submit", r, http.StatusCreated, "")
	var created struct {
		ID    string `json:"id"`
		Token string `json:"status_token"`
	}
	r.json(t, &created)
	collect := "/v1/applications/" + created.ID + "/collect"
	want(t, "collect before the review", f.do("POST", collect, created.Token, nil), http.StatusConflict, "no_sealed_key")

	r = f.do("POST", "/v1/applications/"+created.ID+"/review", f.admin, ReviewInput{Decision: "approve", Message: "ok"})
	want(t, "approve", r, http.StatusOK, "")
	var res struct {
		Key   string `json:"key"`
		KeyID string `json:"key_id"`
	}
	r.json(t, &res) // the reviewer still sees it: the out-of-band path stays
	var app applicationJSON
	f.do("GET", "/v1/applications/"+created.ID, created.Token, nil).json(t, &app)
	if !app.KeyWaiting || app.Collected != nil {
		t.Errorf("status after approval = %+v, want the key waiting", app)
	}

	want(t, "collect without a token", f.do("POST", collect, "", nil), http.StatusUnauthorized, "unauthenticated")
	want(t, "collect with a wrong token", f.do("POST", collect, "not-the-token", nil), http.StatusUnauthorized, "unauthenticated")
	want(t, "collect with an API key", f.do("POST", collect, f.admin, nil), http.StatusUnauthorized, "unauthenticated")
	want(t, "collect of no application", f.do("POST", "/v1/applications/0000000000000000/collect", created.Token, nil), http.StatusNotFound, "not_found")

	r = f.do("POST", collect, created.Token, nil)
	want(t, "collect", r, http.StatusOK, "")
	var got collectedJSON
	r.json(t, &got)
	if got.Key != res.Key || got.KeyID != res.KeyID || got.ID != created.ID || got.Collected.IsZero() {
		t.Fatalf("collected %+v, want key %s of the approval", got, res.KeyID)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	want(t, "the collected key works", f.do("GET", "/v1/keys/"+got.KeyID, got.Key, nil), http.StatusOK, "")
	want(t, "collect twice", f.do("POST", collect, created.Token, nil), http.StatusGone, "key_collected")
	app = applicationJSON{}
	f.do("GET", "/v1/applications/"+created.ID, created.Token, nil).json(t, &app)
	if app.KeyWaiting || app.Collected == nil {
		t.Errorf("status after the collection = %+v", app)
	}

	// A member's state holds no plaintext: not in any command it
	// applied (its Raft log), its snapshot, its store file, its log.
	for i, cmd := range f.b.applied {
		if bytes.Contains(cmd, []byte(res.Key)) {
			t.Errorf("command %d (type %d) holds the key", i, cmd[0])
		}
	}
	var snap bytes.Buffer
	if err := f.b.fsm.WriteSnapshot(&snap); err != nil {
		t.Fatal(err)
	}
	store, err := os.ReadFile(f.b.storePath)
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := f.b.Registry()
	var leaves []byte
	for i := range reg.LogSize() {
		l, _ := reg.LogEntry(i)
		leaves = append(leaves, l...)
	}
	secret := res.Key[strings.LastIndexByte(res.Key, '_')+1:]
	for what, b := range map[string][]byte{"snapshot": snap.Bytes(), "store file": store, "transparency log": leaves} {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("the %s holds the key's secret", what)
		}
	}
	if a, _ := reg.Application(created.ID); a.SealedKey != nil {
		t.Errorf("the sealed key is still in the state after the collection")
	}
}

// TestCollectKeyUnsealed: an application made before sealing (no seal
// key) is approved as before, the reviewer hands the key over, and there
// is nothing to collect.
func TestCollectKeyUnsealed(t *testing.T) {
	f := newFixture(t)
	f.b.mustApply(&raftfsm.SubmitApplication{App: raftfsm.Application{ID: "00000000000000aa", Submitted: f.b.Now(),
		Domains: []string{"old.example."}, Project: "p", Usage: "u", Responsible: "r", Contact: "c@example.org",
		TokenHash: sha256.Sum256([]byte("old-token")), Status: raftfsm.StatusPending}})
	r := f.do("POST", "/v1/applications/00000000000000aa/review", f.admin, ReviewInput{Decision: "approve"})
	want(t, "approve an unsealed application", r, http.StatusOK, "")
	want(t, "collect", f.do("POST", "/v1/applications/00000000000000aa/collect", "old-token", nil), http.StatusConflict, "no_sealed_key")
}

// TestWebCollectKey: the status page offers the key once; the page that
// shows it is not cached; a second collection says it was collected.
func TestWebCollectKey(t *testing.T) {
	f := newWebFixture(t)
	id, statusPath := f.apply(t, webApplication())
	if r := f.do("POST", "/v1/applications/"+id+"/review", f.admin, ReviewInput{Decision: "approve"}); r.status != http.StatusOK {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	c := f.client(t)
	status, page := f.get(t, c, statusPath)
	if status != http.StatusOK || !strings.Contains(page, `id="collect-form"`) {
		t.Fatalf("status page: %d without the collect form\n%s", status, pageText(page))
	}
	u, _ := url.Parse(statusPath)
	form := url.Values{"id": {id}, "token": {u.Query().Get("token")}}
	resp, page := f.post(t, c, "/apply/collect", form)
	m := regexp.MustCompile(`<code id="api-key">([^<]+)</code>`).FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("POST /apply/collect: %d, cache %q\n%s", resp.StatusCode, resp.Header.Get("Cache-Control"), pageText(page))
	}
	if code, _ := f.get(t, c, "/owner/login"); code != http.StatusOK {
		t.Errorf("owner login page: %d", code)
	}
	if r := f.do("GET", "/v1/keys/"+strings.Split(html.UnescapeString(m[1]), "_")[1], html.UnescapeString(m[1]), nil); r.status != http.StatusOK {
		t.Errorf("the key the page showed does not authenticate: %d", r.status)
	}
	resp, page = f.post(t, c, "/apply/collect", form)
	if resp.StatusCode != http.StatusGone || !strings.Contains(pageText(page), "shown only once") || strings.Contains(page, `id="api-key"`) {
		t.Errorf("second POST /apply/collect: %d\n%s", resp.StatusCode, pageText(page))
	}
	status, page = f.get(t, c, statusPath)
	if status != http.StatusOK || strings.Contains(page, `id="collect-form"`) || !strings.Contains(pageText(page), "you collected it") {
		t.Errorf("status page after the collection: %d\n%s", status, pageText(page))
	}
	form.Set("token", "wrong")
	if resp, page = f.post(t, c, "/apply/collect", form); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /apply/collect with a wrong token: %d\n%s", resp.StatusCode, pageText(page))
	}
}
