package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserBound bounds the whole browser test: at the deadline the
// allocator's context ends, which kills Chromium.
const browserBound = 4 * time.Minute

// browserStep bounds one step (a page load, a click and its navigation).
const browserStep = 30 * time.Second

// reviewerKeyRe finds the reviewer key `ddnrs dev` prints at first start.
var reviewerKeyRe = regexp.MustCompile(`ddnrs_[0-9a-f]{16}_[A-Za-z0-9_-]{43}`)

// artifactsDir is where the browser test saves its screenshots: $DDNRS_ARTIFACTS,
// or <repo>/artifacts/browser.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("DDNRS_ARTIFACTS")
	if dir == "" {
		wd, err := os.Getwd() // the package directory, integration/
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(filepath.Dir(wd), "artifacts", "browser")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is one headless Chromium tab owned by a test.
type browser struct {
	t     *testing.T
	ctx   context.Context // the tab's context; steps derive bounded ones
	dir   string          // screenshots
	shots int
}

// startBrowser starts Debian's chromium headless (skipping the test when
// it is not installed, failing under CI) and stops it in t.Cleanup.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	exe := needTool(t, "chromium", "chromium")
	parent, cancelParent := context.WithTimeout(context.Background(), browserBound)
	var out syncBuffer
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // tests run as root in containers
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 900),
		chromedp.CombinedOutput(&out),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent, opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // kills Chromium and waits for it
		cancelParent()
		if t.Failed() {
			t.Logf("chromium output:\n%s", out.String())
		}
	})
	// The first Run starts the browser; it must not carry a step timeout
	// (that would stop the browser), the allocator's bound holds it.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, dir: artifactsDir(t)}
}

// do runs actions under the step bound and saves a screenshot named
// after the step.
func (b *browser) do(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.shot(name + "-failed")
		b.t.Fatalf("browser step %s: %v", name, err)
	}
	b.shot(name)
}

// submit clicks a form's button and waits for the page it loads; the
// answer's status must be want.
func (b *browser) submit(name, button string, want int) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(button)))
	if err != nil {
		b.shot(name + "-failed")
		b.t.Fatalf("browser step %s: %v", name, err)
	}
	b.shot(name)
	if int(resp.Status) != want {
		b.t.Fatalf("browser step %s: HTTP %d, want %d\n%s", name, resp.Status, want, b.text("main"))
	}
}

// text returns the visible text of the first element sel matches.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// value returns the value of the form control sel matches.
func (b *browser) value(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("value of %s: %v", sel, err)
	}
	return s
}

// attr returns attribute name of the first element sel matches.
func (b *browser) attr(sel, name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil || !v.Exists {
		b.t.Fatalf("attribute %s of %s: %v", name, sel, err)
	}
	return v.Value
}

// html returns the outer HTML of the first element sel matches.
func (b *browser) html(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("html of %s: %v", sel, err)
	}
	return s
}

// shot saves a full-page PNG screenshot as NN-name.png and logs its path.
func (b *browser) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.shots++
	p := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.shots, name))
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatalf("saving screenshot: %v", err)
	}
	b.t.Logf("screenshot: %s", p)
}

