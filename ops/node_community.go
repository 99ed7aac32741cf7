package ops

// node_community.go: the community node's side of the registry's review
// (issue 14 item 2) and the reviewers' CLI. A community node submits the
// request 'ddnrs node request' made (--submit URL, the registry's REST
// API; DIR/request.json keeps the id and status token), then collects its
// certificate once approved ('ddnrs node collect DIR'). Reviewers list
// and decide requests with 'ddnrs ops registry node-requests'; approving
// issues the certificate with the community CA (--ca-dir) where the
// reviewer runs it: the registry members never hold a CA key. The REST
// side is api/noderequests.go.

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/internal/pki"
)

// requestStateFile is where 'node request --submit' keeps the request's
// id and status token, beside node.key (mode 0600).
const requestStateFile = "request.json"

// requestState is DIR/request.json.
type requestState struct {
	URL         string `json:"url"`
	ID          string `json:"id"`
	StatusToken string `json:"status_token"`
}

// submitNodeRequest posts the request csr to the registry at apiURL and
// writes DIR/request.json.
func submitNodeRequest(ctx context.Context, w io.Writer, apiURL, dir string, csr []byte) error {
	u, err := url.Parse(apiURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--submit %q: want the registry's REST API URL, such as https://registry.example.net:8443", apiURL)
	}
	c := &restClient{base: strings.TrimRight(u.String(), "/"), hc: &http.Client{Timeout: time.Minute}}
	var out requestState
	if _, _, err := c.do(ctx, "POST", "/v1/node-requests", map[string]string{"request": string(csr)}, &out); err != nil {
		return withHint(fmt.Errorf("submitting the request: %w", err), "the request stays in %s; fix what the registry says and make a new one", dir)
	}
	out.URL = c.base
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if err := writeNewMode(filepath.Join(dir, requestStateFile), append(b, '\n'), 0o600); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "submitted to %s for review: request %s, status pending; its status token is in %s. Once approved: ddnrs node collect %s\n",
		c.base, out.ID, filepath.Join(dir, requestStateFile), dir)
	return err
}

func newNodeCollectCmd() *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "collect DIR",
		Short: "Collect the certificate of a community node's approved request",
		Long: `Ask the registry about the request 'ddnrs node request --submit' sent (DIR/request.json
holds its id and status token) and, once a reviewer approved it, collect the
certificate and write it to DIR/node.crt, after checking it is for DIR/node.key
and, when DIR/ca.crt is there, that the CA in it issued it. The registry hands
a certificate out once: a second collection is refused.

Pending: says so and exits with status 1 (--wait D asks again until approved,
rejected or D has passed). Rejected: prints the reviewer's message.`,
		Example: `  ddnrs node collect /etc/ddnrs/cg-1
  ddnrs node collect /etc/ddnrs/cg-1 --wait 24h`,
		Args: exactArgs("DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runNodeCollect(cmd.Context(), cmd.OutOrStdout(), args[0], wait)
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 0, "ask again every 10s until the request is decided, at most this long (0: ask once)")
	return cmd
}

// errPending is returned by node collect while the request waits.
var errPending = errors.New("the request waits for review")

func runNodeCollect(ctx context.Context, w io.Writer, dir string, wait time.Duration) error {
	if ctx == nil {
		ctx = context.Background()
	}
	b, err := os.ReadFile(filepath.Join(dir, requestStateFile))
	if err != nil {
		return withHint(err, "DIR is the directory 'ddnrs node request --submit' wrote request.json to")
	}
	var st requestState
	if err := json.Unmarshal(b, &st); err != nil || st.URL == "" || st.ID == "" || st.StatusToken == "" {
		return fmt.Errorf("%s: not a request.json of 'ddnrs node request --submit' (%v)", filepath.Join(dir, requestStateFile), err)
	}
	certPath := filepath.Join(dir, pki.CertFile)
	if err := mustBeAbsent(certPath); err != nil {
		return withHint(err, "collect never overwrites a certificate")
	}
	key, err := pki.LoadKey(filepath.Join(dir, pki.KeyFile))
	if err != nil {
		return err
	}
	c := &restClient{base: st.URL, key: st.StatusToken, hc: &http.Client{Timeout: time.Minute}}
	deadline := time.Now().Add(wait)
	for {
		var q struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		}
		if _, _, err := c.do(ctx, "GET", "/v1/node-requests/"+url.PathEscape(st.ID), nil, &q); err != nil {
			return fmt.Errorf("asking about request %s: %w", st.ID, err)
		}
		switch q.Status {
		case "approved":
			return collectNodeCert(ctx, w, c, st.ID, dir, certPath, key)
		case "rejected":
			return fmt.Errorf("request %s was rejected: %s", st.ID, q.Message)
		case "collected":
			return withHint(fmt.Errorf("the certificate of request %s was collected already; it is handed out once", st.ID), "a node that lost it makes a new request (a new key)")
		}
		if wait <= 0 || time.Now().After(deadline) {
			return withHint(fmt.Errorf("%w: request %s is %s", errPending, st.ID, q.Status), "ask again later, or pass --wait")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Second):
		}
	}
}

