package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The web pages are server-rendered HTML (html/template escapes every value
// put into them) with one stylesheet and no JavaScript. Each page is
// templates/layout.html plus one page template that defines "title" and
// "content".

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/*
var staticFS embed.FS

// webCookie names the cookie that carries a reviewer's API key in the
// browser (HttpOnly, SameSite=Strict); authenticate reads it.
const webCookie = "ddnrs_key"

// webMaxForm bounds the body of every form post.
const webMaxForm = 64 << 10

// webPages are the parsed page templates by file name; parsed once, read
// only afterwards.
var webPages = parseWebPages()

// webFuncs are the helper functions the page templates call.
var webFuncs = template.FuncMap{
	"fmtTime": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"join": strings.Join,
	"hex":  func(b [32]byte) string { return hex.EncodeToString(b[:]) },
	"b64":  func(b []byte) string { return base64.StdEncoding.EncodeToString(b) },
}

func parseWebPages() map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := make(map[string]*template.Template)
	for _, n := range names {
		name := strings.TrimPrefix(n, "templates/")
		if name == "layout.html" {
			continue
		}
		pages[name] = template.Must(template.New(name).Funcs(webFuncs).ParseFS(templateFS, "templates/layout.html", n))
	}
	return pages
}

// webRoutes registers the server-rendered web pages on mux: the
// application form and status page, the review console, the
// transparency-log browser and the health dashboard. routes calls it.
func (s *Server) webRoutes(mux *http.ServeMux) {
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embedded directory exists: go:embed checked it
	}
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.web(s.webIndex, false))
	mux.HandleFunc("GET /apply", s.web(s.webApplyForm, false))
	mux.HandleFunc("POST /apply", s.web(s.webApplySubmit, true))
	mux.HandleFunc("GET /apply/status", s.web(s.webApplyStatus, true))
	mux.HandleFunc("POST /apply/collect", s.web(s.webApplyCollect, true))
	mux.HandleFunc("GET /review/login", s.web(s.webLoginForm, false))
	mux.HandleFunc("POST /review/login", s.web(s.webLogin, true))
	mux.HandleFunc("POST /review/logout", s.web(s.webLogout, false))
	mux.HandleFunc("GET /review", s.web(s.webReviewList, true))
	mux.HandleFunc("GET /review/{id}", s.web(s.webReviewShow, true))
	mux.HandleFunc("POST /review/{id}", s.web(s.webReviewDecide, true))
	mux.HandleFunc("GET /log", s.web(s.webLog, true))
	mux.HandleFunc("GET /log/{index}", s.web(s.webLogEntry, true))
	mux.HandleFunc("GET /health", s.web(s.webHealth, false))
	mux.HandleFunc("GET /owner/login", s.web(s.webOwnerLoginForm, false))
	mux.HandleFunc("POST /owner/login", s.web(s.webOwnerLogin, true))
	mux.HandleFunc("GET /owner", s.web(s.webOwner, true))
	mux.HandleFunc("GET /owner/zones/{zone}", s.web(s.webOwnerZone, true))
}

// web wraps a page handler: the request deadline, and for pages that read
// the registry (registry true) on a node outside the registry group, the
// same reverse proxy to a registry URL the /v1 registry endpoints use.
func (s *Server) web(h http.HandlerFunc, registry bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.opt.RequestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		if registry && len(s.proxies) > 0 && r.Header.Get(proxiedHeader) == "" {
			if _, err := s.b.Registry(); errors.Is(err, ErrNotRegistry) {
				s.proxy(w, r)
				return
			}
		}
		h(w, r)
	}
}

// webLimited takes a token from the client IP's bucket (the one the
// unauthenticated /v1 endpoints use) for a form post that anyone can
// send; when the bucket is empty it writes a 429 page and returns true.
func (s *Server) webLimited(w http.ResponseWriter, r *http.Request) bool {
	d := s.ips.take(clientKey(s.clientIP(r)), s.opt.IPLimits.PerMinute, s.opt.IPLimits.Burst, s.b.Now())
	if d.ok {
		return false
	}
	d.setHeaders(w.Header())
	secs := ceilSeconds(d.retryAfter)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.renderMessage(w, http.StatusTooManyRequests, "Too many requests",
		"This address sent too many forms. Wait "+strconv.Itoa(secs)+" seconds, then send the form again.")
	return true
}

// webBase is what every page template reads besides its own data.
type webBase struct {
	Title    string
	Errs     *formErrors
	Notice   string // a one-line confirmation shown at the top
	Reviewer string // the logged-in reviewer key's id, "" if none
	Owner    string // the key id signed in on the owner pages, "" if none
	CSRF     string // the form token for the logged-in reviewer
}

// base returns the common part of a page's data.
func (b *webBase) base() *webBase { return b }

// webData is implemented by every page's data (through webBase).
type webData interface{ base() *webBase }

// formErrors collects the problems found in a submitted form, each tied to
// the id of the input it is about, in the order found.
type formErrors struct {
	list []fieldError
}

// fieldError is one problem with one input.
type fieldError struct {
	Field   string // the input's id
	Message string
}

// add records a problem with field; the first one per field is kept.
func (f *formErrors) add(field, format string, args ...any) {
	if f.Of(field) != "" {
		return
	}
	f.list = append(f.list, fieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Of returns the problem with field, "" if none (templates call it).
func (f *formErrors) Of(field string) string {
	if f == nil {
		return ""
	}
	for _, e := range f.list {
		if e.Field == field {
			return e.Message
		}
	}
	return ""
}

// List returns every problem in the order found.
func (f *formErrors) List() []fieldError {
	if f == nil {
		return nil
	}
	return f.list
}

// Any reports whether there is a problem.
func (f *formErrors) Any() bool { return f != nil && len(f.list) > 0 }

// render writes page with status. The page is executed into a buffer first,
// so a template error is a clean 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, status int, page string, data webData) {
	t, ok := webPages[page]
	if !ok {
		http.Error(w, "no such page template: "+page, http.StatusInternalServerError)
		return
	}
	if data.base().Errs == nil {
		data.base().Errs = &formErrors{}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		http.Error(w, "rendering "+page+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// messagePage is the data of message.html: a heading and a paragraph,
// for errors and simple outcomes.
type messagePage struct {
	webBase
	Heading  string
	Message  string
	Link     string // where to go next, "" for none
	LinkText string
}

// renderMessage renders a heading and one paragraph with status.
func (s *Server) renderMessage(w http.ResponseWriter, status int, heading, msg string) {
	s.render(w, status, "message.html", &messagePage{webBase: webBase{Title: heading}, Heading: heading, Message: msg, Link: "/", LinkText: "Home"})
}

// csrfToken derives the form token of a reviewer session from its cookie
// value: only a page served to the holder of the cookie (HttpOnly, so no
// script reads it) can carry it, and it says nothing about the key.
func csrfToken(cookie string) string {
	sum := sha256.Sum256([]byte("ddnrs-web-csrf/1\x00" + cookie))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// checkCSRF reports whether the form's csrf field matches the session
// cookie of r.
func checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(webCookie)
	if err != nil || c.Value == "" {
		return false
	}
	got := r.PostFormValue("csrf")
	want := csrfToken(c.Value)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// parseForm bounds and parses a form post; false means an error page was
// written.
func (s *Server) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, webMaxForm)
	if err := r.ParseForm(); err != nil {
		s.renderMessage(w, http.StatusBadRequest, "The form could not be read", "The form was too large or malformed: "+err.Error())
		return false
	}
	return true
}

// webIndex says what DDNRS is and links to the other pages.
func (s *Server) webIndex(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "index.html", &webBase{Title: "DDNRS registry"})
}

// webStatus is the HTTP status of a page that shows err.
func webStatus(err error) int {
	status, _ := errorCode(err)
	return status
}
