package ops

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
	"github.com/spf13/cobra"
)

// verifyOptions are the flags and arguments of `ddnrs zone verify`.
type verifyOptions struct {
	File   string // the signed zone file
	Key    string // trusted owner key (.key, .private or base); empty: the zone's own DNSKEY
	Origin string // the zone; default the key's zone, else the file's SOA owner
}

// errVerify is returned when a signed zone has problems; they are listed
// one a line in the error text.
var errVerify = errors.New("zone does not verify")

func newZoneVerifyCmd(e *env) *cobra.Command {
	opts := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify [--key KEYFILE] [--origin ZONE] SIGNEDFILE",
		Short: "Check every signature and the NSEC chain of a signed zone",
		Long: `Check that SIGNEDFILE is correctly signed: every RRset that must be signed
has a valid RRSIG by the key within its validity period, no delegation NS
or glue is signed, and the NSEC chain links every name in canonical order
with the right type bitmaps. When SIGNEDFILE.head exists, its signature and
its serial, size and Merkle root are checked against the zone too.

With --key the zone must be signed by that owner key; without it, the zone
is checked against its own apex DNSKEY, which proves consistency but not
ownership. Every problem is listed; the exit status is 1 when there is any.`,
		Example: `  ddnrs zone verify --key Kexample.com.+015+12345.key example.com.zone.signed
  ddnrs zone verify --origin example.com. example.com.zone.signed`,
		Args: exactArgs("SIGNEDFILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			return runVerify(cmd.Context(), e, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Key, "key", "", "the owner key to trust (the .key file is enough)")
	cmd.Flags().StringVar(&opts.Origin, "origin", "", "the zone's name (default: the key's zone, else the SOA owner in SIGNEDFILE)")
	return cmd
}

func runVerify(_ context.Context, e *env, opts *verifyOptions) error {
	var k *zone.Key
	origin := opts.Origin
	if opts.Key != "" {
		var err error
		if k, err = loadKey(opts.Key, false); err != nil {
			return err
		}
		if origin != "" && zone.CanonicalName(origin) != k.Zone {
			return usagef("--origin %s but key %s is for %s", origin, k.FileBase(), k.Zone)
		}
		origin = k.Zone
	}
	src, err := os.ReadFile(opts.File)
	if err != nil {
		return err
	}
	if origin == "" {
		if origin, err = soaOwner(opts.File, src); err != nil {
			return err
		}
	}
	z, err := readZone(opts.File, origin, k)
	if err != nil {
		return err
	}
	if k == nil {
		if k, err = apexKey(z); err != nil {
			return fmt.Errorf("%s: %w", opts.File, err)
		}
		fmt.Fprintf(e.stderr, "note: no --key given: checking against the zone's own DNSKEY %d; pass --key to check it is the owner's\n", k.Tag())
	}
	now := e.now()
	var problems []error
	for _, p := range flatten(zone.CheckSigned(z, k, now)) {
		problems = append(problems, fmt.Errorf("%s: %w", opts.File, p))
	}
	headPath := opts.File + ".head"
	head, headErr := checkHead(headPath, z, k)
	switch {
	case errors.Is(headErr, fs.ErrNotExist):
		head = nil
	case headErr != nil:
		problems = append(problems, fmt.Errorf("%s: %w", headPath, headErr))
	}
	if len(problems) > 0 {
		return withHint(fmt.Errorf("%w: %s has %d problems:\n%w", errVerify, opts.File, len(problems), errors.Join(problems...)),
			"sign the zone again: ddnrs zone sign --key KEYFILE.private ZONEFILE")
	}
	fmt.Fprintf(e.stdout, "%s: OK: zone %s serial %d, %d RRsets, every RRSIG valid for key %d at %s, NSEC chain complete\n",
		opts.File, z.Origin, z.Serial(), len(z.RRsets()), k.Tag(), now.UTC().Format(time.RFC3339))
	if head != nil {
		fmt.Fprintf(e.stdout, "%s: OK: signed head, serial %d, %d leaves, root %s\n", headPath, head.Serial, head.Size, base64.StdEncoding.EncodeToString(head.Root[:]))
	} else {
		fmt.Fprintf(e.stderr, "note: no %s beside it: the signed zone head was not checked\n", headPath)
	}
	return nil
}

// soaOwner returns the owner of the one SOA record in a zone file whose
// names are absolute (as signed files are).
func soaOwner(path string, src []byte) (string, error) {
	rrs, err := zone.ReadRecords(bytes.NewReader(src), ".", path)
	if err != nil {
		return "", withHint(err, "pass --origin ZONE if %s uses relative names without $ORIGIN", path)
	}
	var owners []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeSOA {
			owners = append(owners, rr.Header().Name)
		}
	}
	if len(owners) != 1 {
		return "", withHint(fmt.Errorf("%s: %d SOA records: cannot tell which zone it is", path, len(owners)), "pass --origin ZONE or --key KEYFILE")
	}
	return zone.CanonicalName(owners[0]), nil
}

// apexKey returns the zone's own Ed25519 key from its apex DNSKEY RRset,
// preferring one with the SEP bit.
func apexKey(z *zone.Zone) (*zone.Key, error) {
	set := z.Apex().RRset(dns.TypeDNSKEY)
	if set == nil {
		return nil, withHint(errors.New("no DNSKEY at the apex: the zone is not signed"), "sign it with 'ddnrs zone sign --key KEYFILE ZONEFILE'")
	}
	var best *dns.DNSKEY
	for _, rr := range set.Records() {
		dk := rr.(*dns.DNSKEY)
		if dk.Algorithm != dns.ED25519 {
			continue
		}
		if best == nil || (dk.Flags&dns.SEP != 0 && best.Flags&dns.SEP == 0) {
			best = dk
		}
	}
	if best == nil {
		return nil, withHint(errors.New("no Ed25519 (algorithm 15) DNSKEY at the apex"), "pass the owner's key with --key")
	}
	return &zone.Key{Zone: z.Origin, DNSKEY: best}, nil
}

// checkHead reads the signed head at path, checks its signature by k and
// that it describes z. It returns an error wrapping fs.ErrNotExist when
// there is no head file.
func checkHead(path string, z *zone.Zone, k *zone.Key) (*zone.Head, error) {
	note, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	h, err := zone.ParseHead(note, k)
	if err != nil {
		return nil, err
	}
	t := z.Tree()
	root := t.Root()
	var errs []error
	if h.Serial != z.Serial() {
		errs = append(errs, fmt.Errorf("head serial %d, zone serial %d", h.Serial, z.Serial()))
	}
	if h.Size != t.Size() || h.Root != root {
		errs = append(errs, fmt.Errorf("head describes %d leaves with root %s; the zone has %d with root %s",
			h.Size, base64.StdEncoding.EncodeToString(h.Root[:]), t.Size(), base64.StdEncoding.EncodeToString(root[:])))
	}
	return h, errors.Join(errs...)
}
