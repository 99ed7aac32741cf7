package ops

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/zone"
)

// keepSignedOptions are the flags and argument of `ddnrs zone keep-signed`.
type keepSignedOptions struct {
	API        string
	APIKeyFile string
	ZoneKey    string
	File       string
	Validity   time.Duration // signatures made now last this long
	Refresh    time.Duration // re-sign when a signature expires within this
	Interval   time.Duration // how often to check (long-running mode)
	Once       bool          // one check, for cron or a systemd timer

	out io.Writer
}

func newZoneKeepSignedCmd(e *env) *cobra.Command {
	opts := &keepSignedOptions{}
	cmd := &cobra.Command{
		Use:   "keep-signed --key KEYFILE ZONEFILE",
		Short: "Re-sign a published zone before its signatures lapse",
		Long: `Keep a published zone's DNSSEC signatures valid. Signatures last --validity
(30 days by default); a zone nobody re-signs goes bogus for every validating
resolver when the first of them expires. keep-signed checks the group's copy
through the REST API every --interval and, once a signature would expire
within --refresh (by default a third of --validity), re-signs the zone with
the owner key and publishes it with the next serial. Edits to ZONEFILE are
published on the next check too, as 'ddnrs zone publish' would.

It runs until stopped (SIGINT/SIGTERM), logging one line per check, and
goes on after a failed check (the next one retries). With --once it checks
once and exits: 0 when the zone is fine or was re-signed, 1 on an error,
for a cron job or a systemd timer (contrib/systemd/ has units for both
ways). GET /v1/zones/ZONE shows signatures_expire, the first expiry.

The API and key come from --api and --api-key-file, or DDNRS_API and
DDNRS_API_KEY_FILE / DDNRS_API_KEY, as for 'ddnrs zone publish --api'.`,
		Example: `  ddnrs zone keep-signed --api https://ddnrs.example.net:8443 --api-key-file /etc/ddnrs/api-key \
      --key /etc/ddnrs/Kexample.com.+015+12345.private /etc/ddnrs/example.com.zone
  # once a day from cron, week-long signatures refreshed when 2 days are left:
  ddnrs zone keep-signed --once --validity 168h --refresh 48h --key K.private example.com.zone`,
		Args: exactArgs("ZONEFILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			opts.out = cmd.OutOrStdout()
			return runKeepSigned(cmd.Context(), e, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.API, "api", "", "the REST API's `URL` (or set "+envAPI+")")
	f.StringVar(&opts.APIKeyFile, "api-key-file", "", "`FILE` holding the API key (or set "+envAPIKeyFile+" or "+envAPIKey+")")
	f.StringVar(&opts.ZoneKey, "key", "", "owner key `KEYFILE` (.private, or .key with the .private beside it)")
	f.DurationVar(&opts.Validity, "validity", 30*24*time.Hour, "how long new signatures stay valid")
	f.DurationVar(&opts.Refresh, "refresh", 0, "re-sign when a signature expires within this (default: a third of --validity)")
	f.DurationVar(&opts.Interval, "interval", 0, "how often to check (default: a quarter of --refresh, at most 1h)")
	f.BoolVar(&opts.Once, "once", false, "check once and exit (cron, systemd timer)")
	return cmd
}

// check validates the options and fills in the defaults.
func (o *keepSignedOptions) check() error {
	if o.ZoneKey == "" {
		return usagef("--key KEYFILE is required: the owner key that signs the zone")
	}
	if o.Validity <= 0 {
		return usagef("--validity %s: want a positive duration such as 720h", o.Validity)
	}
	if o.Refresh == 0 {
		o.Refresh = o.Validity / 3
	}
	if o.Refresh <= 0 || o.Refresh >= o.Validity {
		return usagef("--refresh %s: want a positive duration below --validity %s, such as a third of it", o.Refresh, o.Validity)
	}
	if o.Interval == 0 {
		o.Interval = min(o.Refresh/4, time.Hour)
	}
	if o.Interval <= 0 || o.Interval >= o.Refresh {
		return usagef("--interval %s: want a positive duration below --refresh %s, so a check comes before signatures lapse", o.Interval, o.Refresh)
	}
	return nil
}

func runKeepSigned(ctx context.Context, e *env, opts *keepSignedOptions) error {
	if err := opts.check(); err != nil {
		return err
	}
	k, err := loadKey(opts.ZoneKey, true)
	if err != nil {
		return err
	}
	c, err := newRESTClient(opts.API, opts.APIKeyFile)
	if err != nil {
		return err
	}
	if opts.Once {
		return keepSignedOnce(ctx, e, opts, c, k)
	}
	fmt.Fprintf(opts.out, "keeping %s signed: validity %s, re-signed when %s are left, checked every %s\n", k.Zone, opts.Validity, opts.Refresh, opts.Interval)
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	for {
		if err := keepSignedOnce(ctx, e, opts, c, k); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintf(opts.out, "%s check failed (next in %s): %v\n", e.now().UTC().Format(time.RFC3339), opts.Interval, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// keepSignedOnce reads ZONEFILE and the group's copy, and publishes
// what re-signing (or an edit of the file) changes.
func keepSignedOnce(ctx context.Context, e *env, opts *keepSignedOptions, c *restClient, k *zone.Key) error {
	ctx, cancel := context.WithTimeout(ctx, restPublishTimeout)
	defer cancel()
	u, err := readZone(opts.File, k.Zone, k)
	if err != nil {
		return err
	}
	now := e.now()
	old, err := c.zone(ctx, u.Origin, k)
	if err != nil {
		return err
	}
	if old == nil {
		return withHint(fmt.Errorf("the group has no zone %s", u.Origin), "create it first: ddnrs zone publish --api ... %s", opts.File)
	}
	sign := zone.SignOptions{Inception: now.Add(-time.Hour), Expiration: now.Add(opts.Validity), Now: now}
	plan, err := planWith(old, old, u, k, nil, zone.PrepareOptions{Sign: sign, Margin: opts.Refresh})
	if err != nil {
		return err
	}
	stamp := now.UTC().Format(time.RFC3339)
	if plan.Cmd == nil {
		first, _ := zone.EarliestExpiry(old, now)
		_, err := fmt.Fprintf(opts.out, "%s %s: serial %d, signatures valid until %s, re-signed after %s\n", stamp, u.Origin, old.Serial(),
			first.UTC().Format(time.RFC3339), first.Add(-opts.Refresh).UTC().Format(time.RFC3339))
		return err
	}
	change, err := jsonChange(plan.Cmd)
	if err != nil {
		return err
	}
	var res struct {
		Serial uint32 `json:"serial"`
		Repeat bool   `json:"repeat"`
	}
	if _, _, err := c.do(ctx, "POST", "/v1/zones/"+url.PathEscape(u.Origin)+"/changes", map[string]any{"change": change}, &res); err != nil {
		return restHint(fmt.Errorf("publish %s: %w", u.Origin, err))
	}
	first, _ := zone.EarliestExpiry(plan.New, now)
	_, err = fmt.Fprintf(opts.out, "%s %s: %s, serial %d -> %d, signatures valid until %s\n", stamp, u.Origin, plan.Action, old.Serial(), res.Serial,
		first.UTC().Format(time.RFC3339))
	return err
}
