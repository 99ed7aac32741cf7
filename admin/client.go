package admin

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ddnrs/ddnrs/raftfsm"
)

// maxReply caps a JSON reply read from an admin endpoint.
const maxReply = 16 << 20

// maxZoneReply caps a zone export (Client.Zone): a zone file of up to
// [admin.limits] max_zone_bytes (1 GiB by default) of stored RRsets is
// larger as text, and maxReply (about 50,000 signed RRsets) would cut
// short the zones a move or a publish reads back.
const maxZoneReply = 4 << 30

// HeaderForwarded marks a write forwarded by another member: the receiver
// does not forward it again, so a request is forwarded at most once.
const HeaderForwarded = "X-Ddnrs-Forwarded"

// Client talks to a node's admin endpoint over mutual TLS. The node
// uses it to forward writes and to ask members for their status; the ops
// CLI uses it for everything. Safe for concurrent use. Every call is
// bounded by its ctx; errors from the node are *APIError.
type Client struct {
	hc *http.Client
}

// NewClient returns a client presenting the TLS configuration tc
// (pki.ClientTLS: the node's or operator's certificate and the cluster
// CA). Idle connections are kept for reuse; CloseIdle drops them.
func NewClient(tc *tls.Config) *Client {
	tr := &http.Transport{
		TLSClientConfig:     tc,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
	}
	return &Client{hc: &http.Client{Transport: tr}}
}

// CloseIdle closes the client's idle connections.
func (c *Client) CloseIdle() { c.hc.CloseIdleConnections() }

// SubmitChange sends an encoded raftfsm command for zone to the node at
// addr (HOST:PORT). It returns only after the group committed it.
func (c *Client) SubmitChange(ctx context.Context, addr, zone string, cmd []byte) (*ChangeResult, error) {
	var res ChangeResult
	err := c.do(ctx, http.MethodPost, addr, "/v1/zones/"+url.PathEscape(zone)+"/changes", bytes.NewReader(cmd), nil, &res)
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// Zone returns the node's replica of zone.
func (c *Client) Zone(ctx context.Context, addr, zone string) (*ZoneExport, error) {
	var res ZoneExport
	if err := c.doLimit(ctx, http.MethodGet, addr, "/v1/zones/"+url.PathEscape(zone), nil, nil, &res, maxZoneReply); err != nil {
		return nil, err
	}
	return &res, nil
}

// Status returns the node's status.
func (c *Client) Status(ctx context.Context, addr string) (*Status, error) {
	var res Status
	if err := c.do(ctx, http.MethodGet, addr, "/v1/group/status", nil, nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Members returns the group's members as its leader sees them (the node
// at addr asks the leader; its own view only when no leader answers),
// with each member's indexes and how far it trails the leader.
func (c *Client) Members(ctx context.Context, addr string) ([]MemberStatus, error) {
	var res []MemberStatus
	if err := c.do(ctx, http.MethodGet, addr, "/v1/group/members", nil, nil, &res); err != nil {
		return nil, err
	}
	return res, nil
}

// MembersForwarded is Members marked as forwarded: the receiver answers
// with its own view instead of asking its leader.
func (c *Client) MembersForwarded(ctx context.Context, addr string) ([]MemberStatus, error) {
	var res []MemberStatus
	if err := c.do(ctx, http.MethodGet, addr, "/v1/group/members", nil, forwardedHeader(), &res); err != nil {
		return nil, err
	}
	return res, nil
}

// Join asks the group (through the node at addr) to add a member.
func (c *Client) Join(ctx context.Context, addr string, req JoinRequest) error {
	return c.postJSON(ctx, addr, "/v1/group/join", req)
}

// Remove asks the group (through the node at addr) to remove a member.
func (c *Client) Remove(ctx context.Context, addr string, req RemoveRequest) error {
	return c.postJSON(ctx, addr, "/v1/group/remove", req)
}

// TransferLeader asks the leader (through the node at addr) to hand
// leadership to req.ID, or to any voter when req.ID is empty.
func (c *Client) TransferLeader(ctx context.Context, addr string, req TransferRequest) error {
	return c.postJSON(ctx, addr, "/v1/group/transfer-leader", req)
}

// Snapshot streams a snapshot of the node's state into w.
func (c *Client) Snapshot(ctx context.Context, addr string, w io.Writer) error {
	req, err := c.request(ctx, http.MethodGet, addr, "/v1/snapshot", nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return readAPIError(resp)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("snapshot from %s: %w", addr, err)
	}
	return nil
}

// HeaderRollback carries one owner's rollback statement (zone.Rollback,
// base64) with a snapshot restore; repeated for several zones.
const HeaderRollback = "X-Ddnrs-Rollback"

// Restore sends a snapshot (as Snapshot wrote it) to the node at addr,
// which must be the leader, to replace the group's state, with the
// owners' rollback statements for the zones it moves to an older serial.
func (c *Client) Restore(ctx context.Context, addr string, r io.Reader, rollbacks ...[]byte) error {
	var hdr http.Header
	for _, b := range rollbacks {
		if hdr == nil {
			hdr = http.Header{}
		}
		hdr.Add(HeaderRollback, base64.StdEncoding.EncodeToString(b))
	}
	return c.do(ctx, http.MethodPost, addr, "/v1/snapshot/restore", r, hdr, nil)
}

func (c *Client) postJSON(ctx context.Context, addr, path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, addr, path, bytes.NewReader(b), nil, nil)
}

func (c *Client) request(ctx context.Context, method, addr, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, "https://"+addr+path, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return req, nil
}

// do sends one request and decodes a 2xx JSON reply into out (when not
// nil) or the APIError of any other status.
func (c *Client) do(ctx context.Context, method, addr, path string, body io.Reader, hdr http.Header, out any) error {
	return c.doLimit(ctx, method, addr, path, body, hdr, out, maxReply)
}

// doLimit is do, reading at most limit bytes of the reply.
func (c *Client) doLimit(ctx context.Context, method, addr, path string, body io.Reader, hdr http.Header, out any, limit int64) error {
	req, err := c.request(ctx, method, addr, path, body)
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", method, addr, ctx.Err())
		}
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return readAPIError(resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, limit)).Decode(out); err != nil {
		return fmt.Errorf("reply from %s%s: %w", addr, path, err)
	}
	return nil
}

