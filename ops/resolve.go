package ops

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/translog"
)

// resolveOptions are the flags of ddnrs resolve.
type resolveOptions struct {
	Name    string
	Type    string // default A
	Server  string // default 127.0.0.1:5300, a node's default DNS address
	TCP     bool
	Timeout time.Duration
	Output  string // table or json
	// TrustAnchor is a file of DNSKEY records (zone-file form, an
	// owner's .key file) the answer is verified against. Default none.
	TrustAnchor string
	// Log is the REST API base URL of a node serving the registry's
	// transparency log; LogKey its verifier key (or a file holding it),
	// LogOrigin the checkpoints' origin (default the key's name): the
	// owner keys are taken from the log. Default none.
	Log, LogKey, LogOrigin string
}

var (
	// errResolve is returned when the node's answer is SERVFAIL: the
	// answer was not served (no member gave a verifiable one), and the
	// Extended DNS Error says why.
	errResolve = errors.New("the node could not give a verified answer")
	// errNotVerified is returned when ddnrs resolve itself refused the
	// answer: it does not verify against the trusted owner key.
	errNotVerified = errors.New("the answer does not verify against the zone owner's key")
)

func newResolveCmd(e *env) *cobra.Command {
	opts := &resolveOptions{}
	cmd := &cobra.Command{
		Use:   "resolve NAME [TYPE] [--server ADDR]",
		Short: "Ask a node for a name and verify the answer against the zone owner's key",
		Long: `Ask a DDNRS node (--server, default 127.0.0.1:5300) for NAME and TYPE
(default A), with DNSSEC records and the DDNRS audit option (EDNS(0) code
65001, docs/audit-option.md), verify the answer here, and print it, whether
and against which key it verified, what the node says of it, the nodes it
passed through with the hash each verified, and its TTL.

Verification needs the zone owner's public key, the trust anchor:
  --trust-anchor FILE   DNSKEY records in zone-file form (the owner's .key
                        file, a node's trust_anchors file), pinned by you;
  --log URL --log-key K the owner keys the registry's transparency log
                        holds, read from a node's REST API (URL) and checked
                        against the log's verifier key K (or a file holding
                        it; 'ddnrs dev' keeps it in DATA/log.pub): every
                        checkpoint's signature, and that its entries hash
                        to its root.
With both, the pinned keys win for the zones they name.

What is verified: the DNSSEC signatures (RRSIG) of every RRset in the
answer and authority sections with that key, valid now, and that the
answer answers the question: the CNAME chain, the NSEC records of a
denial (NXDOMAIN, NODATA) and of a wildcard answer. What is not: a
plain DNS answer carries no Merkle proof nor the zone's signed head, so
the zone's serial is not checked (an older version of the zone, signed
and not yet expired, would pass); a referral's NS and glue are unsigned
(RFC 4035) and listed as such. A node of another group checks those too
before it serves an answer; its claim is printed as "node says".

Without a trust anchor the answer is not verified here ("verified: not
checked") and only the node's claim is shown. Exit status 1 when the
answer does not verify, or the node returns SERVFAIL (its Extended DNS
Error, RFC 8914, is printed).`,
		Example: `  ddnrs resolve www.example.com. --trust-anchor Kexample.com.+015+12345.key
  ddnrs resolve www.demo.ddnrs. --server 127.0.0.1:5300 \
      --log http://127.0.0.1:8080 --log-key ./ddnrs-dev/log.pub
  ddnrs resolve example.com. MX --server 192.0.2.53:53 --trust-anchor anchors
  ddnrs resolve nothere.example.com. AAAA --trust-anchor anchors --output json
  ddnrs resolve www.example.com.           (no anchor: shows the node's claim only)`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if len(args) == 2 {
				opts.Type = args[1]
			}
			return runResolve(cmd.Context(), e, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Server, "server", "127.0.0.1:5300", "the node's DNS address")
	cmd.Flags().BoolVar(&opts.TCP, "tcp", false, "ask over TCP (default UDP, TCP when truncated)")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "table", "table, or json")
	cmd.Flags().StringVar(&opts.TrustAnchor, "trust-anchor", "", "file of DNSKEY records to verify the answer against (the owner's .key file)")
	cmd.Flags().StringVar(&opts.Log, "log", "", "REST API base URL of a node serving the registry's transparency log, to take the owner key from")
	cmd.Flags().StringVar(&opts.LogKey, "log-key", "", "the log's verifier key, or a file holding it (with --log)")
	cmd.Flags().StringVar(&opts.LogOrigin, "log-origin", "", "the log checkpoints' origin line (default: the verifier key's name)")
	return cmd
}

