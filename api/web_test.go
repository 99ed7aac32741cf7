package api

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/translog"
)

// webFixture is A's fixture (a Server over a real FSM, with an admin key)
// plus a key without the admin action.
type webFixture struct {
	*fixture
	readOnly string
}

func newWebFixture(t *testing.T) *webFixture {
	t.Helper()
	f := newFixture(t)
	ro := f.issue("reader", raftfsm.Scope{Suffixes: []string{"."}, Actions: []string{ActionRead}}, raftfsm.Limits{}, time.Time{})
	return &webFixture{fixture: f, readOnly: ro}
}

// client returns a browser-like client: a cookie jar, no redirects
// followed (tests look at them).
func (f *webFixture) client(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// get fetches path and returns the status and body.
func (f *webFixture) get(t *testing.T, c *http.Client, path string) (int, string) {
	t.Helper()
	resp, err := c.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	return webRead(t, resp)
}

// post sends a form and returns the response (body read into the string).
func (f *webFixture) post(t *testing.T, c *http.Client, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(f.srv.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	_, body := webRead(t, resp)
	return resp, body
}

func webRead(t *testing.T, resp *http.Response) (int, string) {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// text is a page's visible text, roughly: tags dropped, entities decoded,
// spaces collapsed, so tests can look for sentences.
func pageText(page string) string {
	s := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(page, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

func webApplication() url.Values {
	return url.Values{
		"domains":     {"Example.org\n\nmytld\n"},
		"project":     {"A test project run by the tests."},
		"usage":       {"TXT records for ACME challenges, a few changes a day."},
		"responsible": {"Ada Lovelace"},
		"contact":     {"ada@example.org"},
	}
}

// apply submits an application through the form and returns its id and
// status URL path.
func (f *webFixture) apply(t *testing.T, form url.Values) (id, statusPath string) {
	t.Helper()
	resp, body := f.post(t, f.client(t), "/apply", form)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /apply: %d\n%s", resp.StatusCode, pageText(body))
	}
	m := regexp.MustCompile(`id="status-link" href="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no status link on the page:\n%s", body)
	}
	statusPath = html.UnescapeString(m[1])
	u, err := url.Parse(statusPath)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("id"), statusPath
}

// login signs c in with key and returns the CSRF token of its session.
func (f *webFixture) login(t *testing.T, c *http.Client, key string) string {
	t.Helper()
	resp, body := f.post(t, c, "/review/login", url.Values{"key": {key}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/review" {
		t.Fatalf("login: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), pageText(body))
	}
	status, page := f.get(t, c, "/review")
	if status != http.StatusOK {
		t.Fatalf("GET /review after login: %d\n%s", status, pageText(page))
	}
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf token on /review:\n%s", page)
	}
	return html.UnescapeString(m[1])
}

func TestWebApplyValidation(t *testing.T) {
	f := newWebFixture(t)
	with := func(field, value string) url.Values {
		v := webApplication()
		v.Set(field, value)
		return v
	}
	tests := []struct {
		name  string
		form  url.Values
		field string // input id the message is tied to
		want  string // part of the message
	}{
		{"empty domains", with("domains", " \n "), "domains", "List at least one domain"},
		{"bad domain", with("domains", "ok.example\nnot a domain!"), "domains", `Line 2, "not a domain!", is not a domain name`},
		{"wildcard", with("domains", "*.example.org"), "domains", "is not a domain name"},
		{"duplicate", with("domains", "a.example\nA.example."), "domains", "a.example. is listed twice"},
		{"too many", with("domains", strings.Repeat("x.example\n", 1)+webManyDomains(maxDomains+1)), "domains", "at most 20 domains"},
		{"no project", with("project", "  "), "project", "Describe the project"},
		{"long usage", with("usage", strings.Repeat("u", maxFieldChars+1)), "usage", "Keep this under 4000 bytes"},
		{"no responsible", with("responsible", ""), "responsible", "Name the person responsible"},
		{"no contact", with("contact", ""), "contact", "Give a contact"},
		{"bad contact", with("contact", "call me maybe"), "contact", "is neither an email address"},
		{"http contact", with("contact", "http://example.org"), "contact", "is neither an email address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.post(t, f.client(t), "/apply", tc.form)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422\n%s", resp.StatusCode, pageText(body))
			}
			// The message is next to the field and in the summary, which
			// links to the field.
			if !strings.Contains(pageText(body), tc.want) {
				t.Errorf("page lacks %q:\n%s", tc.want, pageText(body))
			}
			if !strings.Contains(body, `id="`+tc.field+`-error"`) || !strings.Contains(body, `href="#`+tc.field+`"`) {
				t.Errorf("no error next to #%s or no summary link to it", tc.field)
			}
			if !strings.Contains(body, `aria-invalid="true"`) {
				t.Error("the invalid input is not marked aria-invalid")
			}
			// What the applicant typed comes back.
			for _, k := range []string{"responsible", "contact"} {
				if v := tc.form.Get(k); v != "" && !strings.Contains(body, `value="`+html.EscapeString(v)+`"`) {
					t.Errorf("%s %q not kept in the form", k, v)
				}
			}
			if v := tc.form.Get("project"); strings.TrimSpace(v) != "" && !strings.Contains(body, html.EscapeString(v)) {
				t.Error("project not kept in the form")
			}
			if n := len(f.b.fsm.Registry().Applications()); n != 0 {
				t.Errorf("%d applications recorded, want none", n)
			}
		})
	}
}

func webManyDomains(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("d")
		b.WriteString(strings.Repeat("x", i%5+1))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(".example\n")
	}
	return b.String()
}

func TestWebApplyAndStatus(t *testing.T) {
	f := newWebFixture(t)
	id, statusPath := f.apply(t, webApplication())
	app, ok := f.b.fsm.Registry().Application(id)
	if !ok {
		t.Fatalf("application %s not in the registry", id)
	}
	if got := strings.Join(app.Domains, " "); got != "example.org. mytld." {
		t.Errorf("domains %q, want canonical example.org. mytld.", got)
	}
	c := f.client(t)
	status, page := f.get(t, c, statusPath)
	if status != http.StatusOK || !strings.Contains(pageText(page), "Status pending") {
		t.Fatalf("status page: %d\n%s", status, pageText(page))
	}
	// The token is the only key to the page.
	u, _ := url.Parse(statusPath)
	q := u.Query()
	q.Set("token", "wrong"+q.Get("token"))
	if status, page := f.get(t, c, "/apply/status?"+q.Encode()); status != http.StatusUnauthorized {
		t.Errorf("wrong token: %d, want 401\n%s", status, pageText(page))
	}
	if status, _ := f.get(t, c, "/apply/status?id="+id); status != http.StatusBadRequest {
		t.Errorf("no token: %d, want 400", status)
	}
}

func TestWebLogin(t *testing.T) {
	f := newWebFixture(t)
	tests := []struct {
		name   string
		key    string
		status int
		want   string
	}{
		{"empty", "", http.StatusUnprocessableEntity, "Paste your reviewer API key"},
		{"malformed", "hello", http.StatusUnauthorized, "This key cannot sign in"},
		{"unknown", "ddnrs_0123456789abcdef_" + strings.Repeat("A", 43), http.StatusUnauthorized, "unknown key"},
		{"not admin", f.readOnly, http.StatusForbidden, "is not a reviewer key: it lacks the admin action"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.post(t, f.client(t), "/review/login", url.Values{"key": {tc.key}})
			if resp.StatusCode != tc.status || !strings.Contains(pageText(body), tc.want) {
				t.Errorf("%d, want %d with %q:\n%s", resp.StatusCode, tc.status, tc.want, pageText(body))
			}
			if len(resp.Cookies()) != 0 {
				t.Errorf("cookie set for a refused key: %v", resp.Cookies())
			}
		})
	}
	t.Run("admin", func(t *testing.T) {
		resp, _ := f.post(t, f.client(t), "/review/login", url.Values{"key": {f.admin}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("status %d, want 303", resp.StatusCode)
		}
		var c *http.Cookie
		for _, k := range resp.Cookies() {
			if k.Name == webCookie {
				c = k
			}
		}
		if c == nil || c.Value != f.admin || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
			t.Errorf("cookie %+v, want ddnrs_key HttpOnly SameSite=Strict Path=/", c)
		}
	})
}

func TestWebReviewNeedsReviewer(t *testing.T) {
	f := newWebFixture(t)
	id, _ := f.apply(t, webApplication())
	c := f.client(t)
	for _, p := range []string{"/review", "/review/" + id} {
		resp, err := c.Get(f.srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		webRead(t, resp)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/review/login" {
			t.Errorf("GET %s without a session: %d %q, want 303 to /review/login", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	// A non-admin key put in the cookie by hand is refused too.
	u, _ := url.Parse(f.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: webCookie, Value: f.readOnly}})
	status, page := f.get(t, c, "/review/"+id)
	if status != http.StatusForbidden || !strings.Contains(pageText(page), "lacks the admin action") {
		t.Errorf("read-only key: %d\n%s", status, pageText(page))
	}
	// The refusal cleared the cookie; put it back for a forged post.
	c.Jar.SetCookies(u, []*http.Cookie{{Name: webCookie, Value: f.readOnly}})
	form := url.Values{"csrf": {csrfToken(f.readOnly)}, "decision": {"reject"}, "message": {"no"}}
	if resp, _ := f.post(t, c, "/review/"+id, form); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST with a read-only key: %d, want 403", resp.StatusCode)
	}
	if app, _ := f.b.fsm.Registry().Application(id); app.Status != "pending" {
		t.Errorf("status %q after a refused review, want pending", app.Status)
	}
}

func TestWebReviewCSRF(t *testing.T) {
	f := newWebFixture(t)
	id, _ := f.apply(t, webApplication())
	c := f.client(t)
	token := f.login(t, c, f.admin)
	other := csrfToken(f.readOnly) // a token of another session
	for _, tok := range []string{"", "x", other, token + "x"} {
		form := url.Values{"csrf": {tok}, "decision": {"reject"}, "message": {"spam"}}
		resp, body := f.post(t, c, "/review/"+id, form)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(pageText(body), "did not come from your session") {
			t.Errorf("csrf %q: %d\n%s", tok, resp.StatusCode, pageText(body))
		}
	}
	if resp, _ := f.post(t, c, "/review/logout", url.Values{"csrf": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout with a bad token: %d, want 403", resp.StatusCode)
	}
	if app, _ := f.b.fsm.Registry().Application(id); app.Status != "pending" {
		t.Fatalf("status %q after forged posts, want pending", app.Status)
	}
	// With the session's token the decision is recorded.
	resp, body := f.post(t, c, "/review/"+id, url.Values{"csrf": {token}, "decision": {"reject"}, "message": {"spam"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reject: %d\n%s", resp.StatusCode, pageText(body))
	}
	if app, _ := f.b.fsm.Registry().Application(id); app.Status != "rejected" || app.Message != "spam" {
		t.Errorf("application %+v, want rejected with the reason", app)
	}
	// Logout clears the cookie.
	resp, _ = f.post(t, c, "/review/logout", url.Values{"csrf": {token}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %d", resp.StatusCode)
	}
	if resp, err := c.Get(f.srv.URL + "/review"); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after logout /review: %v %v, want a redirect to sign in", resp.StatusCode, err)
	}
}

func TestWebReviewValidation(t *testing.T) {
	f := newWebFixture(t)
	id, _ := f.apply(t, webApplication())
	c := f.client(t)
	token := f.login(t, c, f.admin)
	approve := func(kv ...string) url.Values {
		v := url.Values{"csrf": {token}, "decision": {"approve"}, "suffixes": {"example.org\nmytld"}, "actions": {"read"}}
		for i := 0; i < len(kv); i += 2 {
			v[kv[i]] = []string{kv[i+1]}
			if kv[i+1] == "" { // as a browser sends an empty choice: not at all
				delete(v, kv[i])
			}
		}
		return v
	}
	tests := []struct {
		name  string
		form  url.Values
		field string
		want  string
	}{
		{"no decision", approve("decision", ""), "decision-approve", "Choose approve"},
		{"more info without message", approve("decision", "more_info"), "message", "Say what more information"},
		{"reject without reason", approve("decision", "reject"), "message", "Give the reason"},
		{"no suffix", approve("suffixes", " "), "suffixes", "at least one zone suffix"},
		{"bad suffix", approve("suffixes", "exa mple..org"), "suffixes", "is not a zone suffix"},
		{"bad label", approve("labels", "[x"), "labels", "is not a label pattern"},
		{"bad type", approve("types-other", "TXT NOPE"), "types-other", `"NOPE" is not a DNS record type`},
		{"no action", approve("actions", ""), "action-read", "Tick at least one action"},
		{"bad action", approve("actions", "root"), "action-read", `"root" is not an action`},
		{"bad rate", approve("per-minute", "-1"), "per-minute", "is not a whole number"},
		{"bad burst", approve("burst", "lots"), "burst", "is not a whole number"},
		{"bad expiry", approve("expires", "31/12/2027"), "expires", "is not a date like"},
		{"past expiry", approve("expires", "2020-01-01"), "expires", "has passed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.post(t, c, "/review/"+id, tc.form)
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(pageText(body), tc.want) {
				t.Fatalf("%d, want 422 with %q:\n%s", resp.StatusCode, tc.want, pageText(body))
			}
			if !strings.Contains(body, `href="#`+tc.field+`"`) {
				t.Errorf("the summary does not link to #%s", tc.field)
			}
			if v := tc.form.Get("suffixes"); strings.TrimSpace(v) != "" && !strings.Contains(body, html.EscapeString(v)) {
				t.Errorf("suffixes %q not kept", v)
			}
		})
	}
	if app, _ := f.b.fsm.Registry().Application(id); app.Status != "pending" {
		t.Errorf("status %q, want pending", app.Status)
	}
}

func TestWebApproveShowsKeyOnce(t *testing.T) {
	f := newWebFixture(t)
	id, statusPath := f.apply(t, webApplication())
	c := f.client(t)
	token := f.login(t, c, f.admin)
	status, page := f.get(t, c, "/review/"+id)
	if status != http.StatusOK {
		t.Fatalf("GET /review/%s: %d", id, status)
	}
	// The suffixes default to the applied domains.
	if !strings.Contains(page, ">example.org.\nmytld.</textarea>") {
		t.Errorf("suffixes do not default to the domains:\n%s", page)
	}
	form := url.Values{"csrf": {token}, "decision": {"approve"}, "suffixes": {"example.org."}, "labels": {"_acme-challenge.*"},
		"types": {"TXT"}, "types-other": {"caa"}, "actions": {"read", "create", "update"}, "per-minute": {"30"}, "burst": {"5"}, "expires": {"2027-06-30"}}
	resp, body := f.post(t, c, "/review/"+id, form)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("approve: %d\n%s", resp.StatusCode, pageText(body))
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the page with the key may be cached: Cache-Control %q", cc)
	}
	m := regexp.MustCompile(`id="issued-key" class="key">([^<]+)<`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no key on the page:\n%s", body)
	}
	key := m[1]
	app, _ := f.b.fsm.Registry().Application(id)
	if app.Status != "approved" || app.KeyID == "" {
		t.Fatalf("application %+v, want approved with a key", app)
	}
	k, ok := f.b.fsm.Registry().Key(app.KeyID)
	if !ok {
		t.Fatalf("key %s not in the registry", app.KeyID)
	}
	want := raftfsm.Scope{Suffixes: []string{"example.org."}, Labels: []string{"_acme-challenge.*"}, Types: []string{"TXT", "CAA"}, Actions: []string{"read", "create", "update"}}
	if strings.Join(k.Scope.Suffixes, ",") != strings.Join(want.Suffixes, ",") || strings.Join(k.Scope.Labels, ",") != strings.Join(want.Labels, ",") ||
		strings.Join(k.Scope.Types, ",") != strings.Join(want.Types, ",") || strings.Join(k.Scope.Actions, ",") != strings.Join(want.Actions, ",") {
		t.Errorf("scope %+v, want %+v", k.Scope, want)
	}
	if k.Limits != (raftfsm.Limits{PerMinute: 30, Burst: 5}) || !k.Expires.Equal(time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("limits %+v expires %v", k.Limits, k.Expires)
	}
	// The key works against the REST API.
	req, _ := http.NewRequest("GET", f.srv.URL+"/v1/applications/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if st, b := webRead(t, r2); st == http.StatusUnauthorized {
		t.Errorf("the issued key is not accepted: %s", b)
	}
	// No page shows it again.
	for _, p := range []string{"/review/" + id, "/review", statusPath} {
		if _, page := f.get(t, c, p); strings.Contains(page, key) {
			t.Errorf("%s shows the key again", p)
		}
	}
	if _, page := f.get(t, c, statusPath); !strings.Contains(pageText(page), "Status approved") {
		t.Errorf("status page does not say approved:\n%s", pageText(page))
	}
	// A closed application takes no second decision.
	resp, body = f.post(t, c, "/review/"+id, url.Values{"csrf": {token}, "decision": {"reject"}, "message": {"late"}})
	if resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusOK {
		t.Errorf("second decision on a closed application: %d\n%s", resp.StatusCode, pageText(body))
	}
}

func TestWebEscapesUserInput(t *testing.T) {
	f := newWebFixture(t)
	evil := `<script>alert("x")</script><img src=x onerror=alert(1)>`
	form := webApplication()
	form.Set("project", evil)
	form.Set("usage", evil)
	form.Set("responsible", `"><script>alert(2)</script>`)
	id, statusPath := f.apply(t, form)
	c := f.client(t)
	f.login(t, c, f.admin)
	// An invalid form echoes the input back: escaped too.
	bad := webApplication()
	bad.Set("domains", evil)
	bad.Set("contact", `"><script>alert(3)</script>`)
	_, badPage := f.post(t, f.client(t), "/apply", bad)
	pages := map[string]string{"apply with errors": badPage}
	for _, p := range []string{statusPath, "/review", "/review/" + id} {
		_, pages[p] = f.get(t, c, p)
	}
	for name, page := range pages {
		if strings.Contains(page, "<script") || strings.Contains(page, "<img") {
			t.Errorf("%s: user input not escaped:\n%s", name, page)
		}
		if !strings.Contains(page, "&lt;script&gt;") {
			t.Errorf("%s: the escaped input is missing", name)
		}
	}
	// Pages send a CSP that forbids scripts anyway.
	resp, err := c.Get(f.srv.URL + statusPath)
	if err != nil {
		t.Fatal(err)
	}
	webRead(t, resp)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
}

// heartbeat adds node id to the directory: one node-admission log entry.
func (f *webFixture) heartbeat(t *testing.T, id, group string) {
	t.Helper()
	cmd, err := raftfsm.EncodeCommand(&raftfsm.NodeHeartbeat{Node: raftfsm.NodeRecord{ID: id, Group: group, DNS: "127.0.0.1:53", Seen: f.b.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.b.ProposeRegistry(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
}

func TestWebLog(t *testing.T) {
	f := newWebFixture(t)
	c := f.client(t)
	// The fixture's directory holds node n1: entry 0.
	const n = logPageSize + 4
	for i := range n {
		f.heartbeat(t, "node"+string(rune('a'+i%26))+strings.Repeat("x", i/26), "g1")
	}
	status, page := f.get(t, c, "/log")
	if status != http.StatusOK {
		t.Fatalf("/log: %d", status)
	}
	if !strings.Contains(page, `id="log-size">30<`) || !strings.Contains(page, `href="/log/29"`) || !strings.Contains(page, `href="/log/5"`) ||
		strings.Contains(page, `href="/log/4"`) || !strings.Contains(page, `href="/log?before=5"`) {
		t.Errorf("first page should hold entries 29..5 and link to the older ones:\n%s", pageText(page))
	}
	if strings.Index(page, `href="/log/29"`) > strings.Index(page, `href="/log/28"`) {
		t.Error("entries are not newest first")
	}
	if !strings.Contains(page, "— "+translog.DefaultOrigin) {
		t.Errorf("no signed checkpoint on the page")
	}
	_, older := f.get(t, c, "/log?before=5")
	if !strings.Contains(older, `href="/log/0"`) || strings.Contains(older, `href="/log/5"`) || !strings.Contains(older, `href="/log?before=30"`) {
		t.Errorf("older page:\n%s", pageText(older))
	}
	for _, p := range []string{"/log?before=31", "/log?before=x"} {
		if status, _ := f.get(t, c, p); status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", p, status)
		}
	}
	for _, i := range []string{"0", "17", "29"} {
		status, page := f.get(t, c, "/log/"+i)
		if status != http.StatusOK || !strings.Contains(pageText(page), "Verified: the inclusion proof") || !strings.Contains(pageText(page), "Kind node-admission") {
			t.Errorf("/log/%s: %d\n%s", i, status, pageText(page))
		}
	}
	for p, want := range map[string]int{"/log/30": http.StatusNotFound, "/log/-1": http.StatusBadRequest} {
		if status, _ := f.get(t, c, p); status != want {
			t.Errorf("%s: %d, want %d", p, status, want)
		}
	}
}

func TestWebHealthAndIndex(t *testing.T) {
	f := newWebFixture(t)
	f.heartbeat(t, "<b>n2</b>", "g1")
	c := f.client(t)
	status, page := f.get(t, c, "/health")
	txt := pageText(page)
	if status != http.StatusOK || !strings.Contains(txt, "g1 n1 1 1 0 yes") || !strings.Contains(txt, "n1 g1 eu healthy 0 0 2026-11-27 12:00:00 UTC") ||
		!strings.Contains(txt, "<b>n2</b> g1") || strings.Contains(page, "<b>n2") {
		t.Errorf("/health: %d\n%s", status, txt)
	}
	status, page = f.get(t, c, "/")
	if status != http.StatusOK || !strings.Contains(page, `<html lang="en">`) || !strings.Contains(page, `href="/apply"`) {
		t.Errorf("/: %d\n%s", status, page)
	}
	resp, err := c.Get(f.srv.URL + "/static/style.css")
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := webRead(t, resp); st != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("style.css: %d %s", st, resp.Header.Get("Content-Type"))
	}
}

// TestWebPagesAccessible checks every page template for the basics: one
// h1, a label for every input, no input without an id.
func TestWebPagesAccessible(t *testing.T) {
	f := newWebFixture(t)
	id, statusPath := f.apply(t, webApplication())
	f.heartbeat(t, "n1", "g1")
	c := f.client(t)
	f.login(t, c, f.admin)
	_, errPage := f.post(t, f.client(t), "/apply", url.Values{})
	pages := map[string]string{"/apply (errors)": errPage}
	for _, p := range []string{"/", "/apply", statusPath, "/review/login", "/review", "/review/" + id, "/log", "/log/0", "/health"} {
		status, page := f.get(t, c, p)
		if status != http.StatusOK {
			t.Errorf("%s: %d", p, status)
		}
		pages[p] = page
	}
	inputRe := regexp.MustCompile(`<(input|textarea|select)\b[^>]*>`)
	idRe := regexp.MustCompile(`\bid="([^"]+)"`)
	for p, page := range pages {
		if n := strings.Count(page, "<h1"); n != 1 {
			t.Errorf("%s: %d h1 headings, want 1", p, n)
		}
		if !strings.Contains(page, `<html lang="en">`) {
			t.Errorf("%s: no lang", p)
		}
		for _, in := range inputRe.FindAllString(page, -1) {
			if strings.Contains(in, `type="hidden"`) {
				continue
			}
			m := idRe.FindStringSubmatch(in)
			if m == nil {
				t.Errorf("%s: input without id: %s", p, in)
				continue
			}
			if !strings.Contains(page, `<label for="`+m[1]+`"`) {
				t.Errorf("%s: no label for #%s", p, m[1])
			}
		}
	}
}

func TestWebMoreInfoAndAudit(t *testing.T) {
	f := newWebFixture(t)
	id, statusPath := f.apply(t, webApplication())
	c := f.client(t)
	token := f.login(t, c, f.admin)
	resp, body := f.post(t, c, "/review/"+id, url.Values{"csrf": {token}, "decision": {"more_info"}, "message": {"Which <zones> exactly?"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("more_info: %d\n%s", resp.StatusCode, pageText(body))
	}
	_, page := f.get(t, c, resp.Header.Get("Location"))
	if !strings.Contains(pageText(page), "Decision recorded: more_info") {
		t.Errorf("no confirmation after the decision:\n%s", pageText(page))
	}
	_, page = f.get(t, f.client(t), statusPath)
	if txt := pageText(page); !strings.Contains(txt, "Status more_info") || !strings.Contains(txt, "Which <zones> exactly?") ||
		!strings.Contains(txt, "submit an updated application") {
		t.Errorf("status page after more_info:\n%s", txt)
	}
	// A refused sign-in and the reviewer's actions are in the audit log.
	f.post(t, f.client(t), "/review/login", url.Values{"key": {f.readOnly}})
	recs, err := f.s.audit.query(AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range recs {
		got[r.Action+" "+r.Result] = true
	}
	for _, w := range []string{"web.login ok", "web.login out_of_scope", "web.review.list ok", "web.review.decide ok"} {
		if !got[w] {
			t.Errorf("no audit record %q in %v", w, got)
		}
	}
}

func TestWebFormRateLimit(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.IPLimits = raftfsm.Limits{PerMinute: 1, Burst: 2} })
	wf := &webFixture{fixture: f}
	c := wf.client(t)
	for i, want := range []int{http.StatusUnprocessableEntity, http.StatusUnprocessableEntity, http.StatusTooManyRequests} {
		resp, body := wf.post(t, c, "/apply", url.Values{})
		if resp.StatusCode != want {
			t.Fatalf("post %d: %d, want %d\n%s", i, resp.StatusCode, want, pageText(body))
		}
		if want == http.StatusTooManyRequests && (resp.Header.Get("Retry-After") == "" || !strings.Contains(pageText(body), "Wait")) {
			t.Errorf("429 without Retry-After or advice: %v\n%s", resp.Header, pageText(body))
		}
	}
	// Reading pages is not limited by the form bucket.
	if status, _ := wf.get(t, c, "/apply"); status != http.StatusOK {
		t.Errorf("GET /apply after the limit: %d", status)
	}
}

func TestWebOutsideRegistry(t *testing.T) {
	reg := newWebFixture(t)
	reg.heartbeat(t, "n2", "g2")
	// A node outside the registry group with a registry URL shows the
	// registry's pages through the proxy; without one it says why not.
	proxied := newFixture(t, func(o *Options) { o.RegistryURLs = []string{reg.srv.URL} })
	alone := newFixture(t)
	for _, f := range []*fixture{proxied, alone} {
		f.b.mu.Lock()
		f.b.notRegistry = true
		f.b.mu.Unlock()
	}
	p := &webFixture{fixture: proxied}
	status, page := p.get(t, p.client(t), "/log/1")
	if status != http.StatusOK || !strings.Contains(pageText(page), "Verified") || !strings.Contains(page, "n2") {
		t.Errorf("proxied /log/1: %d\n%s", status, pageText(page))
	}
	id, _ := p.apply(t, webApplication())
	if _, ok := reg.b.fsm.Registry().Application(id); !ok {
		t.Errorf("application sent through the proxy is not in the registry")
	}
	a := &webFixture{fixture: alone}
	status, page = a.get(t, a.client(t), "/log")
	if status != http.StatusServiceUnavailable || !strings.Contains(pageText(page), "not in the registry group") {
		t.Errorf("/log without a registry: %d\n%s", status, pageText(page))
	}
	// The health dashboard is the local node's, proxy or not.
	if status, _ := a.get(t, a.client(t), "/health"); status != http.StatusOK {
		t.Errorf("/health without a registry: %d", status)
	}
}

// TestWebReviewPaged: the review console lists applications newest first,
// reviewPageSize a page, with a link to the next (older) page and back to
// the newest; following the links lists each application once.
func TestWebReviewPaged(t *testing.T) {
	f := newWebFixture(t)
	const n = reviewPageSize + 7
	for i := range n {
		f.b.mustApply(&raftfsm.SubmitApplication{App: raftfsm.Application{ID: fmt.Sprintf("app%03d", i), Submitted: f.b.Now().Add(time.Duration(i) * time.Second),
			Domains: []string{"example.org."}, Project: "p", Usage: "u", Responsible: "r", Contact: "c@example.org", Status: raftfsm.StatusPending}})
	}
	c := f.client(t)
	f.login(t, c, f.admin)
	row := regexp.MustCompile(`<th scope="row"><a href="/review/(app\d+)">`)
	next := regexp.MustCompile(`rel="next" href="([^"]+)"`)
	var got []string
	path := "/review"
	for pages := 0; path != ""; pages++ {
		if pages > 3 {
			t.Fatal("more pages than applications")
		}
		status, page := f.get(t, c, path)
		if status != http.StatusOK {
			t.Fatalf("GET %s = %d", path, status)
		}
		rows := row.FindAllStringSubmatch(page, -1)
		if len(rows) > reviewPageSize {
			t.Fatalf("GET %s lists %d applications, want at most %d", path, len(rows), reviewPageSize)
		}
		for _, r := range rows {
			got = append(got, r[1])
		}
		if newest := strings.Contains(page, `href="/review">Newest</a>`); newest != (pages > 0) {
			t.Errorf("GET %s: a link to the newest page %v, want %v", path, newest, pages > 0)
		}
		path = ""
		if m := next.FindStringSubmatch(page); m != nil {
			path = html.UnescapeString(m[1])
		}
	}
	if len(got) != n || got[0] != fmt.Sprintf("app%03d", n-1) || got[n-1] != "app000" {
		t.Errorf("pages list %d applications, first %v last %v; want %d, newest first", len(got), got[:1], got[len(got)-1:], n)
	}
}
