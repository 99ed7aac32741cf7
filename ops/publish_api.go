package ops

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/api"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// The environment variables `ddnrs zone publish` reads when --api and
// --api-key-file are not given.
const (
	envAPI        = "DDNRS_API"          // the REST API's base URL
	envAPIKeyFile = "DDNRS_API_KEY_FILE" // a file holding the API key
	envAPIKey     = "DDNRS_API_KEY"      // the API key itself (CI secrets)
)

// restPublishTimeout bounds a publish over the REST API, retries of a
// group without a leader (503 with Retry-After) included (or --timeout,
// when longer); a staged upload has --timeout more per command.
const restPublishTimeout = 60 * time.Second

// maxRESTAnswer bounds an answer of the REST API publish reads: the
// export of a zone of 2,000,000 RRsets (the default max_zone_rrsets)
// fits.
const maxRESTAnswer = 2 << 30

// restClient talks to the REST API with an API key.
type restClient struct {
	base string // no trailing slash
	key  string
	hc   *http.Client
}

// restError is an error answer of the REST API.
type restError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
	Field   string `json:"field"`
}

func (e *restError) Error() string {
	s := fmt.Sprintf("%d %s", e.Status, e.Code)
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// newRESTClient resolves --api and the key: flags first, then the
// environment.
func newRESTClient(apiURL, keyFile string) (*restClient, error) {
	if apiURL == "" {
		apiURL = os.Getenv(envAPI)
	}
	u, err := url.Parse(apiURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--api %q: want the REST API's URL, such as https://ddnrs.example.net:8443 (or set %s)", apiURL, envAPI)
	}
	if keyFile == "" {
		keyFile = os.Getenv(envAPIKeyFile)
	}
	var key string
	switch {
	case keyFile != "":
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, withHint(err, "--api-key-file is the file holding the API key the registry issued you")
		}
		key = strings.TrimSpace(string(b))
	case os.Getenv(envAPIKey) != "":
		key = strings.TrimSpace(os.Getenv(envAPIKey))
	default:
		return nil, usagef("--api needs an API key: --api-key-file FILE, or %s / %s in the environment", envAPIKeyFile, envAPIKey)
	}
	if !strings.HasPrefix(key, "ddnrs_") {
		return nil, withHint(errors.New("the API key does not look like one (it starts with ddnrs_)"), "use the key string your application's status page or the operator gave you")
	}
	// No overall timeout per request: the caller's ctx bounds each (an
	// export of a large zone takes a while).
	return &restClient{base: strings.TrimRight(u.String(), "/"), key: key, hc: &http.Client{}}, nil
}

// do sends one request and decodes a JSON answer into out (when not nil).
// A 503 with Retry-After (no leader, outcome unknown) is sent again until
// ctx ends: the group answers a resend of a committed change as done.
func (c *restClient) do(ctx context.Context, method, path string, body any, out any) (http.Header, []byte, error) {
	var payload []byte
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case []byte: // an encoded command
		payload, ct = b, "application/octet-stream"
	default:
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, nil, err
		}
	}
	for {
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(payload))
		if err != nil {
			return nil, nil, err
		}
		if c.key != "" {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		if body != nil {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %s: %w", method, c.base+path, err)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxRESTAnswer))
		resp.Body.Close()
		if err != nil {
			return nil, nil, err
		}
		if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" {
			wait := time.Second
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 && s < 30 {
				wait = time.Duration(s) * time.Second
			}
			select {
			case <-ctx.Done():
				return nil, nil, fmt.Errorf("%s %s: still unavailable (%s) when the deadline came: %w", method, path, strings.TrimSpace(string(b)), ctx.Err())
			case <-time.After(wait):
				continue
			}
		}
		if resp.StatusCode >= 300 {
			var e struct {
				Error restError `json:"error"`
			}
			_ = json.Unmarshal(b, &e)
			e.Error.Status = resp.StatusCode
			if e.Error.Code == "" {
				e.Error.Code, e.Error.Message = http.StatusText(resp.StatusCode), strings.TrimSpace(string(b))
			}
			return resp.Header, b, &e.Error
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				return nil, nil, fmt.Errorf("%s %s: answer %q: %w", method, path, b, err)
			}
		}
		return resp.Header, b, nil
	}
}

