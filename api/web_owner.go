package api

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// The owner pages: signed in with any API key (kept in the same HttpOnly,
// SameSite=Strict cookie as a reviewer's), a zone owner sees the zones the
// key may read with their serial, group and signature expiry, a zone's
// records, the key's own scope and limits, and the audit records of the
// key. They read only; writes go through the REST API and the CLI.

// ownerZone is one row of the owner's zone list.
type ownerZone struct {
	Zone, Group      string
	KeyTag           uint16
	Serial           uint32
	Suspended        bool
	SignaturesExpire time.Time // zero when unknown
	ExpiresSoon      bool      // within ownerExpiryWarning
	Err              string    // the group's copy could not be read
	// TornDown is the deadline of an ephemeral zone's lease; zero for a
	// permanent zone.
	TornDown time.Time
}

// ownerExpiryWarning flags a zone whose first signature expires sooner:
// a third of the 30-day default validity, when 'ddnrs zone keep-signed'
// re-signs.
const ownerExpiryWarning = 10 * 24 * time.Hour

type ownerPage struct {
	webBase
	Key     raftfsm.APIKey
	Zones   []ownerZone
	SubKeys []raftfsm.APIKey // every key below Key
	Audit   []AuditRecord    // of Key and its sub-keys, newest first
	Zone    *ownerZone
	RRsets  []rrsetJSON
}

// ownerPages is the owner pages' sign-in.
var ownerPages = signInPage{path: "/owner/login", template: "owner_login.html", title: "Error: sign in",
	unavailable: "Owner pages unavailable", forbiddenTitle: "Key refused", forbidden: "The key %s may not sign in."}

// owner returns the signed-in key, or writes the sign-in redirect or an
// error page and returns false.
func (s *Server) owner(w http.ResponseWriter, r *http.Request, action string) (raftfsm.APIKey, bool) {
	return s.sessionKey(w, r, action, ownerPages, nil)
}

func (s *Server) webOwnerLoginForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "owner_login.html", &loginPage{webBase: webBase{Title: "Sign in with your API key"}})
}

// webOwnerLogin checks the pasted key (any valid key) and keeps it in the
// session cookie.
func (s *Server) webOwnerLogin(w http.ResponseWriter, r *http.Request) {
	if s.webLimited(w, r) || !s.parseForm(w, r) {
		return
	}
	key := strings.TrimSpace(r.PostFormValue("key"))
	errs := &formErrors{}
	if key == "" {
		errs.add("key", "Paste your API key (it starts with ddnrs_).")
		s.render(w, http.StatusUnprocessableEntity, "owner_login.html", &loginPage{webBase: webBase{Title: "Error: sign in", Errs: errs}})
		return
	}
	id, _ := parseKey(key)
	k, err := s.keyOfForm(r, key)
	if err != nil {
		status := webStatus(err)
		s.webAudit(id, "web.owner.login", status, err)
		errs.add("key", "This key cannot sign in: %s.", errorMessage(err))
		s.render(w, status, "owner_login.html", &loginPage{webBase: webBase{Title: "Error: sign in", Errs: errs}})
		return
	}
	s.webAudit(id, "web.owner.login", http.StatusSeeOther, nil)
	setKeyCookie(w, r, key, k)
	http.Redirect(w, r, "/owner", http.StatusSeeOther)
}

// ownerSession is the webBase of an owner page: the key id shown in the
// header and the sign-out form's token.
func ownerSession(r *http.Request, k raftfsm.APIKey, title string) webBase {
	b := session(r, k, title)
	b.Reviewer, b.Owner = "", k.ID
	return b
}

// webOwner lists the key's zones, its scope and its audit records.
func (s *Server) webOwner(w http.ResponseWriter, r *http.Request) {
	k, ok := s.owner(w, r, "web.owner")
	if !ok {
		return
	}
	reg, err := s.registry()
	if err != nil {
		s.renderMessage(w, webStatus(err), "Owner pages unavailable", errorMessage(err))
		return
	}
	page := &ownerPage{webBase: ownerSession(r, k, "Your zones"), Key: k}
	for _, cl := range reg.Claims() {
		if allowZone(k, ActionRead, cl.Zone) != nil {
			continue
		}
		page.Zones = append(page.Zones, s.ownerZoneRow(r, cl))
	}
	page.SubKeys = reg.Descendants(k.ID)
	page.Audit = s.ownerAudit(r, k, page.SubKeys)
	s.render(w, http.StatusOK, "owner.html", page)
}

