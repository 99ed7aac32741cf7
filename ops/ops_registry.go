package ops

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/node"
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
	cmd.AddCommand(key)
	return cmd
}

// keyIssueOptions are the flags of `ddnrs ops registry key issue`.
type keyIssueOptions struct {
	adminOptions
	Name     string
	Actions  []string
	Suffixes []string
	Expires  string

	out io.Writer
}

func newRegistryKeyIssueCmd() *cobra.Command {
	opts := &keyIssueOptions{}
	cmd := &cobra.Command{
		Use:   "issue",
		Short: "Issue an API key (for example the first reviewer key); it is printed once",
		Long: `Issue an API key through a registry member's admin endpoint, as the
operator. The key string is printed once: the registry keeps only its
SHA-256 hash, so store it now. A key with the admin action is a
reviewer key: it reviews applications (the web pages' /review) and issues
and revokes keys through the REST API.`,
		Example: `  ddnrs ops registry key issue --admin 10.0.0.1:7400 --ca ca.crt --cert ops.crt --key ops.key --name reviewer
  ddnrs ops registry key issue --dev --name acme --actions read,update --suffix example.org. --expires 2027-01-01T00:00:00Z`,
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
	f.StringVar(&opts.Expires, "expires", "", "when the key stops working: RFC 3339 `TIME` or a duration from now such as 720h (default never)")
	return cmd
}

func runKeyIssue(ctx context.Context, opts *keyIssueOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	req := node.IssueKeyRequest{Name: opts.Name, Actions: opts.Actions, Suffixes: opts.Suffixes}
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
	res, err := c.IssueKey(ctx, opts.Server, req)
	if err != nil {
		return adminErr(err, opts.Server)
	}
	fmt.Fprintf(opts.out, "API key %s issued (%s; actions %s; zones %s):\n\n  %s\n\nIt is shown once: the registry keeps only its hash. Use it as 'Authorization: Bearer <key>'.\n",
		res.KeyID, opts.Name, strings.Join(opts.Actions, ","), strings.Join(opts.Suffixes, " "), res.Key)
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
