package ops

import (
	"context"
	"fmt"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/api"
)

// Ephemeral zones from the owner's side (issue 12 item 5): 'zone create
// --expires/--idle', 'zone lease', 'zone list'. docs/ephemeral-zones.md.

func addLeaseFlags(cmd *cobra.Command, opts *publishOptions) {
	cmd.Flags().StringVar(&opts.Expires, "expires", "", "with --api, creating: make the zone ephemeral, torn down after `DURATION` (72h, 7d) or at an RFC 3339 time")
	cmd.Flags().StringVar(&opts.Idle, "idle", "", "with --api, creating: make the zone ephemeral, torn down after `DURATION` (7d, 36h) without a change")
}

// leaseBody is the create's lease fields from --expires and --idle.
func leaseBody(opts *publishOptions, now time.Time) (map[string]any, error) {
	body := map[string]any{}
	if opts.Expires != "" {
		t, err := leaseTime(opts.Expires, now)
		if err != nil {
			return nil, usagef("--expires %v", err)
		}
		body["expires"] = t
	}
	if opts.Idle != "" {
		if _, err := api.ParseLeaseDuration(opts.Idle); err != nil {
			return nil, usagef("--idle %v", err)
		}
		body["idle"] = opts.Idle
	}
	return body, nil
}

// leaseTime reads an RFC 3339 time or a lease duration from now.
func leaseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	d, err := api.ParseLeaseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%v, or an RFC 3339 time", err)
	}
	return now.Add(d).UTC().Truncate(time.Second), nil
}