func collectNodeCert(ctx context.Context, w io.Writer, c *restClient, id, dir, certPath string, key crypto.Signer) error {
	var out struct {
		Certificate string `json:"certificate"`
		Serial      string `json:"serial"`
	}
	if _, _, err := c.do(ctx, "POST", "/v1/node-requests/"+url.PathEscape(id)+"/collect", nil, &out); err != nil {
		return fmt.Errorf("collecting the certificate of request %s: %w", id, err)
	}
	blk, _ := pem.Decode([]byte(out.Certificate))
	if blk == nil {
		return fmt.Errorf("the registry's answer holds no certificate")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return err
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return fmt.Errorf("the certificate the registry handed out is not for %s", filepath.Join(dir, pki.KeyFile))
	}
	if pool, err := pki.LoadCAPool(filepath.Join(dir, pki.CACertFile)); err == nil {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return fmt.Errorf("the certificate the registry handed out is not from the CA in %s: %w", filepath.Join(dir, pki.CACertFile), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := writeNew(certPath, pki.CertPEM(cert)); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "collected the certificate of request %s: wrote %s (serial %s, valid until %s)\n", id, certPath, out.Serial, cert.NotAfter.UTC().Format(time.RFC3339))
	return err
}

// nodeReqOptions are the flags of 'ddnrs ops registry node-requests'.
type nodeReqOptions struct {
	API, APIKeyFile string
	CADir           string
	Validity        time.Duration
	Message         string
	Status          string
}

func newRegistryNodeRequestsCmd() *cobra.Command {
	opts := &nodeReqOptions{}
	cmd := &cobra.Command{
		Use:   "node-requests",
		Short: "Review community nodes' certificate requests: list, approve, reject",
		Long: `Community nodes submit their certificate requests to the registry's review
('ddnrs node request --scope community:GROUP --submit URL'). The registry has
already refused those whose signature does not verify, that ask for another
scope than community:GROUP, or that did not accept its operator agreement
([api] node_agreement). A reviewer (an admin API key, as for access
applications) lists the rest and decides:

  approve ID --ca-dir CA   issues the certificate here, with the community CA
                           (the cluster CA: its key stays with you, never on a
                           registry member), and hands it to the registry,
                           which checks it and logs the approval with the
                           agreement, uptime and bandwidth;
  reject ID --message TEXT the node's operator reads the message.

The node collects the certificate once ('ddnrs node collect DIR').`,
		Example: `  ddnrs ops registry node-requests list --api https://10.0.0.1:8443 --api-key-file reviewer.key
  ddnrs ops registry node-requests approve 4f1c2a9e0b7d3c65 --ca-dir ca --validity 720h --api https://10.0.0.1:8443 --api-key-file reviewer.key
  ddnrs ops registry node-requests reject 4f1c2a9e0b7d3c65 --message "no uptime record" --api https://10.0.0.1:8443 --api-key-file reviewer.key`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&opts.API, "api", "", "the registry's REST API `URL` (or set "+envAPI+")")
	pf.StringVar(&opts.APIKeyFile, "api-key-file", "", "`FILE` holding a reviewer's (admin) API key (or set "+envAPIKeyFile+" or "+envAPIKey+")")
	list := &cobra.Command{
		Use: "list", Short: "List the community node requests, oldest first", Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runNodeRequests(cmd, opts, "list", "") },
	}
	list.Flags().StringVar(&opts.Status, "status", "", "only requests in this status: pending, approved, rejected or collected")
	approve := &cobra.Command{
		Use: "approve ID --ca-dir DIR", Short: "Approve a request: issue its certificate with the community CA and hand it to the registry", Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error { return runNodeRequests(cmd, opts, "approve", args[0]) },
	}
	approve.Flags().StringVar(&opts.CADir, "ca-dir", "", "the community CA `DIR` (the cluster CA: ca.crt and ca.key; required)")
	approve.Flags().DurationVar(&opts.Validity, "validity", 0, "how long the certificate is valid, e.g. 720h (default a year; never past the CA)")
	reject := &cobra.Command{
		Use: "reject ID --message TEXT", Short: "Reject a request, with a message for the node's operator (logged)", Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error { return runNodeRequests(cmd, opts, "reject", args[0]) },
	}
	reject.Flags().StringVar(&opts.Message, "message", "", "why (required; the node's operator reads it, and the public log keeps it)")
	cmd.AddCommand(list, approve, reject)
	return cmd
}

