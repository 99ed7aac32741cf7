package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/api"
)

// keyAPIOptions are the flags every `ddnrs key` subcommand shares: the
// REST API and the caller's own API key.
type keyAPIOptions struct {
	API        string
	APIKeyFile string
	Output     string

	out io.Writer
}

func (o *keyAPIOptions) client() (*restClient, error) {
	if err := checkOutput(o.Output); err != nil {
		return nil, err
	}
	return newRESTClient(o.API, o.APIKeyFile)
}

// newKeyCmd returns `ddnrs key`: an owner's own API keys over the REST
// API (issue 12 item 4): sub-keys narrower than the caller's key, listed
// and revoked by it.
func newKeyCmd() *cobra.Command {
	opts := &keyAPIOptions{}
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Issue, list and revoke your own narrower API keys (sub-keys)",
		Long: `Give a CI job or an ACME client a key of its own, narrower than yours, and
take it back when you like. Everything goes through the REST API with your
API key; no cluster certificate is needed.

A sub-key can never do more than the key that issued it: its zone suffixes
lie under yours, its label patterns within yours (* one label, ** one or
more, @ the apex), its types and actions among yours (never admin), and it
expires and is rate-limited no later and no higher than yours (by default it
takes your expiry and limits). Its requests also draw from your key's rate
bucket. A sub-key may issue narrower keys of its own; revoking a key revokes
every key below it at once. Every issue and revocation is in the audit log
('ddnrs key audit').

--api and --api-key-file come from flags or from DDNRS_API and
DDNRS_API_KEY_FILE (or DDNRS_API_KEY).`,
		Example: `  export DDNRS_API=https://ddnrs.example.net:8443 DDNRS_API_KEY_FILE=~/.ddnrs/owner.key
  # a key for the CI job that publishes only under ci.example.org.:
  ddnrs key issue --name ci --suffix ci.example.org. --actions read,create,update,delete --expires 720h > ci.key
  # a key for certbot that may touch only the challenge TXT records:
  ddnrs key issue --name certbot --suffix example.org. --actions read,update \
      --labels '_acme-challenge,_acme-challenge.**' --types TXT > certbot.key
  ddnrs key list
  ddnrs key revoke 0123456789abcdef
  ddnrs key audit --key 0123456789abcdef`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	f := cmd.PersistentFlags()
	f.StringVar(&opts.API, "api", "", "the REST API's `URL` (or set "+envAPI+")")
	f.StringVar(&opts.APIKeyFile, "api-key-file", "", "`FILE` holding your API key (or set "+envAPIKeyFile+" or "+envAPIKey+")")
	f.StringVarP(&opts.Output, "output", "o", "table", "table, or json")
	cmd.AddCommand(newKeyIssueCmd(opts), newKeyListCmd(opts), newKeyRevokeCmd(opts), newKeyAuditCmd(opts))
	return cmd
}

// subKeyOptions are the flags of `ddnrs key issue`.
type subKeyOptions struct {
	*keyAPIOptions
	Name      string
	Parent    string
	Actions   []string
	Suffixes  []string
	Labels    []string
	Types     []string
	Expires   string
	PerMinute uint32
	Burst     uint32
}

