package ops

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/internal/atomicfile"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/zone"
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
	// LogState is a file keeping what --log read (the last verified
	// checkpoint and the owner keys), so the next run checks that the
	// log only grew since. Default none: the log is read afresh.
	LogState string
	// Trace asks for the query trace (EDNS 65003) and prints each hop.
	Trace bool
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
(default A) with DNSSEC records, the proofs option (EDNS(0) code 65002,
docs/proofs-option.md) and the audit option (65001, docs/audit-option.md);
verify the answer here with the zone owner's key; and print it: whether
and against which key it verified, the zone's serial, the size of the
proof, the verification hash, what the node says of it, the nodes it
passed through with the hash each verified, and its TTL. --trace also
asks for the query trace (65003, docs/trace-option.md) and prints each
hop with its time.

Verification needs the zone owner's public key, the trust anchor:
  --trust-anchor FILE   DNSKEY records in zone-file form (the owner's .key
                        file, a node's trust_anchors file), pinned by you;
  --log URL --log-key K the owner keys the registry's transparency log
                        holds, read from a node's REST API (URL) and checked
                        against the log's verifier key K (or a file holding
                        it; 'ddnrs dev' keeps it in DATA/log.pub): every
                        checkpoint's signature, and that its entries hash
                        to its root. With --log-state FILE the checkpoint
                        is kept, and the next run checks the log extends it
                        (a log showing two histories is caught).
With both, the pinned keys win for the zones they name.

What is verified, with the proofs the node sends in band: the DNSSEC
signatures (RRSIG) of every RRset with that key, valid now; the Merkle
proof of every RRset (answer, authority and additional: a referral's
unsigned NS and glue included) under the zone's signed head, which the
owner signed; that the answer answers the question (the CNAME chain, the
NSEC records of a denial and of a wildcard answer). The zone's serial is
printed: compare it across nodes, or with what the owner published. A
node that sends no proofs (an older node) is checked on the DNSSEC
records only, and the output says what was not checked.

Over UDP a node sends proofs only to an address a DNS cookie proved, and
an answer with its proofs is often larger than 1232 bytes: either way it
comes back truncated and is asked again over TCP (--tcp to start there).

Without a trust anchor the answer is not verified here ("verified: not
checked") and only the node's claim is shown. Exit status 1 when the
answer does not verify, or the node returns SERVFAIL (its Extended DNS
Error, RFC 8914, is printed).`,
		Example: `  ddnrs resolve www.example.com. --trust-anchor Kexample.com.+015+12345.key
  ddnrs resolve www.demo.ddnrs. --server 127.0.0.1:5300 \
      --log http://127.0.0.1:8080 --log-key ./ddnrs-dev/log.pub --log-state ~/.ddnrs-log.json
  ddnrs resolve example.com. MX --server 192.0.2.53:53 --trust-anchor anchors --trace
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
	cmd.Flags().StringVar(&opts.LogState, "log-state", "", "file keeping the log's last verified checkpoint and owner keys between runs (with --log)")
	cmd.Flags().BoolVar(&opts.Trace, "trace", false, "ask for the query trace and print each hop with its time")
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
	// Proofs is what the node sent in the proofs option.
	Proofs proofsResult `json:"proofs"`
	// Trace is the query's hops (--trace), when the node sent them.
	Trace []traceResult `json:"trace,omitempty"`
}

// proofsResult describes the proofs option of the answer.
type proofsResult struct {
	// Status is "proved", or why the node sent none ("no proofs
	// option" when it sent no option).
	Status     string `json:"status"`
	Bytes      int    `json:"bytes"` // the option's data
	HeadBytes  int    `json:"head_bytes"`
	ProofBytes int    `json:"proof_bytes"`
}

