package api

// noderequests.go: the registry's review of community nodes' certificate
// requests (issue 14 item 2), the same flow as access applications: a
// community node submits the request it made (ddnrs node request
// --submit), public and rate-limited per client address like
// applications, and gets a status token; reviewers (admin keys) list and
// decide requests; on approval the reviewer hands in the certificate the
// community CA's holder issued (ddnrs ops registry node-requests approve
// --ca-dir), which this member checks against the cluster CA and the
// request; the node collects it once with its status token. Each step is
// a raftfsm.NodeRequest, logged (node-request and node-request-decision
// entries). A request whose signature, scope or agreement is wrong is
// refused here, before review and before anything is committed.
//
//	POST /v1/node-requests                  {"request": PEM} -> {"id","status","status_token"}
//	GET  /v1/node-requests                  admin: every request, oldest first
//	GET  /v1/node-requests/{id}             admin, or the status token
//	POST /v1/node-requests/{id}/review      admin: {"decision": "approve"|"reject", "message", "certificate": PEM}
//	POST /v1/node-requests/{id}/collect     the status token -> {"certificate": PEM, "serial"}

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// ErrNoNodeReview is returned when this registry takes no community node
// requests (Options.NodeAgreementSHA256 unset; mapped to 404 not_found).
var ErrNoNodeReview = fmt.Errorf("%w: this registry takes no community node requests ([api] node_agreement is not set)", ErrNotFound)

// nodeRequestInput is the body of POST /v1/node-requests.
type nodeRequestInput struct {
	Request string `json:"request"` // PEM, the node.csr of ddnrs node request
}

// nodeReviewInput is the body of POST /v1/node-requests/{id}/review.
type nodeReviewInput struct {
	Decision    string `json:"decision"`
	Message     string `json:"message,omitempty"`
	Certificate string `json:"certificate,omitempty"` // PEM, for approve
}

// nodeRequestJSON is a request as the API shows it (never the token
// hash; the request itself to reviewers only).
type nodeRequestJSON struct {
	ID               string     `json:"id"`
	NodeID           string     `json:"node_id"`
	Group            string     `json:"group"`
	Scope            string     `json:"scope"`
	AgreementVersion string     `json:"agreement_version"`
	AgreementSHA256  string     `json:"agreement_sha256"`
	Uptime           string     `json:"uptime_percent"`
	BandwidthMbps    uint32     `json:"bandwidth_mbps"`
	RequestSHA256    string     `json:"request_sha256"`
	Status           string     `json:"status"`
	Submitted        time.Time  `json:"submitted"`
	Reviewer         string     `json:"reviewer,omitempty"`
	Decided          *time.Time `json:"decided,omitempty"`
	Message          string     `json:"message,omitempty"`
	Serial           string     `json:"serial,omitempty"`
	Collected        *time.Time `json:"collected,omitempty"`
	Request          string     `json:"request,omitempty"` // PEM; reviewers only
}

func nodeRequestView(q raftfsm.CommunityRequest, reviewer bool) nodeRequestJSON {
	j := nodeRequestJSON{ID: q.ID, NodeID: q.NodeID, Group: q.Group, Scope: q.Scope, AgreementVersion: q.AgreementVersion,
		AgreementSHA256: q.AgreementSHA256, Uptime: q.Uptime, BandwidthMbps: q.BandwidthMbps, RequestSHA256: q.RequestSHA256,
		Status: q.Status, Submitted: q.Submitted, Reviewer: q.Reviewer, Message: q.Message, Serial: q.Serial}
	if !q.Decided.IsZero() {
		t := q.Decided
		j.Decided = &t
	}
	if !q.Collected.IsZero() {
		t := q.Collected
		j.Collected = &t
	}
	if reviewer {
		j.Request = string(pem.EncodeToMemory(&pem.Block{Type: pki.RequestPEMType, Bytes: q.CSR}))
	}
	return j
}