func runNodeRequests(cmd *cobra.Command, opts *nodeReqOptions, op, id string) error {
	switch {
	case op == "approve" && opts.CADir == "":
		return usagef("--ca-dir is required: the certificate is issued here, with the community CA")
	case op == "reject" && strings.TrimSpace(opts.Message) == "":
		return usagef("--message is required: the node's operator reads it")
	case op == "approve" && (opts.Validity < 0 || opts.Validity > 0 && opts.Validity < time.Minute):
		return usagef("--validity %v: want at least 1m (or 0 for a year)", opts.Validity)
	}
	c, err := newRESTClient(opts.API, opts.APIKeyFile)
	if err != nil {
		return err
	}
	parent := cmd.Context()
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, time.Minute)
	defer cancel()
	w := cmd.OutOrStdout()
	type view struct {
		ID        string `json:"id"`
		Status    string `json:"status"`
		Message   string `json:"message"`
		Serial    string `json:"serial"`
		Request   string `json:"request"`
		Scope     string `json:"scope"`
		NodeID    string `json:"node_id"`
		Agreement string `json:"agreement_version"`
		Uptime    string `json:"uptime_percent"`
		Bandwidth uint32 `json:"bandwidth_mbps"`
	}
	switch op {
	case "list":
		var out struct {
			Requests []view `json:"node_requests"`
		}
		path := "/v1/node-requests"
		if opts.Status != "" {
			path += "?status=" + url.QueryEscape(opts.Status)
		}
		if _, _, err := c.do(ctx, "GET", path, nil, &out); err != nil {
			return err
		}
		fmt.Fprintf(w, "%-16s  %-10s  %-20s  %-18s  %-10s  %7s  %9s\n", "ID", "STATUS", "NODE", "SCOPE", "AGREEMENT", "UPTIME", "MBIT/S")
		for _, q := range out.Requests {
			fmt.Fprintf(w, "%-16s  %-10s  %-20s  %-18s  %-10s  %6s%%  %9d\n", q.ID, q.Status, q.NodeID, q.Scope, q.Agreement, q.Uptime, q.Bandwidth)
		}
		return nil
	case "reject":
		var out view
		if _, _, err := c.do(ctx, "POST", "/v1/node-requests/"+url.PathEscape(id)+"/review", map[string]string{"decision": "reject", "message": opts.Message}, &out); err != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "rejected request %s (%s)\n", id, out.NodeID)
		return err
	}
	var q view
	if _, _, err := c.do(ctx, "GET", "/v1/node-requests/"+url.PathEscape(id), nil, &q); err != nil {
		return err
	}
	req, err := pki.ParseRequest([]byte(q.Request))
	if err != nil {
		return fmt.Errorf("request %s as the registry holds it: %w", id, err)
	}
	if req.Scope.Role != pki.RoleCommunity || req.Scope.String() != q.Scope || req.ID != q.NodeID {
		return fmt.Errorf("request %s asks for %s as %s; the registry lists %s as %s: not approved", id, req.Scope, req.ID, q.Scope, q.NodeID)
	}
	ca, err := pki.LoadCA(opts.CADir)
	if err != nil {
		return withHint(fmt.Errorf("--ca-dir: %w", err), "--ca-dir must name the CA directory (ca.crt and ca.key) the cluster's nodes trust")
	}
	cert, err := pki.IssueForRequest(ca, req, req.Scope, opts.Validity)
	if err != nil {
		return err
	}
	var out view
	if _, _, err := c.do(ctx, "POST", "/v1/node-requests/"+url.PathEscape(id)+"/review",
		map[string]string{"decision": "approve", "certificate": string(pki.CertPEM(cert))}, &out); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "approved request %s: %s as %s, serial %x, valid until %s; logged with agreement %s, uptime %s%%, %d Mbit/s; the node collects it with 'ddnrs node collect'\n",
		id, req.ID, req.Scope, cert.SerialNumber, cert.NotAfter.UTC().Format(time.RFC3339), q.Agreement, q.Uptime, q.Bandwidth)
	return err
}