func newKeyIssueCmd(common *keyAPIOptions) *cobra.Command {
	opts := &subKeyOptions{keyAPIOptions: common}
	cmd := &cobra.Command{
		Use:   "issue",
		Short: "Issue a sub-key narrower than your key; the key string is printed once",
		Long: `Issue a sub-key under your API key (or, with --parent, under one of your
sub-keys). The key string goes to standard output alone, so it can be
redirected into a file; what it may do goes to standard error. It is shown
once: the registry keeps only its hash.

A scope wider than the parent's is refused with 403 out_of_scope naming
what is wider. Without --expires the sub-key expires with its parent;
without --per-minute and --burst it takes the parent's limits.`,
		Example: `  ddnrs key issue --name ci --suffix ci.example.org. --actions read,create,update,delete --expires 720h > ci.key
  ddnrs key issue --name acme --suffix example.org. --actions read,update --labels '_acme-challenge,_acme-challenge.**' --types TXT > acme.key`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.out = cmd.OutOrStdout()
			return runSubKeyIssue(cmd.Context(), opts, cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Name, "name", "", "a `NAME` for the key, shown in listings and the audit log (required)")
	f.StringVar(&opts.Parent, "parent", "", "issue under this sub-key `ID` of yours instead of your own key")
	f.StringSliceVar(&opts.Actions, "actions", nil, "`ACTIONS` the key may take, among yours: read, create, update, delete (comma-separated, required)")
	f.StringSliceVar(&opts.Suffixes, "suffix", nil, "zone `SUFFIX` the key may act on, under one of yours (repeatable, required)")
	f.StringSliceVar(&opts.Labels, "labels", nil, "owner name `PATTERNS` relative to the zone: * one label, ** one or more, @ the apex (comma-separated; default: any, allowed only when your key allows any)")
	f.StringSliceVar(&opts.Types, "types", nil, "RR `TYPES` the key may touch, e.g. TXT (comma-separated; default: any, allowed only when your key allows any)")
	f.StringVar(&opts.Expires, "expires", "", "when the key stops working: RFC 3339 `TIME` or a duration from now such as 720h (default: with its parent)")
	f.Uint32Var(&opts.PerMinute, "per-minute", 0, "`N` requests a minute, at most the parent's (default the parent's)")
	f.Uint32Var(&opts.Burst, "burst", 0, "`N` requests at once, at most the parent's (default the parent's)")
	return cmd
}

func runSubKeyIssue(ctx context.Context, opts *subKeyOptions, info io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.Name == "" {
		return usagef("--name: give the key a name (such as ci or certbot)")
	}
	for _, a := range opts.Actions {
		if a == "admin" {
			return usagef("--actions: a sub-key never has the admin action (a reviewer issues admin keys)")
		}
	}
	// The operator's checks of the same flags (ops registry key issue).
	if err := checkKeyIssue(&keyIssueOptions{Actions: opts.Actions, Suffixes: opts.Suffixes, Labels: opts.Labels, Types: opts.Types, PerMinute: opts.PerMinute, Burst: opts.Burst}); err != nil {
		return err
	}
	body := map[string]any{"name": opts.Name, "scope": api.ScopeInput{Suffixes: opts.Suffixes, Labels: opts.Labels, Types: opts.Types, Actions: opts.Actions}}
	if opts.Parent != "" {
		body["parent"] = opts.Parent
	}
	if opts.Expires != "" {
		t, err := parseExpires(opts.Expires, time.Now())
		if err != nil {
			return err
		}
		body["expires"] = t
	}
	if opts.PerMinute != 0 || opts.Burst != 0 {
		if opts.PerMinute == 0 || opts.Burst == 0 {
			return usagef("--per-minute and --burst go together (or leave both out to take the parent's)")
		}
		body["limits"] = api.LimitsInput{PerMinute: opts.PerMinute, Burst: opts.Burst}
	}
	c, err := opts.client()
	if err != nil {
		return err
	}
	var res struct {
		Key    string `json:"key"`
		KeyID  string `json:"key_id"`
		Parent string `json:"parent"`
	}
	if _, _, err := c.do(ctx, "POST", "/v1/keys", body, &res); err != nil {
		return keyHint(err)
	}
	if opts.Output == "json" {
		return json.NewEncoder(opts.out).Encode(res)
	}
	fmt.Fprintln(opts.out, res.Key)
	fmt.Fprintf(info, "sub-key %s issued under %s (%s). The key string above is shown once.\n", res.KeyID, res.Parent, scopeText(opts.Suffixes, opts.Labels, opts.Types, opts.Actions))
	return nil
}

func scopeText(suffixes, labels, types, actions []string) string {
	s := fmt.Sprintf("actions %s; zones %s", strings.Join(actions, ","), strings.Join(suffixes, " "))
	if len(labels) > 0 {
		s += "; labels " + strings.Join(labels, ",")
	}
	if len(types) > 0 {
		s += "; types " + strings.Join(types, ",")
	}
	return s
}

// keyView is a key as GET /v1/keys shows it.
type keyView struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Parent    string         `json:"parent"`
	Scope     api.ScopeInput `json:"scope"`
	Created   time.Time      `json:"created"`
	Expires   *time.Time     `json:"expires"`
	Revoked   bool           `json:"revoked"`
	RevokedBy string         `json:"revoked_by"`
}