func (s *Server) handleSubmitNodeRequest(w http.ResponseWriter, r *http.Request, _ *call) error {
	var in nodeRequestInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	id, token, err := s.submitNodeRequest(r.Context(), clientKey(s.clientIP(r)), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": id, "status": raftfsm.NodeRequestPending, "status_token": token})
	return nil
}

// submitNodeRequest checks a community node's request (its signature,
// that it asks for a community scope, that it accepted this registry's
// agreement) and proposes it for review.
func (s *Server) submitNodeRequest(ctx context.Context, source string, in nodeRequestInput) (id, token string, err error) {
	if s.opt.NodeAgreementSHA256 == "" {
		return "", "", ErrNoNodeReview
	}
	if in.Request == "" {
		return "", "", missing("request")
	}
	req, err := pki.ParseRequest([]byte(in.Request))
	if err != nil {
		return "", "", invalid("request", "%v", err)
	}
	st := req.Statement
	switch {
	case req.Scope.Role != pki.RoleCommunity:
		return "", "", invalid("request", "it asks for %s: the registry's review grants community scopes only (community:GROUP, a community group); member and registry certificates come from their group's operator ('ddnrs ops node approve')", req.Scope)
	case st.AgreementSHA256 != s.opt.NodeAgreementSHA256:
		return "", "", invalid("request", "it accepted an agreement with SHA-256 %s; this registry's is %s: make the request with --agreement and the text the registry publishes", st.AgreementSHA256, s.opt.NodeAgreementSHA256)
	case s.opt.NodeAgreementVersion != "" && st.AgreementVersion != s.opt.NodeAgreementVersion:
		return "", "", invalid("request", "it names agreement version %q; this registry's is %q", st.AgreementVersion, s.opt.NodeAgreementVersion)
	case !validNodeID(req.ID):
		return "", "", invalid("request", "node id %q: want 1 to 64 letters, digits, '.', '_' or '-'", req.ID)
	}
	reg, err := s.registry()
	if err != nil {
		return "", "", err
	}
	if open := reg.OpenNodeRequests(); open >= s.opt.MaxOpenApplications {
		return "", "", fmt.Errorf("%w: %d node requests wait, the limit %d; try again once some are reviewed", ErrApplicationsFull, open, s.opt.MaxOpenApplications)
	}
	release, err := s.quota.take(source, s.b.Now())
	if err != nil {
		return "", "", err
	}
	defer func() {
		if err != nil {
			release()
		}
	}()
	if id, err = newID(); err != nil {
		return "", "", err
	}
	token, hash, err := newToken()
	if err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(req.CSR.Raw)
	err = s.propose(ctx, &raftfsm.NodeRequest{Op: raftfsm.NodeRequestSubmit, ID: id, NodeID: req.ID, Group: req.Scope.Group,
		Scope: req.Scope.String(), AgreementVersion: st.AgreementVersion, AgreementSHA256: st.AgreementSHA256,
		Uptime: st.UptimeText(), BandwidthMbps: uint32(st.BandwidthMbps), RequestSHA256: hex.EncodeToString(sum[:]),
		TokenSHA256: hex.EncodeToString(hash[:]), CSR: req.CSR.Raw, MaxOpen: uint32(s.opt.MaxOpenApplications),
		Actor: "node", Time: s.now()})
	if err != nil {
		return "", "", err
	}
	return id, token, nil
}

// validNodeID reports whether id is a usable node id ([group] id).
func validNodeID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// nodeRequest returns request id: for an admin key any, else only with
// its status token (ErrUnauthenticated otherwise).
func (s *Server) nodeRequest(id string, c *call, token string) (raftfsm.CommunityRequest, error) {
	reg, err := s.registry()
	if err != nil {
		return raftfsm.CommunityRequest{}, err
	}
	q, ok := reg.NodeRequest(id)
	if !ok {
		return q, fmt.Errorf("%w: node request %q", ErrNotFound, id)
	}
	if c != nil && c.keyed {
		return q, requireAdmin(c.key)
	}
	sum := sha256.Sum256([]byte(token))
	if token == "" || subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(q.TokenSHA256)) != 1 {
		return raftfsm.CommunityRequest{}, fmt.Errorf("%w: wrong status token for node request %s", ErrUnauthenticated, id)
	}
	return q, nil
}

func (s *Server) handleListNodeRequests(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := requireAdmin(c.key); err != nil {
		return err
	}
	reg, err := s.registry()
	if err != nil {
		return err
	}
	out := []nodeRequestJSON{}
	for _, q := range reg.NodeRequests() {
		if st := r.URL.Query().Get("status"); st == "" || st == q.Status {
			out = append(out, nodeRequestView(q, true))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"node_requests": out})
	return nil
}

