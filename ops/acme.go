package ops

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/api"
	"github.com/ddnrs/ddnrs/zone"
)

// acmeOptions are the flags of `ddnrs acme present|cleanup`.
type acmeOptions struct {
	API        string
	APIKeyFile string
	ZoneKey    string        // KEYFILE of the zone that holds the challenge
	TTL        uint32        // TTL of the challenge TXT RRset
	Wait       time.Duration // wait until the API reads the change back

	out io.Writer
}

func newACMECmd(e *env) *cobra.Command {
	opts := &acmeOptions{}
	cmd := &cobra.Command{
		Use:   "acme",
		Short: "DNS-01 challenge hook for ACME clients (lego, certbot)",
		Long: `Publish and remove the TXT records of ACME DNS-01 challenges (RFC 8555 §8.4)
in a DDNRS zone, for lego's exec provider and certbot's manual hooks.

The machine that runs the ACME client needs only a narrow credential: the
owner key of a zone that holds the challenge names, and an API key whose
scope covers their TXT records. The recommended setup (docs/acme.md) is a
zone of its own for the challenges, _acme-challenge.example.org., delegated
by the owner of example.org. ('ddnrs zone delegate') and signed by its own
key: a leaked challenge key can then change only challenge TXT records,
never example.org. itself. The zone's owner key may hold the challenge as
well (any zone that encloses the challenge name works), at the price of
putting that key on the ACME machine.

present adds the value to the TXT RRset at the challenge name (several
values may wait side by side, as for example.org and *.example.org);
cleanup removes it, and the RRset when it was the last. Each re-signs only
that RRset with the key and publishes it with the next serial through the
REST API.

Arguments, in the two clients' conventions:
  lego (EXEC_PATH):     ddnrs acme present|cleanup FQDN VALUE
                        (FQDN is _acme-challenge.<domain>.)
  certbot (--manual-auth-hook / --manual-cleanup-hook):
                        ddnrs acme present|cleanup   with CERTBOT_DOMAIN and
                        CERTBOT_VALIDATION in the environment

--api, --api-key-file and --key come from flags or from DDNRS_API,
DDNRS_API_KEY_FILE (or DDNRS_API_KEY) and DDNRS_ACME_KEY.`,
		Example: `  # lego, with the exec provider:
  DDNRS_API=https://ddnrs.example.net:8443 DDNRS_API_KEY_FILE=/etc/ddnrs/acme.key \
  DDNRS_ACME_KEY=/etc/ddnrs/K_acme-challenge.example.org.+015+11111.private \
  EXEC_PATH="ddnrs acme" lego --dns exec -d example.org -d '*.example.org' run
  # certbot:
  certbot certonly --manual --preferred-challenges dns \
      --manual-auth-hook 'ddnrs acme present' --manual-cleanup-hook 'ddnrs acme cleanup' -d example.org`,
	}
	f := cmd.PersistentFlags()
	f.StringVar(&opts.API, "api", "", "the REST API's `URL` (or set "+envAPI+")")
	f.StringVar(&opts.APIKeyFile, "api-key-file", "", "`FILE` holding the API key (or set "+envAPIKeyFile+" or "+envAPIKey+")")
	f.StringVar(&opts.ZoneKey, "key", "", "owner key `KEYFILE` of the zone holding the challenge (or set DDNRS_ACME_KEY)")
	f.Uint32Var(&opts.TTL, "ttl", 60, "TTL of the challenge TXT records")
	f.DurationVar(&opts.Wait, "wait", 30*time.Second, "how long to wait until the API reads the change back (0: don't)")
	for _, present := range []bool{true, false} {
		use, short := "cleanup [FQDN VALUE]", "Remove a DNS-01 challenge value"
		if present {
			use, short = "present [FQDN VALUE]", "Publish a DNS-01 challenge value"
		}
		sub := &cobra.Command{
			Use:   use,
			Short: short,
			Args: func(_ *cobra.Command, args []string) error {
				switch {
				case len(args) > 2 && strings.HasPrefix(args[2], "-"):
					// Flags end at FQDN (SetInterspersed below).
					return usagef("%q after FQDN VALUE: flags go before FQDN (ddnrs acme %s --wait 0 FQDN VALUE)", args[2], verb(present))
				case len(args) > 2:
					return usagef("%d arguments: give FQDN and VALUE (lego), or neither with CERTBOT_DOMAIN and CERTBOT_VALIDATION set (certbot)", len(args))
				case len(args) == 1:
					return usagef("give FQDN and VALUE (lego), or neither with CERTBOT_DOMAIN and CERTBOT_VALIDATION set (certbot)")
				}
				return nil
			},
			RunE: func(cmd *cobra.Command, args []string) error {
				opts.out = cmd.OutOrStdout()
				return runACME(cmd.Context(), e, opts, present, args)
			},
		}
		// A challenge value is base64url and may begin with '-'
		// ("-4qWr5l…"): flags end at the first argument, FQDN, so the
		// value is never read as a flag. Flags go before FQDN, as lego
		// and certbot call it.
		sub.Flags().SetInterspersed(false)
		cmd.AddCommand(sub)
	}
	return cmd
}

