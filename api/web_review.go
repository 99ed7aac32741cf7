package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// reviewTypes are the record types offered as checkboxes on the approval
// form; others go in the "other types" field.
var reviewTypes = []string{"A", "AAAA", "CNAME", "TXT", "MX", "NS", "DS", "SRV", "CAA", "HTTPS", "SVCB", "TLSA"}

// reviewStatuses are the application statuses the review list filters on.
var reviewStatuses = []string{"pending", "more_info", "approved", "rejected"}

// loginPage is the data of review_login.html.
type loginPage struct {
	webBase
}

// reviewListPage is the data of review_list.html.
type reviewListPage struct {
	webBase
	Status   string                // filter, "" for all
	Statuses []string              // the choices
	Apps     []raftfsm.Application // one page, newest first
	After    string                // the page starts after this application ("" = the newest)
	Next     string                // the after= of the next (older) page, "" when this is the last
}

// reviewPageSize is the number of applications a review list page shows.
const reviewPageSize = 50

// reviewForm is the approval/decision form as the reviewer typed it.
type reviewForm struct {
	Decision  string
	Message   string
	Suffixes  string
	Labels    string
	Types     []string
	Other     string // more types, space or comma separated
	Actions   []string
	PerMinute string
	Burst     string
	Expires   string // YYYY-MM-DD, "" = never
}

// Has reports whether list holds v (templates tick checkboxes with it).
func (f reviewForm) Has(list []string, v string) bool { return slices.Contains(list, v) }

// reviewPage is the data of review_show.html.
type reviewPage struct {
	webBase
	App     raftfsm.Application
	Form    reviewForm
	Types   []string
	Actions []string
	Key     string // the issued key, shown once after approval
	KeyID   string
}

// reviewerPages is the reviewer console's sign-in.
var reviewerPages = signInPage{path: "/review/login", template: "review_login.html", title: "Error: reviewer sign-in",
	unavailable: "Review unavailable", forbiddenTitle: "Not a reviewer key",
	forbidden: "The key %s lacks the admin action; reviewers sign in with an admin key."}

// reviewer returns the logged-in reviewer's key. When there is none it
// writes the login redirect or an error page (and, for a key that was
// refused, its audit record under action) and returns false.
func (s *Server) reviewer(w http.ResponseWriter, r *http.Request, action string) (raftfsm.APIKey, bool) {
	return s.sessionKey(w, r, action, reviewerPages, requireAdmin)
}

// signInPage says where a kind of web session signs in and what its
// error pages say.
type signInPage struct {
	path, template, title     string // the sign-in form's path and template; its title after an error
	unavailable               string // the title when the key could not be checked
	forbiddenTitle, forbidden string // the page for a key check refuses (403); forbidden has a %s for the key id
}

// sessionKey returns the key of r's session cookie once it authenticates
// and check (nil: none) accepts it. Otherwise it writes the sign-in
// redirect or an error page (and, for a key that was refused, its audit
// record under action) and returns false.
func (s *Server) sessionKey(w http.ResponseWriter, r *http.Request, action string, p signInPage, check func(raftfsm.APIKey) error) (raftfsm.APIKey, bool) {
	c, err := r.Cookie(webCookie)
	if err != nil {
		http.Redirect(w, r, p.path, http.StatusSeeOther)
		return raftfsm.APIKey{}, false
	}
	id, _ := parseKey(c.Value)
	k, err := s.authenticate(r)
	if err == nil && check != nil {
		err = check(k)
	}
	if err == nil {
		return k, true
	}
	status := webStatus(err)
	s.webAudit(id, action, status, err)
	switch status {
	case http.StatusUnauthorized:
		clearKeyCookie(w, r)
		s.render(w, status, p.template, &loginPage{webBase: webBase{Title: p.title,
			Errs: &formErrors{list: []fieldError{{Field: "key", Message: "Your session ended: " + errorMessage(err) + ". Sign in again."}}}}})
	case http.StatusForbidden:
		clearKeyCookie(w, r)
		s.renderMessage(w, status, p.forbiddenTitle, fmt.Sprintf(p.forbidden, id))
	default:
		s.renderMessage(w, status, p.unavailable, errorMessage(err))
	}
	return raftfsm.APIKey{}, false
}

// session returns the webBase of a reviewer's page: their key id and the
// form token tied to their cookie.
func session(r *http.Request, k raftfsm.APIKey, title string) webBase {
	b := webBase{Title: title, Reviewer: k.ID}
	if c, err := r.Cookie(webCookie); err == nil {
		b.CSRF = csrfToken(c.Value)
	}
	return b
}

func clearKeyCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: webCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

func (s *Server) webLoginForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "review_login.html", &loginPage{webBase: webBase{Title: "Reviewer sign-in"}})
}

// webLogin checks the pasted key (it must be an admin key) and keeps it in
// the HttpOnly, SameSite=Strict cookie ddnrs_key for the session.
func (s *Server) webLogin(w http.ResponseWriter, r *http.Request) {
	if s.webLimited(w, r) || !s.parseForm(w, r) {
		return
	}
	key := strings.TrimSpace(r.PostFormValue("key"))
	errs := &formErrors{}
	fail := func(status int) {
		s.render(w, status, "review_login.html", &loginPage{webBase: webBase{Title: "Error: reviewer sign-in", Errs: errs}})
	}
	if key == "" {
		errs.add("key", "Paste your reviewer API key (it starts with ddnrs_).")
		fail(http.StatusUnprocessableEntity)
		return
	}
	id, _ := parseKey(key)
	k, err := s.keyOfForm(r, key)
	if err != nil {
		status := webStatus(err)
		s.webAudit(id, "web.login", status, err)
		errs.add("key", "This key cannot sign in: %s.", errorMessage(err))
		fail(status)
		return
	}
	if err := requireAdmin(k); err != nil {
		s.webAudit(id, "web.login", http.StatusForbidden, err)
		errs.add("key", "The key %s is not a reviewer key: it lacks the admin action.", k.ID)
		fail(http.StatusForbidden)
		return
	}
	s.webAudit(id, "web.login", http.StatusSeeOther, nil)
	setKeyCookie(w, r, key, k)
	http.Redirect(w, r, "/review", http.StatusSeeOther)
}

// keyOfForm authenticates key, pasted into a sign-in form, as if r had
// sent it in its Authorization header.
func (s *Server) keyOfForm(r *http.Request, key string) (raftfsm.APIKey, error) {
	probe := r.Clone(r.Context())
	probe.Header = r.Header.Clone()
	probe.Header.Set("Authorization", "Bearer "+key)
	return s.authenticate(probe)
}

// setKeyCookie starts a web session for key k: the HttpOnly,
// SameSite=Strict cookie ddnrs_key, ending when the key expires.
func setKeyCookie(w http.ResponseWriter, r *http.Request, key string, k raftfsm.APIKey) {
	c := &http.Cookie{Name: webCookie, Value: key, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode}
	if !k.Expires.IsZero() {
		c.Expires = k.Expires
	}
	http.SetCookie(w, c)
}

