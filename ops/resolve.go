package ops

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/dnsfront"
)

// resolveOptions are the flags of ddnrs resolve.
type resolveOptions struct {
	Name    string
	Type    string // default A
	Server  string // default 127.0.0.1:5300, a node's default DNS address
	TCP     bool
	Timeout time.Duration
	Output  string // table or json
}

// errResolve is returned when the node's answer is SERVFAIL: the answer
// was not served (no member gave a verifiable one), and the Extended DNS
// Error says why.
var errResolve = errors.New("the node could not give a verified answer")

func newResolveCmd(e *env) *cobra.Command {
	opts := &resolveOptions{}
	cmd := &cobra.Command{
		Use:   "resolve NAME [TYPE] [--server ADDR]",
		Short: "Ask a node for a name and show how the answer was verified",
		Long: `Ask a DDNRS node (--server, default 127.0.0.1:5300) for NAME and TYPE
(default A), with DNSSEC records and the DDNRS audit option (EDNS(0) code
65001, docs/audit-option.md), and print the answer, whether it was verified
against the zone owner's key, the nodes it passed through with the hash
each verified, and its TTL.

A zone the node's own group holds is answered authoritatively ("local");
a zone of another group is fetched from a member and verified first
("verified"). When no member gives a verifiable answer the node returns
SERVFAIL with an Extended DNS Error (RFC 8914), which is printed; the exit
status is then 1.`,
		Example: `  ddnrs resolve www.example.com.
  ddnrs resolve example.com. MX --server 192.0.2.53:53
  ddnrs resolve www.example.com. AAAA --output json`,
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
	return cmd
}

// resolveResult is what ddnrs resolve prints (--output json).
type resolveResult struct {
	Name     string      `json:"name"`
	Type     string      `json:"type"`
	Server   string      `json:"server"`
	Rcode    string      `json:"rcode"`
	Answer   []string    `json:"answer"`
	Status   string      `json:"status"` // local, verified, unverified
	Path     []hopResult `json:"path"`
	TTL      uint32      `json:"ttl"`
	EDE      string      `json:"ede,omitempty"`
	EDEText  string      `json:"ede_text,omitempty"`
	Authored bool        `json:"authoritative"`
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
	switch r.Status {
	case "local":
		fmt.Fprintln(w, "verified: local (the node's own group holds the zone; answered authoritatively)")
	case "verified":
		fmt.Fprintln(w, "verified: yes (against the zone owner's key, by every node on the path)")
	default:
		fmt.Fprintln(w, "verified: no")
	}
	for i, h := range r.Path {
		fmt.Fprintf(w, "path %d: %s hash %s\n", i+1, h.Node, h.Hash)
	}
	fmt.Fprintf(w, "ttl: %ds\n", r.TTL)
	if r.EDE != "" {
		fmt.Fprintf(w, "why: extended error %s: %s\n", r.EDE, r.EDEText)
	}
}