// webOwnerZone shows one zone's records.
func (s *Server) webOwnerZone(w http.ResponseWriter, r *http.Request) {
	k, ok := s.owner(w, r, "web.owner.zone")
	if !ok {
		return
	}
	origin, err := domainName("zone", r.PathValue("zone"))
	if err == nil {
		err = allowZone(k, ActionRead, origin)
	}
	if err != nil {
		s.renderMessage(w, webStatus(err), "Zone not shown", errorMessage(err))
		return
	}
	cl, err := s.claimed(origin)
	if err != nil {
		s.renderMessage(w, webStatus(err), "Zone not shown", errorMessage(err))
		return
	}
	row := s.ownerZoneRow(r, cl)
	page := &ownerPage{webBase: ownerSession(r, k, "Zone "+origin), Key: k, Zone: &row}
	if z, err := s.b.Zone(r.Context(), origin); err == nil {
		for _, set := range z.RRsets() {
			if set.Type == dns.TypeNSEC {
				continue
			}
			page.RRsets = append(page.RRsets, rrsetView(set))
		}
	}
	s.render(w, http.StatusOK, "owner_zone.html", page)
}

// ownerZoneRow reads the group's copy of cl's zone for its serial and
// first signature expiry.
func (s *Server) ownerZoneRow(r *http.Request, cl raftfsm.Claim) ownerZone {
	row := ownerZone{Zone: cl.Zone, Group: cl.Group, Suspended: cl.Suspended, TornDown: cl.Lease.Deadline()}
	if dk, err := raftfsm.ParseOwnerKey(cl.Owner, ""); err == nil {
		row.KeyTag = dk.KeyTag()
	}
	z, err := s.b.Zone(r.Context(), cl.Zone)
	if err != nil {
		row.Err = errorMessage(err)
		return row
	}
	row.Serial = z.Serial()
	if t, ok := zone.EarliestExpiry(z, s.now()); ok {
		row.SignaturesExpire = t.UTC()
		row.ExpiresSoon = t.Sub(s.now()) < ownerExpiryWarning
	}
	return row
}

// keyOf is the API key in r's session cookie.
func keyOf(r *http.Request) string {
	if c, err := r.Cookie(webCookie); err == nil {
		return c.Value
	}
	return ""
}

// rrsetView is an RRset as the owner's zone page lists it: the data,
// without the signatures' base64.
func rrsetView(set *zone.RRset) rrsetJSON {
	j := rrsetJSON{Name: set.Name, Type: dns.TypeToString[set.Type], TTL: set.TTL, Records: []string{}, RRSIGs: []string{}}
	for _, rr := range set.Records() {
		f := strings.SplitN(rr.String(), "\t", 5)
		j.Records = append(j.Records, f[len(f)-1])
	}
	for _, sig := range set.Signatures() {
		j.RRSIGs = append(j.RRSIGs, "key "+itoa(int(sig.KeyTag))+", until "+dns.TimeToString(sig.Expiration))
	}
	return j
}

func itoa(n int) string { return strconv.Itoa(n) }

// ownerAuditKeys bounds the sub-keys whose audit records the owner page
// reads (one cluster-wide read each); 'ddnrs key audit --key ID' reads
// any of them.
const ownerAuditKeys = 10

// ownerAudit is the newest audit records of k and of its first
// ownerAuditKeys sub-keys, merged newest first, at most 50.
func (s *Server) ownerAudit(r *http.Request, k raftfsm.APIKey, subs []raftfsm.APIKey) []AuditRecord {
	ids := []string{k.ID}
	for i, sk := range subs {
		if i == ownerAuditKeys {
			break
		}
		ids = append(ids, sk.ID)
	}
	seen := map[string]bool{}
	var out []AuditRecord
	for _, id := range ids {
		l, err := s.clusterAudit(r.Context(), AuditFilter{KeyID: id, Limit: 50}, ScopeCluster, "Bearer "+keyOf(r))
		if err != nil {
			continue
		}
		for _, rec := range l.Records {
			if k := rec.Node + "/" + strconv.FormatUint(rec.Seq, 10); !seen[k] {
				seen[k] = true
				out = append(out, rec)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	if len(out) > 50 {
		out = out[:50]
	}
	return out
}