// resolveResult is what ddnrs resolve prints (--output json).
type resolveResult struct {
	Name     string      `json:"name"`
	Type     string      `json:"type"`
	Server   string      `json:"server"`
	Rcode    string      `json:"rcode"`
	Answer   []string    `json:"answer"`
	Status   string      `json:"status"` // what the node says: local, verified, unverified
	Path     []hopResult `json:"path"`
	TTL      uint32      `json:"ttl"`
	EDE      string      `json:"ede,omitempty"`
	EDEText  string      `json:"ede_text,omitempty"`
	Authored bool        `json:"authoritative"`
	// Verified says what ddnrs resolve checked itself; Status above is
	// what the node says.
	Verified verifyResult `json:"verified"`
}

// verifyResult is ddnrs resolve's own verification of the answer.
type verifyResult struct {
	// Result is "yes", "no" or "not checked" (no trust anchor given).
	Result string `json:"result"`
	// Checked names what was verified ("DNSSEC signatures and NSEC").
	Checked string `json:"checked,omitempty"`
	Zone    string `json:"zone,omitempty"`
	KeyTag  uint16 `json:"key_tag,omitempty"`
	// KeySource is where the key came from: the file, or the log.
	KeySource string `json:"key_source,omitempty"`
	// Unsigned lists RRsets that no signature covers (a referral's NS
	// and glue), vouched for only by the Merkle proof a node checks.
	Unsigned []string `json:"unsigned,omitempty"`
	// NotChecked says what a plain DNS answer cannot prove.
	NotChecked string `json:"not_checked,omitempty"`
	Error      string `json:"error,omitempty"`
}

type hopResult struct {
	Node string `json:"node"`
	Hash string `json:"hash"`
}

func runResolve(ctx context.Context, e *env, opts *resolveOptions) error {
	if opts.Output != "table" && opts.Output != "json" {
		return usagef("--output %q: want table or json", opts.Output)
	}
	qtype := dns.TypeA
	if opts.Type != "" {
		t, ok := dns.StringToType[strings.ToUpper(opts.Type)]
		if !ok {
			return usagef("unknown record type %q", opts.Type)
		}
		qtype = t
	}
	name := dns.Fqdn(opts.Name)
	if _, ok := dns.IsDomainName(name); !ok {
		return usagef("%q is not a domain name", opts.Name)
	}
	if (opts.Log == "") != (opts.LogKey == "") {
		return usagef("--log URL and --log-key KEY go together")
	}
	if opts.Log != "" && !strings.HasPrefix(opts.Log, "http://") && !strings.HasPrefix(opts.Log, "https://") {
		return usagef("--log %q: want an http:// or https:// URL (a node's REST API)", opts.Log)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout+30*time.Second)
	defer cancel()
	anchors, err := resolveAnchors(ctx, opts)
	if err != nil {
		return err
	}
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = false
	q.SetEdns0(dns.DefaultMsgSize, true)
	o := q.IsEdns0()
	o.Option = append(o.Option, &dns.EDNS0_LOCAL{Code: dnsfront.AuditOptionCode})
	c := &dns.Client{Net: "udp", Timeout: opts.Timeout}
	if opts.TCP {
		c.Net = "tcp"
	}
	r, _, err := c.ExchangeContext(ctx, q, opts.Server)
	if err == nil && r.Truncated && !opts.TCP {
		c.Net = "tcp"
		r, _, err = c.ExchangeContext(ctx, q, opts.Server)
	}
	if err != nil {
		return fmt.Errorf("ask %s: %w", opts.Server, err)
	}
	res, err := describe(r, opts.Server)
	if err != nil {
		return err
	}
	verr := verifyHere(res, r, name, qtype, anchors)
	if opts.Output == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		printResolve(e.stdout, res)
	}
	if r.Rcode == dns.RcodeServerFailure {
		return fmt.Errorf("%w: %s %s", errResolve, res.EDE, res.EDEText)
	}
	if verr != nil {
		return withHint(fmt.Errorf("%w: %v", errNotVerified, verr),
			"the node, or the network between, changed the answer; or the trust anchor is not the zone's current owner key")
	}
	return nil
}

