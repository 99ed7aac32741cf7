package ops

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/ddnrs/ddnrs/internal/atomicfile"
	"github.com/ddnrs/ddnrs/zone"
	"github.com/spf13/cobra"
)

// signOptions are the flags and arguments of `ddnrs zone sign`.
type signOptions struct {
	File       string        // the unsigned zone file
	Key        string        // KEYFILE: the .private (or .key, or base) of the owner key
	Out        string        // signed output; default File + ".signed"
	Validity   time.Duration // expiration = now + Validity; default 720h
	Inception  string        // RFC 3339; default now - 1h
	Expiration string        // RFC 3339; overrides Validity
}

func newZoneSignCmd(e *env) *cobra.Command {
	opts := &signOptions{}
	cmd := &cobra.Command{
		Use:   "sign --key KEYFILE [--out FILE] ZONEFILE",
		Short: "Sign a zone file with the owner key",
		Long: `Sign ZONEFILE the way dnssec-signzone does: the owner's DNSKEY at the apex,
an RRSIG (Ed25519, algorithm 15) on every authoritative RRset, an NSEC chain,
nothing signed at or below a delegation but the DS and NSEC. The zone is the
key's zone; relative names in ZONEFILE are completed with it.

Writes the signed zone (a BIND master file; ldns-verify-zone accepts it) to
ZONEFILE.signed, or --out, and the signed zone head (the Merkle root of the
zone, signed by the same key) beside it as FILE.head.`,
		Example: `  ddnrs zone sign --key Kexample.com.+015+12345.private example.com.zone
  ddnrs zone sign --key Kexample.com.+015+12345.private --validity 168h --out /srv/example.com.signed example.com.zone
  ddnrs zone sign --key Kexample.com.+015+12345.private --inception 2025-01-01T00:00:00Z --expiration 2025-02-01T00:00:00Z example.com.zone`,
		Args: exactArgs("ZONEFILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			return runSign(cmd.Context(), e, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Key, "key", "", "owner key: the .private file from 'ddnrs zone keygen' (required)")
	f.StringVar(&opts.Out, "out", "", "signed zone file to write (default ZONEFILE.signed)")
	f.DurationVar(&opts.Validity, "validity", 30*24*time.Hour, "how long the signatures stay valid from now")
	f.StringVar(&opts.Inception, "inception", "", "signatures valid from this time, RFC 3339 (default an hour ago)")
	f.StringVar(&opts.Expiration, "expiration", "", "signatures valid until this time, RFC 3339 (overrides --validity)")
	return cmd
}

// signWindow returns the sign options the flags ask for at time now.
func signWindow(now time.Time, validity time.Duration, inception, expiration string) (zone.SignOptions, error) {
	opt := zone.DefaultSignOptions(now)
	if validity <= 0 {
		return opt, usagef("--validity %s: want a positive duration such as 720h", validity)
	}
	opt.Expiration = now.Add(validity)
	if inception != "" {
		t, err := time.Parse(time.RFC3339, inception)
		if err != nil {
			return opt, usagef("--inception %q: want RFC 3339 time such as 2025-01-01T00:00:00Z", inception)
		}
		opt.Inception = t
	}
	if expiration != "" {
		t, err := time.Parse(time.RFC3339, expiration)
		if err != nil {
			return opt, usagef("--expiration %q: want RFC 3339 time such as 2025-02-01T00:00:00Z", expiration)
		}
		opt.Expiration = t
	}
	if !opt.Expiration.After(opt.Inception) {
		return opt, usagef("signatures would expire (%s) before they begin (%s)", opt.Expiration.UTC().Format(time.RFC3339), opt.Inception.UTC().Format(time.RFC3339))
	}
	return opt, nil
}

func runSign(_ context.Context, e *env, opts *signOptions) error {
	if opts.Key == "" {
		return usagef("--key KEYFILE is required: the .private file of the zone's owner key")
	}
	now := e.now()
	opt, err := signWindow(now, opts.Validity, opts.Inception, opts.Expiration)
	if err != nil {
		return err
	}
	k, err := loadKey(opts.Key, true)
	if err != nil {
		return err
	}
	z, err := readZone(opts.File, k.Zone, k)
	if err != nil {
		return err
	}
	signed, err := zone.Sign(z, k, opt)
	if err != nil {
		return fmt.Errorf("sign %s: %w", opts.File, err)
	}
	out := opts.Out
	if out == "" {
		out = opts.File + ".signed"
	}
	if err := writeSigned(out, signed); err != nil {
		return err
	}
	sigs := 0
	for _, s := range signed.RRsets() {
		sigs += s.NumSignatures()
	}
	fmt.Fprintf(e.stdout, "signed %s serial %d with key %d: %d RRsets, %d RRSIGs, valid %s to %s\n",
		signed.Origin, signed.Serial(), k.Tag(), len(signed.RRsets()), sigs,
		opt.Inception.UTC().Format(time.RFC3339), opt.Expiration.UTC().Format(time.RFC3339))
	fmt.Fprintf(e.stdout, "wrote %s and %s.head\n", out, out)
	if !opt.Expiration.After(now) {
		fmt.Fprintf(e.stderr, "warning: these signatures expired at %s; validators will reject the zone\n", opt.Expiration.UTC().Format(time.RFC3339))
	}
	return nil
}

// writeSigned writes z to path as a BIND master file and, when z has a
// signed head, the head's note to path.head, each atomically.
func writeSigned(path string, z *zone.Zone) error {
	var buf bytes.Buffer
	if err := zone.Write(&buf, z); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := atomicfile.Write(path, buf.Bytes(), 0o644); err != nil {
		return err
	}
	if z.Head == nil {
		return nil
	}
	return atomicfile.Write(path+".head", z.Head.Note, 0o644)
}
