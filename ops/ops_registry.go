package ops

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/api"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// newRegistryCmd returns `ddnrs ops registry`: the operator's side of
// the registry, through a registry member's admin endpoint (mutual TLS).
func newRegistryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Operate the registry: issue API keys",
		Long: `The registry group keeps applications, API keys, zone claims, the node
directory and the transparency log. These commands talk to a registry
member's admin endpoint over mutual TLS, as the operator.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	key := &cobra.Command{
		Use:   "key",
		Short: "Manage API keys",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
	key.AddCommand(newRegistryKeyIssueCmd())
	cmd.AddCommand(key, newRegistryNodeRequestsCmd())
	return cmd
}

// keyIssueOptions are the flags of `ddnrs ops registry key issue`.
type keyIssueOptions struct {
	adminOptions
	Name     string
	Actions  []string
	Suffixes []string
	Labels   []string
	Types    []string
	Expires  string
	// PerMinute and Burst are the key's token bucket; 0 = the API's
	// defaults (api.DefaultPerMinute, api.DefaultBurst).
	PerMinute uint32
	Burst     uint32
	// KeyFile, when set, receives the key instead of the terminal
	// (--save: mode 0600, never overwritten), for scripts.
	KeyFile string

	out io.Writer
}

func newRegistryKeyIssueCmd() *cobra.Command {
	opts := &keyIssueOptions{}
	cmd := &cobra.Command{
		Use:   "issue",
		Short: "Issue an API key (for example the first reviewer key); it is printed once",
		Long: fmt.Sprintf(`Issue an API key through a registry member's admin endpoint, as the
operator. The key string is printed once: the registry keeps only its
SHA-256 hash, so store it now. A key with the admin action is a
reviewer key: it reviews applications (the web pages' /review) and issues
and revokes keys through the REST API.

The scope narrows what the key may do: --suffix the zones, --labels the
owner names inside them (label patterns relative to the zone: * is exactly
one label, ** one or more, @ the apex; "_acme-challenge" is the apex's ACME
challenge, "_acme-challenge.**" every one below it), --types the RR types (TXT,
A, ...). Each request also draws from the key's token bucket: --per-minute
tokens come back a minute and at most --burst are saved up; the REST API
answers 429 rate_limited with Retry-After when it is empty. 0 takes the
API's defaults (%d a minute, burst %d).`, api.DefaultPerMinute, api.DefaultBurst),
		Example: `  ddnrs ops registry key issue --admin 10.0.0.1:7400 --ca ca.crt --cert ops.crt --key ops.key --name reviewer
  ddnrs ops registry key issue --dev --name acme --actions read,update --suffix example.org. --expires 2027-01-01T00:00:00Z
  ddnrs ops registry key issue --dev --name certbot --actions read,create,delete --suffix example.org. \
      --labels '_acme-challenge,_acme-challenge.**' --types TXT --per-minute 10 --burst 5`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.out = cmd.OutOrStdout()
			return runKeyIssue(cmd.Context(), opts)
		},
	}
	addAdminFlags(cmd, &opts.adminOptions, "key")
	f := cmd.Flags()
	f.StringVar(&opts.Server, "admin", "", "admin endpoint `HOST:PORT` of a registry member (same as --server)")
	f.StringVar(&opts.Name, "name", "operator key", "a `NAME` for the key, shown in listings and the audit log")
	f.StringSliceVar(&opts.Actions, "actions", []string{"admin"}, "`ACTIONS` the key may take: read, create, update, delete, admin (comma-separated)")
	f.StringSliceVar(&opts.Suffixes, "suffix", []string{"."}, "zone `SUFFIX` the key may act on (repeatable; \".\" = every zone)")
	f.StringSliceVar(&opts.Labels, "labels", nil, "owner name `PATTERNS` relative to the zone the key may touch: * one label, ** one or more, @ the apex, e.g. _acme-challenge,_acme-challenge.** (comma-separated; default any)")
	f.StringSliceVar(&opts.Types, "types", nil, "RR `TYPES` the key may touch, e.g. TXT (comma-separated; default any)")
	f.StringVar(&opts.KeyFile, "save", "", "write the key to `FILE` (mode 0600, never overwritten) instead of printing it, e.g. --save owner.apikey for 'ddnrs zone publish --api-key-file owner.apikey'")
	f.Uint32Var(&opts.PerMinute, "per-minute", 0, fmt.Sprintf("`N` requests a minute: the rate the key's bucket refills, at most %d (0 = the API's default, %d)", maxKeyRate, api.DefaultPerMinute))
	f.Uint32Var(&opts.Burst, "burst", 0, fmt.Sprintf("`N` requests the key may make at once: its bucket's size, at most %d (0 = the API's default, %d)", maxKeyRate, api.DefaultBurst))
	f.StringVar(&opts.Expires, "expires", "", "when the key stops working: RFC 3339 `TIME` or a duration from now such as 720h (default never)")
	return cmd
}