// describe reads the answer, the audit option and any Extended DNS Error
// out of r.
func describe(r *dns.Msg, server string) (*resolveResult, error) {
	res := &resolveResult{
		Name: r.Question[0].Name, Type: dns.TypeToString[r.Question[0].Qtype], Server: server,
		Rcode: dns.RcodeToString[r.Rcode], Answer: []string{}, Path: []hopResult{},
		Authored: r.Authoritative, Status: "unverified",
	}
	ttl, seen := uint32(0), false
	for _, rr := range r.Answer {
		if rr.Header().Rrtype != dns.TypeRRSIG {
			res.Answer = append(res.Answer, rr.String())
		}
		if !seen || rr.Header().Ttl < ttl {
			ttl, seen = rr.Header().Ttl, true
		}
	}
	if !seen {
		for _, rr := range r.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				ttl, seen = min(soa.Hdr.Ttl, soa.Minttl), true
			}
		}
	}
	res.TTL = ttl
	audit := false
	if o := r.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			switch v := opt.(type) {
			case *dns.EDNS0_LOCAL:
				if v.Code != dnsfront.AuditOptionCode {
					continue
				}
				verified, hops, err := dnsfront.DecodeAudit(v.Data)
				if err != nil {
					return nil, err
				}
				audit = true
				if verified {
					res.Status = "verified"
				}
				for _, h := range hops {
					res.Path = append(res.Path, hopResult{Node: h.Node, Hash: hex.EncodeToString(h.Hash[:])})
				}
			case *dns.EDNS0_EDE:
				res.EDE = fmt.Sprintf("%d (%s)", v.InfoCode, dns.ExtendedErrorCodeToString[v.InfoCode])
				res.EDEText = v.ExtraText
			}
		}
	}
	if !audit && r.Authoritative && r.Rcode != dns.RcodeServerFailure && r.Rcode != dns.RcodeRefused {
		res.Status = "local" // the node's own group holds the zone
	}
	return res, nil
}

func printResolve(w io.Writer, r *resolveResult) {
	fmt.Fprintf(w, "%s %s from %s: %s\n", r.Name, r.Type, r.Server, r.Rcode)
	for _, a := range r.Answer {
		fmt.Fprintf(w, "  %s\n", a)
	}
	v := r.Verified
	switch v.Result {
	case "yes":
		fmt.Fprintf(w, "verified: yes, here: %s, against %s key tag %d (%s)\n", v.Checked, v.Zone, v.KeyTag, v.KeySource)
	case "no":
		fmt.Fprintf(w, "verified: no, here: %s\n", v.Error)
	case "not checked":
		if v.Error != "" {
			fmt.Fprintf(w, "verified: not checked: %s\n", v.Error)
		} else {
			fmt.Fprintln(w, "verified: not checked (no trust anchor: pass --trust-anchor FILE, or --log URL --log-key KEY)")
		}
	}
	if len(v.Unsigned) > 0 {
		fmt.Fprintf(w, "unsigned: %s (a referral's NS and glue: no signature covers them)\n", strings.Join(v.Unsigned, ", "))
	}
	if v.NotChecked != "" {
		fmt.Fprintf(w, "not checked: %s\n", v.NotChecked)
	}
	switch r.Status {
	case "local":
		fmt.Fprintln(w, "node says: local (its own group holds the zone; answered authoritatively)")
	case "verified":
		fmt.Fprintln(w, "node says: verified (against the zone owner's key, by every node on the path)")
	default:
		fmt.Fprintln(w, "node says: not verified")
	}
	for i, h := range r.Path {
		fmt.Fprintf(w, "path %d: %s hash %s\n", i+1, h.Node, h.Hash)
	}
	fmt.Fprintf(w, "ttl: %ds\n", r.TTL)
	if r.EDE != "" {
		fmt.Fprintf(w, "why: extended error %s: %s\n", r.EDE, r.EDEText)
	}
}