// zone fetches the group's copy of origin through the REST API, its head
// verified against k; nil when there is none.
func (c *restClient) zone(ctx context.Context, origin string, k *zone.Key) (*zone.Zone, error) {
	h, body, err := c.do(ctx, "GET", "/v1/zones/"+url.PathEscape(origin)+"/export", nil, nil)
	var re *restError
	if errors.As(err, &re) && re.Status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the group's copy of %s: %w", origin, err)
	}
	z, err := zone.ParseFile(bytes.NewReader(body), origin, "the group's copy of "+origin)
	if err != nil {
		return nil, fmt.Errorf("the API sent a copy of %s that does not parse: %w", origin, err)
	}
	note, err := base64.StdEncoding.DecodeString(h.Get("Ddnrs-Zone-Head"))
	if err != nil || len(note) == 0 {
		return nil, fmt.Errorf("the API sent a copy of %s without a signed head", origin)
	}
	head, err := zone.ParseHead(note, k)
	if err != nil {
		return nil, withHint(fmt.Errorf("the group's copy of %s is not signed by key %d: %w", origin, k.Tag(), err),
			"sign with the key the zone was created with, or hand the zone to this key with --rotate-from OLDKEY")
	}
	if head.Serial != z.Serial() {
		return nil, fmt.Errorf("the API sent %s at serial %d with a head for serial %d", origin, z.Serial(), head.Serial)
	}
	z.Head = head
	return z, nil
}

// runPublishAPI publishes through the REST API with an API key: no
// cluster certificate, the owner's own route.
func runPublishAPI(ctx context.Context, e *env, opts *publishOptions, k, oldKey *zone.Key, u *zone.Zone) error {
	c, err := newRESTClient(opts.API, opts.APIKeyFile)
	if err != nil {
		return err
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, max(restPublishTimeout, opts.Timeout))
	defer cancel()
	origin := u.Origin
	headKey := k
	if oldKey != nil {
		headKey = oldKey
	}
	old, err := c.zone(ctx, origin, headKey)
	if err != nil {
		return err
	}
	if opts.Delete {
		return deleteAPI(ctx, c, opts, old, origin, k)
	}
	if old != nil && (opts.CreateOnly || opts.Expires != "" || opts.Idle != "") {
		return withHint(fmt.Errorf("the group holds %s already (serial %d)", origin, old.Serial()),
			"publish changes it ('ddnrs zone publish'); 'ddnrs zone lease' changes an ephemeral zone's lease")
	}
	lease, err := leaseBody(opts, e.now())
	if err != nil {
		return err
	}
	if oldKey != nil && old == nil {
		return usagef("the group has no zone %s to rotate: publish it without --rotate-from", origin)
	}
	if opts.Validity <= 0 {
		return usagef("--validity %s: want a positive duration such as 720h", opts.Validity)
	}
	now := e.now()
	popt := zone.PrepareOptions{Sign: zone.SignOptions{Inception: now.Add(-time.Hour), Expiration: now.Add(opts.Validity), Now: now},
		Margin: min(zone.RefreshMargin, opts.Validity/3)}
	plan, err := planWith(old, old, u, k, oldKey, popt)
	if err != nil {
		return err
	}
	if opts.Serial == "date" && plan.Cmd != nil {
		// Only a zone that changes gets a new date serial: an unchanged
		// file stays unchanged.
		var stored uint32
		if old != nil {
			stored = old.Serial()
		}
		if u, err = zone.WithSerial(u, zone.DateSerial(stored, e.now())); err != nil {
			return err
		}
		if plan, err = planWith(old, old, u, k, oldKey, popt); err != nil {
			return err
		}
	}
	if opts.Output != "json" {
		printDiff(opts.out, old, plan.New)
	}
	if plan.Cmd == nil {
		return reportPublish(opts.out, opts.Output, plan, nil)
	}
	query := ""
	if opts.DryRun {
		query = "?dry_run=true"
	}
	var res struct {
		Zone   string `json:"zone"`
		Group  string `json:"group"`
		Serial uint32 `json:"serial"`
		DryRun bool   `json:"dry_run"`
		Repeat bool   `json:"repeat"`
		Lease  *struct {
			Deadline time.Time `json:"deadline"`
		} `json:"lease"`
	}
	if plan.Staged != nil {
		return publishStagedAPI(parent, c, opts, plan)
	}
	if plan.Create {
		if opts.DryRun {
			fmt.Fprintf(opts.out, "dry run: %s would be created at serial %d (%d RRsets); nothing sent\n", origin, plan.New.Serial(), plan.Put)
			return nil
		}
		var text bytes.Buffer
		if err := zone.Write(&text, plan.New); err != nil {
			return err
		}
		body := map[string]any{"zone_file": text.String(), "head": string(plan.New.Head.Note)}
		for k, v := range lease {
			body[k] = v
		}
		if opts.Delegation != "" {
			d, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(opts.Delegation))
			if derr != nil || len(d) != 64 {
				return usagef("--delegation: want the base64 signature 'ddnrs zone delegate' printed (%v)", derr)
			}
			body["delegation"] = d
		}
		_, _, err = c.do(ctx, "POST", "/v1/zones", body, &res)
	} else {
		var change api.SignedChange
		change, err = jsonChange(plan.Cmd)
		if err == nil {
			_, _, err = c.do(ctx, "POST", "/v1/zones/"+url.PathEscape(origin)+"/changes"+query, map[string]any{"change": change}, &res)
		}
	}
	if err != nil {
		return restHint(fmt.Errorf("publish %s: %w", origin, err))
	}
	if opts.DryRun {
		fmt.Fprintf(opts.out, "dry run: the group accepts %s at serial %d (%d RRsets put, %d deleted); nothing applied\n", origin, res.Serial, plan.Put, plan.Delete)
		return nil
	}
	if err := reportPublishAPI(opts.out, opts.Output, plan, res.Serial, res.Repeat, res.Group); err != nil {
		return err
	}
	if res.Lease != nil && opts.Output != "json" {
		_, err = fmt.Fprintf(opts.out, "ephemeral: the group tears %s down at %s unless extended ('ddnrs zone lease')\n", origin, res.Lease.Deadline.UTC().Format(time.RFC3339))
	}
	return err
}