// traceResult is one hop of the query trace.
type traceResult struct {
	Kind      string `json:"kind"`
	Node      string `json:"node"`
	ElapsedUS int64  `json:"elapsed_us"`
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
	// NotChecked says what could not be checked (no proofs sent).
	NotChecked string `json:"not_checked,omitempty"`
	Error      string `json:"error,omitempty"`
	// Serial is the zone's serial the answer verified at; Hash the
	// verification hash (client.AuditHash of the head, the proof and
	// the reply as received); TTL how long the answer may be kept.
	Serial uint32 `json:"serial,omitempty"`
	Hash   string `json:"hash,omitempty"`
	TTL    uint32 `json:"ttl,omitempty"`
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
	if opts.LogState != "" && opts.Log == "" {
		return usagef("--log-state FILE keeps what --log reads: give --log URL --log-key KEY too")
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
	q := client.NewQuery(name, qtype)
	o := q.IsEdns0()
	o.Option = append(o.Option, &dns.EDNS0_LOCAL{Code: dnsfront.AuditOptionCode})
	if opts.Trace {
		o.Option = append(o.Option, &dns.EDNS0_LOCAL{Code: dnsfront.TraceOptionCode})
	}
	node := &client.Resolver{Server: opts.Server, Net: client.NetUDP, Timeout: opts.Timeout}
	if opts.TCP {
		node.Net = client.NetTCP
	}
	r, err := node.Exchange(ctx, q)
	if err != nil {
		return err
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
		Authored: r.Authoritative, Status: "unverified", Proofs: proofsResult{Status: "no proofs option"},
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
				if v.Code == client.ProofsOptionCode {
					res.Proofs = describeProofs(v.Data)
					continue
				}
				if v.Code == dnsfront.TraceOptionCode {
					hops, err := dnsfront.DecodeTrace(v.Data)
					if err != nil {
						return nil, fmt.Errorf("the node's trace option: %w", err)
					}
					for _, h := range hops {
						res.Trace = append(res.Trace, traceResult{Kind: h.Kind.String(), Node: h.Node, ElapsedUS: h.Elapsed.Microseconds()})
					}
					continue
				}
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
		if v.Serial != 0 {
			fmt.Fprintf(w, "zone: %s serial %d, may be kept %ds\n", v.Zone, v.Serial, v.TTL)
		}
		if v.Hash != "" {
			fmt.Fprintf(w, "verification hash: %s\n", v.Hash)
		}
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
		vouch := "no signature covers them"
		if v.Checked == checkedWithProofs {
			vouch = "no signature covers them; the Merkle proof does"
		}
		fmt.Fprintf(w, "unsigned: %s (a referral's NS and glue: %s)\n", strings.Join(v.Unsigned, ", "), vouch)
	}
	if v.NotChecked != "" {
		fmt.Fprintf(w, "not checked: %s\n", v.NotChecked)
	}
	if p := r.Proofs; p.Status == "proved" {
		fmt.Fprintf(w, "proof: %d bytes in band (signed zone head %d, Merkle proof %d)\n", p.Bytes, p.HeadBytes, p.ProofBytes)
	} else {
		fmt.Fprintf(w, "proof: none (%s)\n", p.Status)
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
	for i, h := range r.Trace {
		fmt.Fprintf(w, "trace %d: %s %s %s\n", i+1, h.Kind, h.Node, time.Duration(h.ElapsedUS)*time.Microsecond)
	}
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
		st, err := loadLogState(opts.LogState)
		if err != nil {
			return nil, err
		}
		if _, err := st.Follow(ctx, src, v, opts.LogOrigin, time.Now(), 0); err != nil {
			hint := "check --log is a node's REST API serving the log, and --log-key (and --log-origin) are the log's"
			if errors.Is(err, translog.ErrSplitView) {
				hint = "the log showed a history that does not extend the one kept in --log-state: keep both for the registry's operators; remove the file to start over"
			}
			return nil, withHint(fmt.Errorf("reading the registry's log at %s: %w", opts.Log, err), "%s", hint)
		}
		if err := saveLogState(opts.LogState, &st); err != nil {
			return nil, err
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

// notChecked is what a plain DNS answer cannot prove, when the node
// sent no proofs.
const notChecked = "the zone's serial and the Merkle proof (the node sent no proofs: %s)"

// checkedWithProofs and checkedDNSSEC say what was verified.
const (
	checkedWithProofs = "DNSSEC signatures (RRSIG), NSEC denial and the Merkle proof of every RRset under the zone's signed head"
	checkedDNSSEC     = "DNSSEC signatures (RRSIG) and NSEC denial"
)

// describeProofs reads the proofs option's data.
func describeProofs(data []byte) proofsResult {
	st, head, proof, err := zone.DecodeProofsOption(data)
	if err != nil {
		return proofsResult{Status: "malformed: " + err.Error(), Bytes: len(data)}
	}
	return proofsResult{Status: st.String(), Bytes: len(data), HeadBytes: len(head), ProofBytes: len(proof)}
}

// verifyHere verifies r, the node's answer to (name, t), with anchors and
// records the outcome in res; it returns why the answer does not verify,
// nil when it does or when there is nothing to verify with (no anchors,
// or a SERVFAIL or REFUSED that carries no answer). With the proofs in
// band it checks them (client.Verifier.VerifyResponse); from a node that
// sent none, the DNSSEC records only (VerifyDNSSEC), and says so.
func verifyHere(res *resolveResult, r *dns.Msg, name string, t uint16, anchors *trustedAnchors) error {
	if anchors == nil {
		res.Verified = verifyResult{Result: "not checked"}
		return nil
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		res.Verified = verifyResult{Result: "not checked", Error: "the node gave no answer (" + dns.RcodeToString[r.Rcode] + ")"}
		return nil
	}
	v := client.NewVerifier(anchors.keys, nil)
	got, err := v.VerifyResponse(name, t, r)
	if errors.Is(err, client.ErrNoProof) {
		return verifyDNSSECOnly(res, v, r, name, t, anchors, err)
	}
	if err != nil {
		res.Verified = refused(err, anchors)
		return err
	}
	key := anchors.keys[got.Zone]
	res.Verified = verifyResult{Result: "yes", Checked: checkedWithProofs, Zone: got.Zone,
		KeySource: anchors.source[got.Zone], Unsigned: unsignedSets(got.Msg),
		Serial: got.Serial, Hash: hex.EncodeToString(got.Hash[:]), TTL: uint32(got.TTL / time.Second)}
	if key != nil {
		res.Verified.KeyTag = key.Tag()
	}
	return nil
}

// verifyDNSSECOnly checks r's DNSSEC records only: the node sent no
// proofs (why says why).
func verifyDNSSECOnly(res *resolveResult, v *client.Verifier, r *dns.Msg, name string, t uint16, anchors *trustedAnchors, why error) error {
	reason := "no proofs option"
	var pe *client.ProofsError
	if errors.As(why, &pe) {
		reason = pe.Status.String()
	}
	got, err := v.VerifyDNSSEC(name, t, r)
	if err != nil {
		res.Verified = refused(err, anchors)
		return err
	}
	res.Verified = verifyResult{Result: "yes", Checked: checkedDNSSEC, Zone: got.Zone,
		KeyTag: got.Key.Tag(), KeySource: anchors.source[got.Zone], Unsigned: got.Unsigned,
		NotChecked: fmt.Sprintf(notChecked, reason)}
	return nil
}

// refused is the verifyResult of an answer that did not verify.
func refused(err error, anchors *trustedAnchors) verifyResult {
	out := verifyResult{Result: "no", Error: err.Error()}
	var ve *client.VerifyError
	if errors.As(err, &ve) {
		if k := anchors.keys[ve.Zone]; k != nil {
			out.Zone, out.KeyTag, out.KeySource = ve.Zone, k.Tag(), anchors.source[ve.Zone]
		}
	}
	return out
}

// unsignedSets lists the RRsets of m no RRSIG covers (a referral's NS
// and glue), "NAME TYPE": the Merkle proof vouches for them.
func unsignedSets(m *dns.Msg) []string {
	sets, err := client.ResponseRRsets(m)
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range sets {
		if s.NumSignatures() == 0 {
			out = append(out, s.Name+" "+dns.TypeToString[s.Type])
		}
	}
	return out
}

// loadLogState reads the state --log-state keeps; a fresh state when
// path is "" or the file does not exist yet.
func loadLogState(path string) (client.LogState, error) {
	if path == "" {
		return client.NewLogState(), nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return client.NewLogState(), nil
	}
	if err != nil {
		return client.LogState{}, fmt.Errorf("--log-state: %w", err)
	}
	st, err := client.ParseLogState(b)
	if err != nil {
		return client.LogState{}, withHint(fmt.Errorf("--log-state %s: %w", path, err), "the file is the JSON ddnrs resolve --log-state (or a node's follow.json) writes; remove it to start over")
	}
	return st, nil
}

// saveLogState writes st to path, whole or not at all ("" : nothing).
func saveLogState(path string, st *client.LogState) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("--log-state: %w", err)
	}
	return nil
}