// readAPIError decodes the APIError body of a failed reply; a body that
// is not one becomes an internal error carrying the status.
func readAPIError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	ae := &APIError{}
	if err := json.Unmarshal(b, ae); err != nil || ae.Code == "" {
		return &APIError{Status: resp.StatusCode, Code: CodeInternal, Message: fmt.Sprintf("HTTP %s: %s", resp.Status, bytes.TrimSpace(b))}
	}
	ae.Status = resp.StatusCode
	return ae
}

// forwardedHeader marks a request as forwarded by a member.
func forwardedHeader() http.Header { return http.Header{HeaderForwarded: []string{"1"}} }

// SubmitChangeForwarded is SubmitChange marked as forwarded, so the
// receiver applies it or fails, never forwarding again.
func (c *Client) SubmitChangeForwarded(ctx context.Context, addr, zone string, cmd []byte) (*ChangeResult, error) {
	var res ChangeResult
	err := c.do(ctx, http.MethodPost, addr, "/v1/zones/"+url.PathEscape(zone)+"/changes", bytes.NewReader(cmd), forwardedHeader(), &res)
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// ForwardJSON re-sends a JSON admin request to addr, marked as forwarded.
func (c *Client) ForwardJSON(ctx context.Context, addr, path string, body []byte) error {
	return c.do(ctx, http.MethodPost, addr, path, bytes.NewReader(body), forwardedHeader(), nil)
}

// Heartbeat posts a node's directory record to the registry member at
// addr (POST /v1/registry/heartbeat), which proposes it.
func (c *Client) Heartbeat(ctx context.Context, addr string, rec raftfsm.NodeRecord) error {
	return c.postJSON(ctx, addr, "/v1/registry/heartbeat", rec)
}

// Forwarder sends a request on to the group's leader.
type Forwarder struct {
	Client *Client
	// Members looks up the addresses a member announced.
	Members func(id string) (MemberAddrs, bool)
	// Timeout bounds the forwarded request.
	Timeout time.Duration
	// Count counts forwarded requests by result ("ok" or an error code).
	Count *prometheus.CounterVec
}

// To calls fn once with the admin address of the leader nl names, bounded
// by the timeout. Without a known admin address it returns nl itself
// (not_leader, naming the leader). A not_leader answer from the leader
// gets its address filled in.
func (f Forwarder) To(ctx context.Context, nl *raftfsm.NotLeaderError, fn func(ctx context.Context, addr string) error) error {
	if nl.LeaderID == "" {
		return nl
	}
	m, ok := f.Members(nl.LeaderID)
	if !ok || m.Admin == "" {
		return nl
	}
	ctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	err := fn(ctx, m.Admin)
	result := "ok"
	if err != nil {
		result = ErrorOf(err).Code
	}
	f.Count.WithLabelValues(result).Inc()
	var ae *APIError
	if errors.As(err, &ae) && ae.Code == CodeNotLeader && ae.LeaderAdmin == "" {
		ae.LeaderAdmin = m.Admin
	}
	return err
}