// waitReviewerKey waits (bounded) for the reviewer key `ddnrs dev` prints.
func waitReviewerKey(t *testing.T, d *devNode) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if k := reviewerKeyRe.FindString(d.out.String()); k != "" {
			return k
		}
		if d.exited() || time.Now().After(deadline) {
			t.Fatalf("ddnrs dev printed no reviewer key (ddnrs_...):\n%s", d.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBrowserRegistryFlow drives the web pages of a real `ddnrs dev` in
// headless Chromium: an application submitted through /apply, approved by
// the reviewer dev printed a key for, the key (shown once) used with the
// REST API to create a signed zone, and the zone's registration found in
// the transparency-log browser with its inclusion proof verified.
func TestBrowserRegistryFlow(t *testing.T) {
	needBinary(t)
	b := startBrowser(t)
	// Port 0, read back from the ready file: a free port picked here
	// could be taken on 127.0.0.1 by another test package's listener
	// before dev binds it.
	data := t.TempDir()
	d := startDev(t, data, "--api", "127.0.0.1:0")
	base := d.ready.API
	if !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":0") {
		t.Fatalf("ready file api = %q, want the bound http://127.0.0.1:PORT", base)
	}
	admin := waitReviewerKey(t, d)
	const domain = "browser-flow.example."

	// 1. The application form, filled in and sent.
	b.do("apply-form",
		chromedp.Navigate(base+"/apply"),
		chromedp.WaitVisible(chromedp.ID("domains")),
		chromedp.SendKeys(chromedp.ID("domains"), strings.TrimSuffix(domain, ".")),
		chromedp.SendKeys(chromedp.ID("project"), "The browser test's project."),
		chromedp.SendKeys(chromedp.ID("usage"), "One zone with a few A and TXT records."),
		chromedp.SendKeys(chromedp.ID("responsible"), "Grace Hopper"),
		chromedp.SendKeys(chromedp.ID("contact"), "grace@example.org"),
	)
	b.submit("apply-submitted", `form[action="/apply"] button[type="submit"]`, http.StatusCreated)
	statusURL := b.attr("#status-link", "href")
	m := regexp.MustCompile(`[?&]id=([0-9a-f]+)`).FindStringSubmatch(statusURL)
	if m == nil {
		t.Fatalf("status link %q has no application id", statusURL)
	}
	appID := m[1]

	// 2. The applicant's status page.
	b.do("apply-status", chromedp.Navigate(resolveURL(base, statusURL)), chromedp.WaitVisible(chromedp.ID("status")))
	if s := b.text("#status"); s != "pending" {
		t.Fatalf("status %q, want pending", s)
	}

	// 3. The reviewer signs in with the key dev printed and approves.
	b.do("review-login", chromedp.Navigate(base+"/review/login"), chromedp.SendKeys(chromedp.ID("key"), admin))
	b.submit("review-list", `form[action="/review/login"] button[type="submit"]`, http.StatusOK)
	if !strings.Contains(b.text("main"), appID) {
		t.Fatalf("application %s not in the review list:\n%s", appID, b.text("main"))
	}
	b.do("review-application", chromedp.Navigate(base+"/review/"+appID), chromedp.WaitVisible(chromedp.ID("decision-approve")))
	if v := b.value("#suffixes"); !strings.Contains(v, domain) {
		t.Errorf("suffixes %q do not default to the applied domain", v)
	}
	b.submit("review-approved", `form[action="/review/`+appID+`"] button[type="submit"]`, http.StatusOK)
	issued := b.text("#issued-key") // the reviewer may still hand it over
	if !reviewerKeyRe.MatchString(issued) {
		t.Fatalf("issued key %q is not a key", issued)
	}
	if s := b.text("#key-sealed"); !strings.Contains(s, "collects this key once") {
		t.Errorf("the approval page does not say the applicant collects the key: %q", s)
	}

	// 3b. The applicant collects the key once from the status page: it
	// was sealed to the status token at approval.
	b.do("apply-status-approved", chromedp.Navigate(resolveURL(base, statusURL)), chromedp.WaitVisible(chromedp.ID("collect")))
	if s := b.text("#status"); s != "approved" {
		t.Fatalf("status %q, want approved", s)
	}
	b.submit("apply-key-collected", `#collect-form button[type="submit"]`, http.StatusOK)
	key := b.text("#api-key")
	if key != issued {
		t.Fatalf("collected key %q, want the key issued at approval", key)
	}
	// No member keeps it: not its Raft log (raft/raft.db), its snapshots,
	// its zone and registry store, nor anything else in its data directory.
	secret := key[strings.LastIndexByte(key, '_')+1:]
	err := filepath.WalkDir(data, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), secret) {
			t.Errorf("%s holds the collected key's secret", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.text("#next-steps"), "ddnrs zone keygen "+domain) {
		t.Errorf("the key's page lacks the next steps:\n%s", b.text("main"))
	}
	b.do("apply-status-collected", chromedp.Navigate(resolveURL(base, statusURL)), chromedp.WaitVisible(chromedp.ID("status")))
	if m := b.text("main"); strings.Contains(m, "Show my API key") || !strings.Contains(m, "you collected it") {
		t.Errorf("status page after the collection:\n%s", m)
	}
	token := regexp.MustCompile(`[?&]token=([^&]+)`).FindStringSubmatch(statusURL)
	if token == nil {
		t.Fatalf("status link %q has no token", statusURL)
	}
	tok, err := url.QueryUnescape(token[1])
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+"/v1/applications/"+appID+"/collect", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone {
		t.Errorf("a second collection: %s, want 410 Gone", resp.Status)
	}

	// 4. The applicant makes an owner key and creates the zone with the
	// CLI and the key (no cluster certificate).
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "api-key")
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	ownerKey := keygen(t, dir, domain)
	zf := filepath.Join(dir, "zone")
	if err := os.WriteFile(zf, []byte("$ORIGIN "+domain+"\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := runCmd(t, dir, ddnrsBin, "zone", "publish", "--api", base, "--api-key-file", keyFile, "--key", ownerKey, zf)
	t.Logf("ddnrs zone publish --api: %s", strings.TrimSpace(out))

	// 5. The registration is in the transparency log, with a proof that
	// verifies against the signed checkpoint.
	b.do("log", chromedp.Navigate(base+"/log"), chromedp.WaitVisible(chromedp.ID("log-size")))
	table := b.html("main table")
	row := regexp.MustCompile(`<a href="/log/(\d+)">\d+</a></th>\s*<td>registration</td>\s*<td>[^<]*</td>\s*<td><code>` + regexp.QuoteMeta(domain) + `</code>`).FindStringSubmatch(table)
	if row == nil {
		t.Fatalf("no registration of %s in the log browser:\n%s", domain, b.text("main"))
	}
	b.do("log-entry", chromedp.Navigate(base+"/log/"+row[1]), chromedp.WaitVisible(chromedp.ID("proof-result")))
	if r := b.text("#proof-result"); !strings.HasPrefix(r, "Verified") {
		t.Errorf("inclusion proof of entry %s: %q", row[1], r)
	}
	if z := b.text("#entry-zone"); z != domain {
		t.Errorf("entry zone %q, want %s", z, domain)
	}
	if k := b.text("#entry-kind"); k != "registration" {
		t.Errorf("entry kind %q, want registration", k)
	}

	// 6. The owner signs in with the key and finds the zone, its serial
	// and when its signatures expire, and its records.
	b.do("owner-login", chromedp.Navigate(base+"/owner/login"), chromedp.SendKeys(chromedp.ID("key"), key))
	b.submit("owner-zones", `form[action="/owner/login"] button[type="submit"]`, http.StatusOK)
	if z := b.text("#zones"); !strings.Contains(z, domain) || !strings.Contains(z, "UTC") {
		t.Errorf("owner page lacks %s with its signature expiry:\n%s", domain, b.text("main"))
	}
	b.do("owner-zone", chromedp.Navigate(base+"/owner/zones/"+domain), chromedp.WaitVisible(chromedp.ID("records")))
	if r := b.text("#records"); !strings.Contains(r, "192.0.2.10") {
		t.Errorf("owner zone page lacks www's address:\n%s", r)
	}

	// 6b. The owner gives a CI job a narrower key of its own with the
	// CLI, and finds it on the owner page beside the key's audit records
	// of the issue.
	out = runCmd(t, dir, ddnrsBin, "key", "issue", "--api", base, "--api-key-file", keyFile, "--name", "ci-job", "--suffix", domain, "--actions", "read")
	sub := strings.TrimSpace(out)
	subID := strings.SplitN(strings.TrimPrefix(sub, "ddnrs_"), "_", 2)[0]
	b.do("owner-subkeys", chromedp.Navigate(base+"/owner"), chromedp.WaitVisible(chromedp.ID("subkeys")))
	if k := b.text("#subkeys"); !strings.Contains(k, subID) || !strings.Contains(k, "ci-job") || !strings.Contains(k, "live") {
		t.Errorf("owner page lacks the sub-key %s:\n%s", subID, b.text("main"))
	}
	if a := b.text("#audit"); !strings.Contains(a, "keys.issue") || !strings.Contains(a, subID) {
		t.Errorf("owner page's audit lacks the sub-key's issue:\n%s", a)
	}

	// 7. The health dashboard lists dev's group as the registry.
	b.do("health", chromedp.Navigate(base+"/health"), chromedp.WaitVisible(chromedp.CSS("main table")))
	if h := b.text("main"); !strings.Contains(h, "yes") || !strings.Contains(h, "healthy") {
		t.Errorf("health page shows no registry group or no healthy node:\n%s", h)
	}
	// The zone was signed for 30 days: nothing to flag.
	if e := b.text("#no-expiring"); !strings.Contains(e, "No zone of this node's group has signatures expiring") {
		t.Errorf("health page's expiring signatures: %q\n%s", e, b.text("main"))
	}
}

// resolveURL makes a path from a page absolute.
func resolveURL(base, ref string) string {
	if strings.HasPrefix(ref, "http://") || strings.HasPrefix(ref, "https://") {
		return ref
	}
	return base + ref
}