func runKeyIssue(ctx context.Context, opts *keyIssueOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := checkKeyIssue(opts); err != nil {
		return err
	}
	req := admin.IssueKeyRequest{Name: opts.Name, Actions: opts.Actions, Suffixes: opts.Suffixes,
		Labels: opts.Labels, Types: opts.Types, PerMinute: opts.PerMinute, Burst: opts.Burst}
	if opts.Expires != "" {
		t, err := parseExpires(opts.Expires, time.Now())
		if err != nil {
			return err
		}
		req.Expires = t
	}
	if err := opts.resolve("key"); err != nil {
		return err
	}
	c, ctx, release, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer release()
	if opts.KeyFile != "" {
		if err := mustBeAbsent(opts.KeyFile); err != nil {
			return withHint(err, "--save is never overwritten: name a new file")
		}
	}
	res, err := c.IssueKey(ctx, opts.Server, req)
	if err != nil {
		return adminErr(err, opts.Server)
	}
	scope := fmt.Sprintf("actions %s; zones %s", strings.Join(opts.Actions, ","), strings.Join(opts.Suffixes, " "))
	if len(opts.Labels) > 0 {
		scope += "; labels " + strings.Join(opts.Labels, ",")
	}
	if len(opts.Types) > 0 {
		scope += "; types " + strings.Join(opts.Types, ",")
	}
	per, burst := opts.PerMinute, opts.Burst
	if per == 0 {
		per = api.DefaultPerMinute
	}
	if burst == 0 {
		burst = api.DefaultBurst
	}
	scope += fmt.Sprintf("; %d requests a minute, burst %d", per, burst)
	if opts.KeyFile != "" {
		if err := writeNewMode(opts.KeyFile, []byte(res.Key+"\n"), 0o600); err != nil {
			return fmt.Errorf("API key %s was issued but not written (%w): revoke it and issue another", res.KeyID, err)
		}
		fmt.Fprintf(opts.out, "API key %s issued (%s; %s), written to %s (0600). The registry keeps only its hash. Use it with --api-key-file %s.\n",
			res.KeyID, opts.Name, scope, opts.KeyFile, opts.KeyFile)
		return nil
	}
	fmt.Fprintf(opts.out, "API key %s issued (%s; %s):\n\n  %s\n\nIt is shown once: the registry keeps only its hash. Use it as 'Authorization: Bearer <key>'.\n",
		res.KeyID, opts.Name, scope, res.Key)
	return nil
}

// maxKeyRate bounds --per-minute and --burst: beyond it a limit is no
// limit, and a typo (an extra digit) should not pass unnoticed.
const maxKeyRate = 100000

// checkKeyIssue checks the flags of key issue before anything is sent,
// so a mistake is a usage error naming the flag.
func checkKeyIssue(opts *keyIssueOptions) error {
	if len(opts.Actions) == 0 {
		return usagef("--actions: give at least one of %s", strings.Join(raftfsm.KeyActions, ", "))
	}
	for _, a := range opts.Actions {
		if !slices.Contains(raftfsm.KeyActions, a) {
			return usagef("--actions: %q is not one of %s", a, strings.Join(raftfsm.KeyActions, ", "))
		}
	}
	if len(opts.Suffixes) == 0 {
		return usagef("--suffix: give at least one zone suffix (\".\" = every zone)")
	}
	for _, sfx := range opts.Suffixes {
		if _, ok := dns.IsDomainName(sfx); !ok || sfx == "" {
			return usagef("--suffix: %q is not a domain name", sfx)
		}
	}
	for i, l := range opts.Labels {
		if err := raftfsm.CheckLabelPattern(l); err != nil {
			return usagef("--labels: %v: labels relative to the zone, * for one label, ** for one or more, @ for the apex (such as _acme-challenge,_acme-challenge.**)", err)
		}
		opts.Labels[i] = strings.ToLower(l)
	}
	for i, t := range opts.Types {
		u := strings.ToUpper(t)
		if _, ok := dns.StringToType[u]; !ok {
			return usagef("--types: %q is not an RR type (such as TXT)", t)
		}
		opts.Types[i] = u
	}
	if opts.PerMinute > maxKeyRate {
		return usagef("--per-minute %d: at most %d", opts.PerMinute, maxKeyRate)
	}
	if opts.Burst > maxKeyRate {
		return usagef("--burst %d: at most %d", opts.Burst, maxKeyRate)
	}
	return nil
}

// parseExpires reads an RFC 3339 time or a duration from now.
func parseExpires(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, usagef("--expires %q: want an RFC 3339 time (2027-01-01T00:00:00Z) or a positive duration (720h)", s)
	}
	return now.Add(d).UTC().Truncate(time.Second), nil
}