func (s *Server) webLogout(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	if !checkCSRF(r) {
		s.renderMessage(w, http.StatusForbidden, "Form expired", "The sign-out form did not come from your session. Reload the page and try again.")
		return
	}
	clearKeyCookie(w, r)
	to := "/review/login"
	if r.PostFormValue("next") == "owner" {
		to = "/owner/login" // signed out of the owner pages
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (s *Server) webReviewList(w http.ResponseWriter, r *http.Request) {
	k, ok := s.reviewer(w, r, "web.review.list")
	if !ok {
		return
	}
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains(reviewStatuses, status) {
		s.renderMessage(w, http.StatusBadRequest, "Unknown status", "Filter by one of: "+strings.Join(reviewStatuses, ", ")+".")
		return
	}
	reg, err := s.b.Registry()
	if err != nil {
		s.renderMessage(w, webStatus(err), "Review unavailable", errorMessage(err))
		return
	}
	after := r.URL.Query().Get("after")
	// One more than shown says whether an older page exists.
	apps := reg.ApplicationsPage(raftfsm.ApplicationQuery{Status: status, After: after, Newest: true, Limit: reviewPageSize + 1})
	page := &reviewListPage{webBase: session(r, k, "Applications"), Status: status, Statuses: reviewStatuses, After: after}
	if len(apps) > reviewPageSize {
		apps = apps[:reviewPageSize]
		page.Next = apps[reviewPageSize-1].ID
	}
	page.Apps = apps
	s.webAudit(k.ID, "web.review.list", http.StatusOK, nil)
	s.render(w, http.StatusOK, "review_list.html", page)
}

// application returns application id from the registry, or writes an
// error page.
func (s *Server) application(w http.ResponseWriter, id string) (raftfsm.Application, bool) {
	reg, err := s.b.Registry()
	if err != nil {
		s.renderMessage(w, webStatus(err), "Review unavailable", errorMessage(err))
		return raftfsm.Application{}, false
	}
	app, ok := reg.Application(id)
	if !ok {
		s.renderMessage(w, http.StatusNotFound, "No such application", "There is no application "+id+".")
	}
	return app, ok
}

func (s *Server) webReviewShow(w http.ResponseWriter, r *http.Request) {
	k, ok := s.reviewer(w, r, "web.review.show")
	if !ok {
		return
	}
	app, ok := s.application(w, r.PathValue("id"))
	if !ok {
		return
	}
	s.webAudit(k.ID, "web.review.show", http.StatusOK, nil)
	form := reviewForm{
		Decision: "approve",
		Suffixes: strings.Join(app.Domains, "\n"),
		Actions:  []string{ActionRead, ActionCreate, ActionUpdate, ActionDelete},
	}
	page := &reviewPage{webBase: session(r, k, "Application "+app.ID), App: app, Form: form, Types: reviewTypes, Actions: allActions}
	if r.URL.Query().Get("done") != "" {
		page.Notice = "Decision recorded: " + app.Status + "."
	}
	s.render(w, http.StatusOK, "review_show.html", page)
}

// validateReview checks the decision form and builds the ReviewInput.
func validateReview(f reviewForm, now time.Time) (ReviewInput, *formErrors) {
	errs := &formErrors{}
	in := ReviewInput{Decision: f.Decision, Message: strings.TrimSpace(f.Message)}
	var scope ScopeInput
	var limits LimitsInput
	switch f.Decision {
	case "approve":
	case "more_info":
		if in.Message == "" {
			errs.add("message", "Say what more information the applicant should give.")
		}
	case "reject":
		if in.Message == "" {
			errs.add("message", "Give the reason for the rejection; the applicant reads it.")
		}
	default:
		errs.add("decision-approve", "Choose approve, ask for more information, or reject.")
	}
	if len(in.Message) > maxFieldChars {
		errs.add("message", "Keep the message under %d bytes.", maxFieldChars)
	}
	if f.Decision != "approve" {
		return in, errs
	}
	in.Scope, in.Limits = &scope, &limits
	for _, line := range strings.Fields(f.Suffixes) {
		if line == "." {
			scope.Suffixes = append(scope.Suffixes, ".")
			continue
		}
		if _, ok := dns.IsDomainName(line); !ok || strings.ContainsAny(line, "*@/") {
			errs.add("suffixes", "%q is not a zone suffix: give domain names, one per line, or . for every zone.", line)
			continue
		}
		scope.Suffixes = append(scope.Suffixes, zone.CanonicalName(line))
	}
	if len(scope.Suffixes) == 0 && errs.Of("suffixes") == "" {
		errs.add("suffixes", "Give at least one zone suffix the key may act on (the applied domains are the default).")
	}
	for _, l := range strings.Fields(f.Labels) {
		if err := raftfsm.CheckLabelPattern(l); err != nil || strings.ContainsAny(l, "/\\") || len(l) > 253 {
			errs.add("labels", "%q is not a label pattern: use names relative to the zone, * for one label, ** for one or more, @ for the apex, like _acme-challenge and _acme-challenge.**.", l)
			continue
		}
		scope.Labels = append(scope.Labels, strings.ToLower(l))
	}
	types := slices.Clone(f.Types)
	types = append(types, strings.FieldsFunc(f.Other, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })...)
	for _, t := range types {
		t = strings.ToUpper(t)
		if _, ok := dns.StringToType[t]; !ok {
			errs.add("types-other", "%q is not a DNS record type.", t)
			continue
		}
		if !slices.Contains(scope.Types, t) {
			scope.Types = append(scope.Types, t)
		}
	}
	for _, a := range f.Actions {
		if !slices.Contains(allActions, a) {
			errs.add("action-read", "%q is not an action.", a)
			continue
		}
		scope.Actions = append(scope.Actions, a)
	}
	if len(scope.Actions) == 0 && errs.Of("action-read") == "" {
		errs.add("action-read", "Tick at least one action; read alone makes a read-only key.")
	}
	number := func(field, v string, dst *uint32) {
		v = strings.TrimSpace(v)
		if v == "" {
			return
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n > 1_000_000 {
			errs.add(field, "%q is not a whole number from 0 to 1000000 (0 or empty: the default).", v)
			return
		}
		*dst = uint32(n)
	}
	number("per-minute", f.PerMinute, &limits.PerMinute)
	number("burst", f.Burst, &limits.Burst)
	if e := strings.TrimSpace(f.Expires); e != "" {
		t, err := time.Parse("2006-01-02", e)
		switch {
		case err != nil:
			errs.add("expires", "%q is not a date like 2027-12-31.", e)
		case !t.After(now):
			errs.add("expires", "The expiry date %s has passed; give a later one or leave it empty for a key that does not expire.", e)
		default:
			in.Expires = &t
		}
	}
	return in, errs
}

func (s *Server) webReviewDecide(w http.ResponseWriter, r *http.Request) {
	k, ok := s.reviewer(w, r, "web.review.decide")
	if !ok {
		return
	}
	if !s.parseForm(w, r) {
		return
	}
	if !checkCSRF(r) {
		s.renderMessage(w, http.StatusForbidden, "Form expired", "The review form did not come from your session, so nothing was done. Reload the application and decide again.")
		return
	}
	app, ok := s.application(w, r.PathValue("id"))
	if !ok {
		return
	}
	f := reviewForm{
		Decision:  r.PostFormValue("decision"),
		Message:   r.PostFormValue("message"),
		Suffixes:  r.PostFormValue("suffixes"),
		Labels:    r.PostFormValue("labels"),
		Types:     r.PostForm["types"],
		Other:     r.PostFormValue("types-other"),
		Actions:   r.PostForm["actions"],
		PerMinute: r.PostFormValue("per-minute"),
		Burst:     r.PostFormValue("burst"),
		Expires:   r.PostFormValue("expires"),
	}
	in, errs := validateReview(f, s.b.Now())
	page := &reviewPage{webBase: session(r, k, "Application "+app.ID), App: app, Form: f, Types: reviewTypes, Actions: allActions}
	page.Errs = errs
	if errs.Any() {
		page.Title = "Error: application " + app.ID
		s.render(w, http.StatusUnprocessableEntity, "review_show.html", page)
		return
	}
	key, err := s.review(r.Context(), k, app.ID, in)
	s.webAudit(k.ID, "web.review.decide", webStatusOK(err), err)
	if err != nil {
		var fe *FieldError
		field := "decision-approve"
		if errors.As(err, &fe) {
			field = webReviewField(fe.Field)
		}
		errs.add(field, "The decision was not recorded: %s", errorMessage(err))
		page.Title = "Error: application " + app.ID
		s.render(w, webStatus(err), "review_show.html", page)
		return
	}
	if key == "" {
		http.Redirect(w, r, "/review/"+app.ID+"?done=1", http.StatusSeeOther)
		return
	}
	if a, ok := s.application(w, app.ID); ok {
		page.App = a
	} else {
		return
	}
	page.Key, page.KeyID = key, page.App.KeyID
	page.Notice = "Approved. The key below is shown once: copy it to the applicant now."
	if len(page.App.SealedKey) > 0 {
		page.Notice = "Approved. The applicant collects the key once from their status page; the key below is shown once, in case you hand it over yourself."
	}
	s.render(w, http.StatusOK, "review_key.html", page)
}

// webReviewField maps an API field name of a review to the input id of
// the form.
func webReviewField(f string) string {
	switch {
	case strings.Contains(f, "suffix"):
		return "suffixes"
	case strings.Contains(f, "label"):
		return "labels"
	case strings.Contains(f, "type"):
		return "types-other"
	case strings.Contains(f, "action"):
		return "action-read"
	case strings.Contains(f, "per_minute"):
		return "per-minute"
	case strings.Contains(f, "burst"):
		return "burst"
	case strings.Contains(f, "expires"):
		return "expires"
	case f == "message":
		return "message"
	}
	return "decision-approve"
}

// webAudit writes the audit record of a keyed request to the web pages
// (sign-in and the review console), as the /v1 wrapper does for keyed
// requests. Nothing is written without a key id (no well-formed key).
func (s *Server) webAudit(keyID, action string, status int, err error) {
	if keyID == "" {
		return
	}
	res := "ok"
	if err != nil {
		_, d := errorCode(err)
		res = d.Code
	}
	rec := AuditRecord{Time: s.b.Now().UTC(), KeyID: keyID, Action: action, Result: res, Status: status}
	if aerr := s.audit.add(rec); aerr != nil {
		s.log.Error("audit record lost", "err", aerr, "key", keyID, "action", action)
	}
}

// webStatusOK is webStatus, or 200 for no error.
func webStatusOK(err error) int {
	if err == nil {
		return http.StatusOK
	}
	return webStatus(err)
}
