package api

import (
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// applyMaxLine bounds the one-line fields of the application form
// (responsible, contact); the others are bounded by maxFieldChars, the
// list of domains by maxDomains (service.go).
const applyMaxLine = 300

// applyForm is what the applicant typed, kept as typed so that a form with
// errors comes back filled in.
type applyForm struct {
	Domains     string
	Project     string
	Usage       string
	Responsible string
	Contact     string
}

// applyPage is the data of apply.html.
type applyPage struct {
	webBase
	Form applyForm
}

// applySubmittedPage is the data of apply_submitted.html: the only page
// that shows the status token.
type applySubmittedPage struct {
	webBase
	ID        string
	StatusURL string
}

// statusPage is the data of apply_status.html. Token is the status
// token, for the form that collects the key (the page was opened with
// it).
type statusPage struct {
	webBase
	App   raftfsm.Application
	Token string
}

// collectedPage is the data of apply_collected.html: the only page that
// shows the API key.
type collectedPage struct {
	webBase
	App raftfsm.Application
	Key string
}

func (s *Server) webApplyForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "apply.html", &applyPage{webBase: webBase{Title: "Apply for access"}})
}

// validateApplication checks every field of the form and returns the
// domains in canonical form.
func validateApplication(f applyForm) ([]string, *formErrors) {
	errs := &formErrors{}
	var domains []string
	seen := map[string]bool{}
	for i, line := range strings.Split(f.Domains, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if _, ok := dns.IsDomainName(line); !ok || strings.Trim(line, ".") == "" || len(line) > 253 || strings.ContainsAny(line, " \t*@/") {
			errs.add("domains", "Line %d, %q, is not a domain name or TLD: use letters, digits and hyphens in dot-separated labels, like example.org or mytld.", i+1, line)
			continue
		}
		name := zone.CanonicalName(line)
		if seen[name] {
			errs.add("domains", "%s is listed twice.", name)
			continue
		}
		seen[name] = true
		domains = append(domains, name)
	}
	switch {
	case len(domains) == 0 && errs.Of("domains") == "":
		errs.add("domains", "List at least one domain or custom TLD, one per line.")
	case len(domains) > maxDomains:
		errs.add("domains", "List at most %d domains; apply again for more.", maxDomains)
	}
	text := func(field, value, empty string, max int) {
		v := strings.TrimSpace(value)
		switch {
		case v == "":
			errs.add(field, "%s", empty)
		case len(v) > max:
			errs.add(field, "Keep this under %d bytes (it has %d).", max, len(v))
		case !utf8.ValidString(v):
			errs.add(field, "This contains bytes that are not UTF-8 text.")
		}
	}
	text("project", f.Project, "Describe the project: what it is and who runs it.", maxFieldChars)
	text("usage", f.Usage, "Say how the project will use DDNRS: which zones, which record types, how often they change.", maxFieldChars)
	text("responsible", f.Responsible, "Name the person responsible for integration and operations.", applyMaxLine)
	text("contact", f.Contact, "Give a contact: an email address or an https:// URL.", applyMaxLine)
	if c := strings.TrimSpace(f.Contact); c != "" && errs.Of("contact") == "" && !validContact(c) {
		errs.add("contact", "%q is neither an email address (name@example.org) nor an https:// URL.", c)
	}
	return domains, errs
}

// validContact accepts an email address or an https URL with a host.
func validContact(c string) bool {
	if strings.HasPrefix(c, "https://") {
		u, err := url.Parse(c)
		return err == nil && u.Host != ""
	}
	a, err := mail.ParseAddress(c)
	return err == nil && a.Address == c && strings.Contains(a.Address[strings.LastIndexByte(a.Address, '@')+1:], ".")
}

func (s *Server) webApplySubmit(w http.ResponseWriter, r *http.Request) {
	if s.webLimited(w, r) || !s.parseForm(w, r) {
		return
	}
	f := applyForm{
		Domains:     r.PostFormValue("domains"),
		Project:     r.PostFormValue("project"),
		Usage:       r.PostFormValue("usage"),
		Responsible: r.PostFormValue("responsible"),
		Contact:     r.PostFormValue("contact"),
	}
	domains, errs := validateApplication(f)
	page := &applyPage{webBase: webBase{Title: "Apply for access", Errs: errs}, Form: f}
	if errs.Any() {
		page.Title = "Error: apply for access"
		s.render(w, http.StatusUnprocessableEntity, "apply.html", page)
		return
	}
	id, token, err := s.submitApplication(r.Context(), clientKey(s.clientIP(r)), ApplicationInput{
		Domains:     domains,
		Project:     strings.TrimSpace(f.Project),
		Usage:       strings.TrimSpace(f.Usage),
		Responsible: strings.TrimSpace(f.Responsible),
		Contact:     strings.TrimSpace(f.Contact),
	})
	if err != nil {
		errs.add("domains", "The application was not accepted: %s", errorMessage(err))
		page.Title = "Error: apply for access"
		s.render(w, webStatus(err), "apply.html", page)
		return
	}
	q := url.Values{"id": {id}, "token": {token}}
	s.render(w, http.StatusCreated, "apply_submitted.html", &applySubmittedPage{
		webBase:   webBase{Title: "Application received"},
		ID:        id,
		StatusURL: "/apply/status?" + q.Encode(),
	})
}

func (s *Server) webApplyStatus(w http.ResponseWriter, r *http.Request) {
	id, token := r.URL.Query().Get("id"), r.URL.Query().Get("token")
	if id == "" || token == "" {
		s.renderMessage(w, http.StatusBadRequest, "Missing application id or token",
			"Open the status link you were given when you applied; it carries both the application id and its token.")
		return
	}
	app, err := s.applicationStatus(r.Context(), id, token)
	if err != nil {
		s.renderMessage(w, webStatus(err), "Application status unavailable", errorMessage(err))
		return
	}
	w.Header().Set("Referrer-Policy", "no-referrer") // the URL carries the token
	s.render(w, http.StatusOK, "apply_status.html", &statusPage{webBase: webBase{Title: "Application status"}, App: app, Token: token})
}

// webApplyCollect shows the applicant the key sealed to their status
// token, once (Server.collectKey): the form on the status page posts the
// application id and token here.
func (s *Server) webApplyCollect(w http.ResponseWriter, r *http.Request) {
	if s.webLimited(w, r) || !s.parseForm(w, r) {
		return
	}
	id, token := r.PostFormValue("id"), r.PostFormValue("token")
	if id == "" || token == "" {
		s.renderMessage(w, http.StatusBadRequest, "Missing application id or token",
			"Collect the key from the status page of your application: open the status link you were given when you applied.")
		return
	}
	key, app, err := s.collectKey(r.Context(), id, token)
	if err != nil {
		msg := errorMessage(err)
		var rej *raftfsm.RejectedError
		if errors.As(err, &rej) && rej.Reason == raftfsm.ReasonKeyCollected {
			msg += ". If you lost it, ask the registry's reviewers to revoke key " + app.KeyID + " and issue you a new one."
		}
		s.renderMessage(w, webStatus(err), "The API key cannot be collected", msg)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.render(w, http.StatusOK, "apply_collected.html", &collectedPage{webBase: webBase{Title: "Your API key"}, App: app, Key: key})
}