func (s *Server) handleGetNodeRequest(w http.ResponseWriter, r *http.Request, c *call) error {
	q, err := s.nodeRequest(r.PathValue("id"), c, bearer(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nodeRequestView(q, c.keyed))
	return nil
}

// Errors of reviews of node requests.
var (
	// ErrNotNodeCert is returned by a review whose certificate is not
	// the community certificate of the request: another key, name or
	// scope, not from the cluster CA, or not a cluster credential.
	ErrNotNodeCert = errors.New("the certificate is not one for this request")
)

func (s *Server) handleReviewNodeRequest(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := requireAdmin(c.key); err != nil {
		return err
	}
	var in nodeReviewInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	id := r.PathValue("id")
	q, err := s.nodeRequest(id, c, "")
	if err != nil {
		return err
	}
	if err := checkText("message", in.Message, false); err != nil {
		return err
	}
	cmd := &raftfsm.NodeRequest{ID: id, Message: in.Message, Actor: c.key.ID, Time: s.now()}
	switch in.Decision {
	case "approve":
		cert, err := s.checkNodeCert(q, in.Certificate)
		if err != nil {
			return err
		}
		cmd.Op, cmd.Cert, cmd.Serial = raftfsm.NodeRequestApprove, cert.Raw, fmt.Sprintf("%x", cert.SerialNumber)
	case "reject":
		if in.Message == "" {
			return missing("message")
		}
		cmd.Op = raftfsm.NodeRequestReject
	case "":
		return missing("decision")
	default:
		return invalid("decision", "%q is not approve or reject", in.Decision)
	}
	noteTarget(stateOf(r.Context()), id)
	if err := s.propose(r.Context(), cmd); err != nil {
		return err
	}
	reg, err := s.registry()
	if err != nil {
		return err
	}
	q, _ = reg.NodeRequest(id)
	writeJSON(w, http.StatusOK, nodeRequestView(q, true))
	return nil
}

// checkNodeCert checks an approval's certificate: one PEM certificate
// for the request's key, node id and community scope, a cluster
// credential the cluster CA (Options.ClusterCAs) issued.
func (s *Server) checkNodeCert(q raftfsm.CommunityRequest, text string) (*x509.Certificate, error) {
	if text == "" {
		return nil, missing("certificate")
	}
	blk, _ := pem.Decode([]byte(text))
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, invalid("certificate", "want one PEM certificate")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, invalid("certificate", "%v", err)
	}
	csr, err := x509.ParseCertificateRequest(q.CSR)
	if err != nil {
		return nil, err
	}
	pub, _ := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	sc, serr := pki.ScopeOf(cert)
	switch {
	case pub == nil || !pub.Equal(csr.PublicKey):
		return nil, invalid("certificate", "%v: it is for another key than the request's", ErrNotNodeCert)
	case cert.Subject.CommonName != q.NodeID:
		return nil, invalid("certificate", "%v: it names %q, the request %q", ErrNotNodeCert, cert.Subject.CommonName, q.NodeID)
	case serr != nil || sc.String() != q.Scope:
		return nil, invalid("certificate", "%v: scope %v (%v), the request asks for %s", ErrNotNodeCert, sc, serr, q.Scope)
	}
	if err := pki.CheckClusterCert(cert); err != nil {
		return nil, invalid("certificate", "%v: %v", ErrNotNodeCert, err)
	}
	if s.opt.ClusterCAs == nil {
		return nil, invalid("certificate", "this registry member has no cluster CA to check it against ([api] tls_cert unset)")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: s.opt.ClusterCAs, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, invalid("certificate", "%v: %v", ErrNotNodeCert, err)
	}
	return cert, nil
}

// nodeCertJSON is the answer of a collection.
type nodeCertJSON struct {
	ID          string `json:"id"`
	NodeID      string `json:"node_id"`
	Certificate string `json:"certificate"` // PEM
	Serial      string `json:"serial"`
}

func (s *Server) handleCollectNodeCert(w http.ResponseWriter, r *http.Request, _ *call) error {
	id, token := r.PathValue("id"), bearer(r)
	if token == "" {
		return fmt.Errorf("%w: send the node request's status token as Authorization: Bearer TOKEN", ErrUnauthenticated)
	}
	q, err := s.nodeRequest(id, nil, token)
	if err != nil {
		return err
	}
	if err := s.propose(r.Context(), &raftfsm.NodeRequest{Op: raftfsm.NodeRequestCollect, ID: id, Actor: "node", Time: s.now()}); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, nodeCertJSON{ID: id, NodeID: q.NodeID, Serial: q.Serial,
		Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: q.Cert}))})
	return nil
}