// publishStagedAPI sends a zone whose change does not fit in one Raft
// log entry as a staged upload through POST /v1/zones/{zone}/upload,
// showing progress on stderr and resuming after interruptions.
func publishStagedAPI(ctx context.Context, c *restClient, opts *publishOptions, plan *publishPlan) error {
	chunks := len(plan.Staged) - 2
	if opts.DryRun {
		fmt.Fprintf(opts.out, "dry run: %s would be sent whole as a staged upload of %d chunks (%d RRsets, serial %d), which the group checks only as it arrives; nothing sent\n", plan.Origin, chunks, plan.Put, plan.New.Serial())
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, restPublishTimeout+opts.Timeout*time.Duration(len(plan.Staged)))
	defer cancel()
	u := &uploader{to: &restRoute{c: c, origin: plan.Origin}, out: opts.errOut, origin: plan.Origin, tries: 10, pause: 500 * time.Millisecond}
	res, err := u.upload(ctx, plan.Staged)
	if err != nil {
		return restHint(fmt.Errorf("publish %s: %w", plan.Origin, err))
	}
	return reportPublishAPI(opts.out, opts.Output, plan, res.Serial, res.Repeat, res.group)
}

// restRoute sends a staged upload through the REST API
// (POST /v1/zones/{zone}/upload), one command a request.
type restRoute struct {
	c      *restClient
	origin string
}

func (r *restRoute) start(context.Context) error { return nil }