func newKeyListCmd(opts *keyAPIOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List your key and every sub-key below it",
		Example: `  ddnrs key list
  ddnrs key list -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.out = cmd.OutOrStdout()
			c, err := opts.client()
			if err != nil {
				return err
			}
			var res struct {
				Keys []keyView `json:"keys"`
			}
			_, raw, err := c.do(cmd.Context(), "GET", "/v1/keys", nil, &res)
			if err != nil {
				return keyHint(err)
			}
			if opts.Output == "json" {
				_, err := opts.out.Write(raw)
				return err
			}
			tw := tabwriter.NewWriter(opts.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tPARENT\tSTATE\tEXPIRES\tSCOPE")
			for _, k := range res.Keys {
				state := "live"
				if k.Revoked {
					state = "revoked by " + k.RevokedBy
				}
				exp := "never"
				if k.Expires != nil {
					exp = k.Expires.UTC().Format(time.RFC3339)
				}
				parent := k.Parent
				if parent == "" {
					parent = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, parent, state, exp, scopeText(k.Scope.Suffixes, k.Scope.Labels, k.Scope.Types, k.Scope.Actions))
			}
			return tw.Flush()
		},
	}
}

func newKeyRevokeCmd(opts *keyAPIOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke your key or a sub-key below it, and every key below that",
		Example: `  ddnrs key revoke 0123456789abcdef
  ddnrs key list    # the revoked key and its sub-keys show "revoked"`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("revoke takes one key ID (from 'ddnrs key list'), got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.out = cmd.OutOrStdout()
			id := strings.TrimSpace(args[0])
			if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
				return usagef("%q is not a key ID: 16 lower-case hex digits, as 'ddnrs key list' shows", id)
			}
			c, err := opts.client()
			if err != nil {
				return err
			}
			var k keyView
			_, raw, err := c.do(cmd.Context(), "DELETE", "/v1/keys/"+id, nil, &k)
			if err != nil {
				return keyHint(err)
			}
			if opts.Output == "json" {
				_, err := opts.out.Write(raw)
				return err
			}
			fmt.Fprintf(opts.out, "key %s (%s) revoked, with every key below it.\n", k.ID, k.Name)
			return nil
		},
	}
}

func newKeyAuditCmd(opts *keyAPIOptions) *cobra.Command {
	var keyID string
	var limit int
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit log of your key or of a sub-key below it",
		Long: `Show the requests made with a key and the issue and revocation of it,
newest first, from every node of the cluster.`,
		Example: `  ddnrs key audit
  ddnrs key audit --key 0123456789abcdef --limit 20`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.out = cmd.OutOrStdout()
			if limit < 1 || limit > 1000 {
				return usagef("--limit %d: between 1 and 1000", limit)
			}
			c, err := opts.client()
			if err != nil {
				return err
			}
			q := url.Values{"limit": {fmt.Sprint(limit)}}
			if keyID != "" {
				q.Set("key", keyID)
			}
			var res struct {
				Records []api.AuditRecord `json:"records"`
			}
			_, raw, err := c.do(cmd.Context(), "GET", "/v1/audit?"+q.Encode(), nil, &res)
			if err != nil {
				return keyHint(err)
			}
			if opts.Output == "json" {
				_, err := opts.out.Write(raw)
				return err
			}
			tw := tabwriter.NewWriter(opts.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tKEY\tACTION\tZONE\tTARGET\tRESULT\tNODE")
			for _, a := range res.Records {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Time.UTC().Format(time.RFC3339), a.KeyID, a.Action, dash(a.Zone), dash(a.Target), a.Result, a.Node)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&keyID, "key", "", "the key `ID` (default your own)")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most `N` records")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// keyHint adds advice to the REST API's refusals of key commands.
func keyHint(err error) error {
	var re *restError
	if !errors.As(err, &re) {
		return err
	}
	switch {
	case re.Code == "out_of_scope":
		return withHint(err, "a sub-key must be narrower than its parent in every respect; 'ddnrs key list' shows your key's scope")
	case re.Code == "not_found":
		return withHint(err, "you can see and revoke only your own key and the keys below it ('ddnrs key list')")
	case re.Code == "too_many_keys":
		return withHint(err, "revoke sub-keys you no longer use ('ddnrs key revoke ID')")
	}
	return restHint(err)
}