// challenge returns the challenge name and value from lego's arguments
// or certbot's environment.
func challenge(args []string) (fqdn, value string, err error) {
	if len(args) == 2 {
		fqdn, value = args[0], args[1]
	} else {
		domain, val := os.Getenv("CERTBOT_DOMAIN"), os.Getenv("CERTBOT_VALIDATION")
		if domain == "" || val == "" {
			return "", "", usagef("no challenge: give FQDN and VALUE (lego), or set CERTBOT_DOMAIN and CERTBOT_VALIDATION (certbot)")
		}
		fqdn, value = "_acme-challenge."+strings.TrimPrefix(domain, "*."), val
	}
	if _, ok := dns.IsDomainName(fqdn); !ok || fqdn == "" {
		return "", "", usagef("%q is not a domain name", fqdn)
	}
	if value == "" || len(value) > 255 || strings.ContainsAny(value, "\"\\ \t\n") {
		return "", "", usagef("challenge value %q: want the token the ACME client gives (base64url, at most 255 characters)", value)
	}
	return zone.CanonicalName(fqdn), value, nil
}

func runACME(ctx context.Context, e *env, opts *acmeOptions, present bool, args []string) error {
	fqdn, value, err := challenge(args)
	if err != nil {
		return err
	}
	keyFile := opts.ZoneKey
	if keyFile == "" {
		keyFile = os.Getenv("DDNRS_ACME_KEY")
	}
	if keyFile == "" {
		return usagef("--key KEYFILE (or DDNRS_ACME_KEY) is required: the owner key of the zone holding %s", fqdn)
	}
	k, err := loadKey(keyFile, true)
	if err != nil {
		return err
	}
	if !dns.IsSubDomain(k.Zone, fqdn) {
		return withHint(fmt.Errorf("%s is not in %s, the zone of %s", fqdn, k.Zone, keyFile),
			"use the key of the zone that holds the challenge (docs/acme.md: a delegated _acme-challenge zone)")
	}
	c, err := newRESTClient(opts.API, opts.APIKeyFile)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, restPublishTimeout)
	defer cancel()
	old, err := c.zone(ctx, k.Zone, k)
	if err != nil {
		return err
	}
	if old == nil {
		return withHint(fmt.Errorf("the group has no zone %s", k.Zone), "create the challenge zone first (docs/acme.md)")
	}
	values := challengeValues(old, fqdn)
	switch {
	case present && slices.Contains(values, value):
		fmt.Fprintf(opts.out, "%s already holds this challenge value\n", fqdn)
		return nil
	case present:
		values = append(values, value)
	case !slices.Contains(values, value):
		fmt.Fprintf(opts.out, "%s does not hold this challenge value: nothing to remove\n", fqdn)
		return nil
	default:
		values = slices.DeleteFunc(values, func(v string) bool { return v == value })
	}
	var change zone.Change
	if len(values) == 0 {
		change.Delete = []zone.RRKey{{Name: fqdn, Type: dns.TypeTXT}}
	} else {
		set := &zone.RRset{Name: fqdn, Type: dns.TypeTXT, TTL: opts.TTL}
		for _, v := range values {
			set.AddRecord(&dns.TXT{Hdr: dns.RR_Header{Name: fqdn, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: opts.TTL}, Txt: []string{v}})
		}
		change.Put = []*zone.RRset{set}
	}
	next, err := old.Apply(change, k, zone.DefaultSignOptions(e.now()))
	if err != nil {
		return fmt.Errorf("sign the challenge in %s: %w", k.Zone, err)
	}
	body := map[string]any{"change": api.NewSignedChange(zone.SignedDiff(old, next), nil)}
	var res struct {
		Serial uint32 `json:"serial"`
	}
	if _, _, err := c.do(ctx, "POST", "/v1/zones/"+url.PathEscape(k.Zone)+"/changes", body, &res); err != nil {
		return restHint(fmt.Errorf("publish the challenge in %s: %w", k.Zone, err))
	}
	what := "published"
	if !present {
		what = "removed"
	}
	fmt.Fprintf(opts.out, "%s the challenge at %s (%s serial %d)\n", what, fqdn, k.Zone, res.Serial)
	if opts.Wait > 0 {
		return waitChallenge(ctx, c, k, fqdn, value, present, opts.Wait)
	}
	return nil
}

// challengeValues returns the TXT strings at fqdn in z.
func challengeValues(z *zone.Zone, fqdn string) []string {
	n := z.Node(fqdn)
	if n == nil {
		return nil
	}
	set := n.RRset(dns.TypeTXT)
	if set == nil {
		return nil
	}
	var out []string
	for _, rr := range set.Records() {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out
}

// waitChallenge polls the group's copy through the API until it holds
// (present) or lacks the value, or wait passes: the API reads from a
// member, which may apply the commit a moment after the leader.
func waitChallenge(ctx context.Context, c *restClient, k *zone.Key, fqdn, value string, present bool, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		z, err := c.zone(ctx, k.Zone, k)
		if err == nil && z != nil && slices.Contains(challengeValues(z, fqdn), value) == present {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the group's copy of %s does not show the change after %s (%v)", k.Zone, wait, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// verb is the subcommand's name.
func verb(present bool) string {
	if present {
		return "present"
	}
	return "cleanup"
}