func newZoneCreateCmd(e *env) *cobra.Command {
	opts := &publishOptions{CreateOnly: true}
	cmd := &cobra.Command{
		Use:   "create --api URL --key KEYFILE ZONEFILE",
		Short: "Create a zone through the REST API, permanent or ephemeral (--expires, --idle)",
		Long: `Sign ZONEFILE with the owner key and create the zone through the REST API:
'zone publish --api' that refuses to touch a zone the group holds already.

With --expires or --idle the zone is ephemeral, for a branch, a pull
request or a test cluster: the registry's leader tears it down when the
lease runs out (at --expires, or --idle after the last change made through
the API) and its name is free again; the release is in the transparency
log. 'ddnrs zone lease' extends it or makes it permanent; 'ddnrs zone list'
shows the deadlines. Each API key holds a limited number of live ephemeral
zones (409 lease_quota; 10 unless the operator set api.max_leases). See
docs/ephemeral-zones.md for a CI job that makes one per pull request.`,
		Example: `  ddnrs zone create --api https://ddnrs.example.net:8443 --api-key-file ci.key \
      --key Kpr-123.dev.example.org.+015+12345.private --expires 72h --idle 1d pr-123.zone
  DDNRS_API=https://ddnrs.example.net:8443 DDNRS_API_KEY=$KEY ddnrs zone create --key K.private --idle 7d staging.zone`,
		Args: exactArgs("ZONEFILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			opts.out, opts.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runPublish(cmd.Context(), e, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.ZoneKey, "key", "", "owner key `KEYFILE` (.private, or .key with the .private beside it)")
	f.StringVarP(&opts.Output, "output", "o", "table", "table, or json")
	f.StringVar(&opts.API, "api", "", "the REST API's `URL` (or set "+envAPI+")")
	f.StringVar(&opts.APIKeyFile, "api-key-file", "", "`FILE` holding the API key (or set "+envAPIKeyFile+" or "+envAPIKey+")")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print what would be created, send nothing")
	f.StringVar(&opts.Serial, "serial", "auto", "auto (the file's), or date (YYYYMMDDnn)")
	f.StringVar(&opts.Delegation, "delegation", "", "creating inside another key's zone: the `BASE64` delegation its owner printed with 'ddnrs zone delegate'")
	f.DurationVar(&opts.Validity, "validity", 30*24*time.Hour, "how long the signatures stay valid")
	addLeaseFlags(cmd, opts)
	return cmd
}

// zoneAPIOptions are the flags of 'zone lease' and 'zone list'.
type zoneAPIOptions struct {
	API, APIKeyFile, Output string
}

func (o *zoneAPIOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.API, "api", "", "the REST API's `URL` (or set "+envAPI+")")
	f.StringVar(&o.APIKeyFile, "api-key-file", "", "`FILE` holding the API key (or set "+envAPIKeyFile+" or "+envAPIKey+")")
	f.StringVarP(&o.Output, "output", "o", "table", "table, or json")
}

func (o *zoneAPIOptions) client() (*restClient, error) {
	if err := checkOutput(o.Output); err != nil {
		return nil, err
	}
	return newRESTClient(o.API, o.APIKeyFile)
}

// zoneListEntry is a zone as GET /v1/zones shows it.
type zoneListEntry struct {
	Zone      string `json:"zone"`
	Group     string `json:"group"`
	Suspended bool   `json:"suspended"`
	Lease     *struct {
		Expires     *time.Time `json:"expires"`
		IdleSeconds uint32     `json:"idle_seconds"`
		Deadline    time.Time  `json:"deadline"`
	} `json:"lease"`
}

func newZoneListCmd() *cobra.Command {
	opts := &zoneAPIOptions{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the zones your API key may read, with the deadlines of ephemeral ones",
		Example: `  ddnrs zone list --api https://ddnrs.example.net:8443 --api-key-file owner.key
  ddnrs zone list -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := opts.client()
			if err != nil {
				return err
			}
			var res struct {
				Zones []zoneListEntry `json:"zones"`
			}
			_, raw, err := c.do(cmd.Context(), "GET", "/v1/zones", nil, &res)
			if err != nil {
				return restHint(err)
			}
			out := cmd.OutOrStdout()
			if opts.Output == "json" {
				_, err := out.Write(raw)
				return err
			}
			now := time.Now()
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ZONE\tGROUP\tLIFETIME\tTORN DOWN AT")
			for _, z := range res.Zones {
				life, at := "permanent", "-"
				if z.Lease != nil {
					life = "ephemeral"
					if z.Lease.IdleSeconds > 0 {
						life += fmt.Sprintf(", idle %s", time.Duration(z.Lease.IdleSeconds)*time.Second)
					}
					at = fmt.Sprintf("%s (in %s)", z.Lease.Deadline.UTC().Format(time.RFC3339), z.Lease.Deadline.Sub(now).Round(time.Second))
				}
				if z.Suspended {
					life += ", suspended"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", z.Zone, z.Group, life, at)
			}
			return tw.Flush()
		},
	}
	opts.flags(cmd)
	return cmd
}

func newZoneLeaseCmd() *cobra.Command {
	opts := &zoneAPIOptions{}
	var extend, expires, idle string
	var permanent bool
	cmd := &cobra.Command{
		Use:   "lease ZONE",
		Short: "Extend, change or end the lease of an ephemeral zone",
		Long: `Change when the registry tears an ephemeral zone down: --extend adds to its
fixed deadline (or to now, when it has none), --expires sets one, --idle
sets the idle time, --permanent ends the lease so the zone stays. Only the
API key that created the zone, a key above it or a reviewer's key may.`,
		Example: `  ddnrs zone lease --extend 48h pr-123.dev.example.org.
  ddnrs zone lease --idle 14d staging.example.org.
  ddnrs zone lease --permanent pr-123.dev.example.org.`,
		Args: exactArgs("ZONE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := map[string]any{}
			switch {
			case permanent:
				if extend != "" || expires != "" || idle != "" {
					return usagef("--permanent goes alone: it ends the lease")
				}
				body["permanent"] = true
			case extend == "" && expires == "" && idle == "":
				return usagef("give --extend, --expires, --idle or --permanent")
			case extend != "" && expires != "":
				return usagef("give --extend or --expires, not both")
			}
			if extend != "" {
				if _, err := api.ParseLeaseDuration(extend); err != nil {
					return usagef("--extend %v", err)
				}
				body["extend"] = extend
			}
			if expires != "" {
				t, err := leaseTime(expires, time.Now())
				if err != nil {
					return usagef("--expires %v", err)
				}
				body["expires"] = t
			}
			if idle != "" {
				if _, err := api.ParseLeaseDuration(idle); err != nil {
					return usagef("--idle %v", err)
				}
				body["idle"] = idle
			}
			c, err := opts.client()
			if err != nil {
				return err
			}
			var z zoneListEntry
			_, raw, err := c.do(context.WithoutCancel(cmd.Context()), "POST", "/v1/zones/"+url.PathEscape(args[0])+"/lease", body, &z)
			if err != nil {
				return restHint(err)
			}
			out := cmd.OutOrStdout()
			if opts.Output == "json" {
				_, err := out.Write(raw)
				return err
			}
			if z.Lease == nil {
				_, err = fmt.Fprintf(out, "%s is permanent now\n", z.Zone)
				return err
			}
			_, err = fmt.Fprintf(out, "%s is torn down at %s\n", z.Zone, z.Lease.Deadline.UTC().Format(time.RFC3339))
			return err
		},
	}
	opts.flags(cmd)
	f := cmd.Flags()
	f.StringVar(&extend, "extend", "", "add `DURATION` (48h, 7d) to the fixed deadline, or to now")
	f.StringVar(&expires, "expires", "", "set the fixed deadline: `DURATION` from now or an RFC 3339 time")
	f.StringVar(&idle, "idle", "", "set the idle time: torn down `DURATION` after the last change")
	f.BoolVar(&permanent, "permanent", false, "end the lease: the zone stays")
	return cmd
}