func (r *restRoute) send(ctx context.Context, cmd []byte) (uploadStep, error) {
	var res struct {
		Group       string `json:"group"`
		Serial      uint32 `json:"serial"`
		Staged      uint32 `json:"staged"`
		StagedKnown bool   `json:"staged_known"`
		Repeat      bool   `json:"repeat"`
	}
	path := "/v1/zones/" + url.PathEscape(r.origin) + "/upload"
	for {
		h, _, err := r.c.do(ctx, "POST", path, cmd, &res)
		var re *restError
		if errors.As(err, &re) && re.Status == http.StatusTooManyRequests {
			// The key's rate limit (begins and commits draw from it):
			// wait as long as the API says, within ctx.
			wait := time.Second
			if s, perr := strconv.Atoi(h.Get("Retry-After")); perr == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
			if !sleepCtx(ctx, wait) {
				return uploadStep{}, err
			}
			continue
		}
		if err != nil {
			return uploadStep{}, err
		}
		return uploadStep{Serial: res.Serial, Staged: res.Staged, Known: res.StagedKnown, Repeat: res.Repeat, group: res.Group}, nil
	}
}

// resumable reports whether an upload through the REST API may go on
// after err: the request did not reach an answer, the group had no
// leader or could not say whether the command committed, or the group
// lost the open upload or expects another chunk (a new begin tells where
// it stands).
func (r *restRoute) resumable(err error) bool {
	var re *restError
	if !errors.As(err, &re) {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	switch {
	case re.Status == http.StatusServiceUnavailable, re.Status == http.StatusGatewayTimeout, re.Status == http.StatusBadGateway:
		return true
	case re.Code == "rejected":
		return re.Reason == string(raftfsm.ReasonNoStaging) || re.Reason == string(raftfsm.ReasonChunkOrder)
	}
	return false
}

// jsonChange turns an encoded change or rotation into its JSON form.
func jsonChange(cmd []byte) (api.SignedChange, error) {
	c, err := raftfsm.DecodeCommand(cmd)
	if err != nil {
		return api.SignedChange{}, err
	}
	switch c := c.(type) {
	case *raftfsm.PublishChange:
		return api.NewSignedChange(c.Change, nil), nil
	case *raftfsm.RotateKey:
		return api.NewSignedChange(c.Change, c), nil
	}
	return api.SignedChange{}, fmt.Errorf("a %s is not a change", c.Type())
}

// deleteAPI deletes the zone, signed by its owner key.
func deleteAPI(ctx context.Context, c *restClient, opts *publishOptions, old *zone.Zone, origin string, k *zone.Key) error {
	if old == nil {
		return withHint(fmt.Errorf("the group has no zone %s", origin), "nothing to delete: check the zone name and --api")
	}
	cmd, err := raftfsm.DeleteCommand(old, k)
	if err != nil {
		return err
	}
	dc, err := raftfsm.DecodeCommand(cmd)
	if err != nil {
		return err
	}
	del := dc.(*raftfsm.DeleteZone)
	if opts.DryRun {
		fmt.Fprintf(opts.out, "dry run: %s (serial %d, %d RRsets) would be deleted and its name released; nothing sent\n", origin, old.Serial(), len(old.RRsets()))
		return nil
	}
	body := map[string]any{"delete_zone": api.SignedDeletion{Version: api.ChangeFormatVersion, Zone: del.Zone, Serial: del.Serial, Proof: del.Proof}}
	if _, _, err := c.do(ctx, "DELETE", "/v1/zones/"+url.PathEscape(origin), body, nil); err != nil {
		return restHint(fmt.Errorf("delete %s: %w", origin, err))
	}
	if opts.Output == "json" {
		return writeJSONTo(opts.out, map[string]any{"zone": origin, "action": "deleted", "serial": old.Serial()})
	}
	_, err = fmt.Fprintf(opts.out, "deleted %s (was at serial %d); its name is free again\n", origin, old.Serial())
	return err
}

// restHint adds what to do about the REST API's common refusals.
func restHint(err error) error {
	var re *restError
	if !errors.As(err, &re) {
		return err
	}
	switch {
	case re.Status == http.StatusUnauthorized:
		return withHint(err, "the API key is unknown, expired or revoked: check --api-key-file")
	case re.Code == "out_of_scope":
		return withHint(err, "the API key's scope does not cover this change: ask for a key that does, or change only what it covers")
	case re.Reason == string(raftfsm.ReasonStaleSerial):
		return withHint(err, "someone published meanwhile: run publish again (it reads the group's serial first)")
	case re.Reason == string(raftfsm.ReasonChildrenClaimed):
		return withHint(err, "each child zone's owner must consent ('ddnrs zone consent'); send the consents with the REST API's create")
	case re.Reason == string(raftfsm.ReasonDelegationRequired):
		return withHint(err, "the enclosing zone's owner must sign your delegation ('ddnrs zone delegate')")
	case re.Status == http.StatusTooManyRequests:
		return withHint(err, "the key's rate limit: wait and run publish again")
	}
	return err
}

// printDiff writes what the new zone changes against old, one RRset a
// line: + added, - removed, ~ changed data; NSEC and signature refreshes
// are summed up, not listed.
func printDiff(w io.Writer, old, next *zone.Zone) {
	was := map[zone.RRKey]*zone.RRset{}
	if old != nil {
		for _, s := range old.RRsets() {
			was[zone.RRKey{Name: s.Name, Type: s.Type}] = s
		}
	}
	refreshed := 0
	for _, s := range next.RRsets() {
		k := zone.RRKey{Name: s.Name, Type: s.Type}
		o, ok := was[k]
		delete(was, k)
		if s.Type == dns.TypeNSEC {
			continue
		}
		switch {
		case !ok:
			fmt.Fprintf(w, "+ %s %s\n", s.Name, rrsetText(s))
		case !sameRRs(o, s):
			fmt.Fprintf(w, "~ %s %s\n", s.Name, rrsetText(s))
		case !sameSigs(o, s):
			refreshed++
		}
	}
	for k := range was {
		if k.Type != dns.TypeNSEC {
			fmt.Fprintf(w, "- %s %s\n", k.Name, dns.TypeToString[k.Type])
		}
	}
	if refreshed > 0 {
		fmt.Fprintf(w, "  (%d RRsets re-signed with the same data)\n", refreshed)
	}
}

// rrsetText is an RRset's type, TTL and data on one line.
func rrsetText(s *zone.RRset) string {
	parts := make([]string, 0, s.NumRecords())
	for _, rr := range s.Records() {
		f := strings.SplitN(rr.String(), "\t", 5)
		parts = append(parts, f[len(f)-1])
	}
	return fmt.Sprintf("%s %d %s", dns.TypeToString[s.Type], s.TTL, strings.Join(parts, " | "))
}

func sameRRs(a, b *zone.RRset) bool {
	if a.TTL != b.TTL || a.NumRecords() != b.NumRecords() {
		return false
	}
	for _, rr := range a.Records() {
		found := false
		for _, o := range b.Records() {
			if dns.IsDuplicate(rr, o) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func sameSigs(a, b *zone.RRset) bool {
	if a.NumSignatures() != b.NumSignatures() {
		return false
	}
	for i := range a.Signatures() {
		if a.Signatures()[i].Signature != b.Signatures()[i].Signature {
			return false
		}
	}
	return true
}

// reportPublishAPI prints the outcome of a publish through the REST API.
func reportPublishAPI(w io.Writer, output string, p *publishPlan, serial uint32, repeat bool, group string) error {
	j := publishJSON{Zone: p.Origin, Action: p.what(), Serial: serial, Repeat: repeat, Put: p.Put, Delete: p.Delete}
	if p.Old != nil {
		j.OldSerial = p.Old.Serial()
	}
	if output == "json" {
		return writeJSONTo(w, j)
	}
	var err error
	switch {
	case repeat:
		_, err = fmt.Fprintf(w, "%s is at serial %d: an earlier send of this change had committed it\n", p.Origin, serial)
	case p.Create:
		_, err = fmt.Fprintf(w, "created %s at serial %d (%d RRsets) on group %s\n", p.Origin, serial, p.Put, group)
	default:
		_, err = fmt.Fprintf(w, "%s %s: serial %d -> %d (%d RRsets put, %d deleted)\n", p.what(), p.Origin, j.OldSerial, serial, p.Put, p.Delete)
	}
	return err
}