// trustedAnchors are the owner keys ddnrs resolve verifies with, and
// where each came from.
type trustedAnchors struct {
	keys   client.Anchors
	source map[string]string // zone -> "FILE" or "registry log at URL, checkpoint size N"
}

// resolveAnchors reads --trust-anchor and follows --log; nil when
// neither is given.
func resolveAnchors(ctx context.Context, opts *resolveOptions) (*trustedAnchors, error) {
	if opts.TrustAnchor == "" && opts.Log == "" {
		return nil, nil
	}
	ta := &trustedAnchors{keys: client.Anchors{}, source: map[string]string{}}
	if opts.Log != "" {
		v, err := logVerifier(opts.LogKey)
		if err != nil {
			return nil, err
		}
		src := &translog.HTTPSource{BaseURL: strings.TrimRight(opts.Log, "/"), Client: &http.Client{Timeout: opts.Timeout}, Retries: logRetries}
		st := client.NewLogState()
		leaves, err := st.Extend(ctx, src, v, opts.LogOrigin)
		if err != nil {
			return nil, withHint(fmt.Errorf("reading the registry's log at %s: %w", opts.Log, err),
				"check --log is a node's REST API serving the log, and --log-key (and --log-origin) are the log's")
		}
		for _, l := range leaves {
			if e, err := translog.ParseEntry(l); err == nil {
				st.Apply(e, time.Now(), 0)
			}
		}
		for z, k := range st.TrustAnchors(nil) {
			ta.keys[z] = k
			ta.source[z] = fmt.Sprintf("from the registry's transparency log at %s, checkpoint of %d entries", opts.Log, st.Size)
		}
	}
	if opts.TrustAnchor != "" {
		a, err := client.LoadAnchors(opts.TrustAnchor)
		if err != nil {
			return nil, withHint(fmt.Errorf("--trust-anchor: %w", err), "the file must hold DNSKEY records in zone-file form, such as the owner's .key file")
		}
		for z, k := range a {
			ta.keys[z] = k
			ta.source[z] = "pinned in " + opts.TrustAnchor
		}
	}
	return ta, nil
}

// notChecked is what a plain DNS answer cannot prove (issue 13 adds the
// proof in band).
const notChecked = "the zone's serial (no signed zone head or Merkle proof comes with a DNS answer)"

// verifyHere verifies r, the node's answer to (name, t), with anchors and
// records the outcome in res; it returns why the answer does not verify,
// nil when it does or when there is nothing to verify with (no anchors,
// or a SERVFAIL or REFUSED that carries no answer).
func verifyHere(res *resolveResult, r *dns.Msg, name string, t uint16, anchors *trustedAnchors) error {
	if anchors == nil {
		res.Verified = verifyResult{Result: "not checked"}
		return nil
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		res.Verified = verifyResult{Result: "not checked", Error: "the node gave no answer (" + dns.RcodeToString[r.Rcode] + ")"}
		return nil
	}
	got, err := client.NewVerifier(anchors.keys, nil).VerifyDNSSEC(name, t, r)
	if err != nil {
		res.Verified = verifyResult{Result: "no", Error: err.Error()}
		var ve *client.VerifyError
		if errors.As(err, &ve) {
			if k := anchors.keys[ve.Zone]; k != nil {
				res.Verified.Zone, res.Verified.KeyTag, res.Verified.KeySource = ve.Zone, k.Tag(), anchors.source[ve.Zone]
			}
		}
		return err
	}
	res.Verified = verifyResult{Result: "yes", Checked: "DNSSEC signatures (RRSIG) and NSEC denial", Zone: got.Zone,
		KeyTag: got.Key.Tag(), KeySource: anchors.source[got.Zone], Unsigned: got.Unsigned, NotChecked: notChecked}
	return nil
}
