package ops

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
	"github.com/spf13/cobra"
)

func newZoneCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "zone",
		Short: "Make owner keys, sign, verify, publish and export zones",
		Long: `The zone owner's tools. A zone is signed on the owner's machine with the
owner's Ed25519 key (DNSSEC algorithm 15); nodes only store and serve it.

Key files are BIND's K<zone>+015+<tag>.key and .private, so dnssec-* and
ldns-* tools read them too. Zone files are BIND master files.`,
		Example: `  ddnrs zone keygen example.com.
  ddnrs zone sign --key Kexample.com.+015+12345.private example.com.zone
  ddnrs zone verify --key Kexample.com.+015+12345.key example.com.zone.signed
  ddnrs zone publish --dev --key Kexample.com.+015+12345.private example.com.zone
  ddnrs zone export --data ./node1 --unsigned example.com.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	cmd.AddCommand(
		newZoneKeygenCmd(e),
		newZoneSignCmd(e),
		newZoneVerifyCmd(e),
		newZoneImportCmd(),
		newZoneExportCmd(e),
		newZonePublishCmd(e),
		newZoneCreateCmd(e),
		newZoneLeaseCmd(),
		newZoneListCmd(),
		newZoneDelegateCmd(e),
		newZoneConsentCmd(e),
		newZoneRollbackSignCmd(e),
		newZoneKeepSignedCmd(e),
	)
	return cmd
}

// keyPaths returns the .key and .private paths for a KEYFILE argument,
// which may name either file or their common base.
func keyPaths(path string) (pub, priv string) {
	base := strings.TrimSuffix(strings.TrimSuffix(path, ".private"), ".key")
	return base + ".key", base + ".private"
}

// loadKey reads the owner key named by path (the .private, the .key, or
// their base); the other half is read from beside it. With needPrivate
// the .private must be there. Every error names the file at fault.
func loadKey(path string, needPrivate bool) (*zone.Key, error) {
	pubPath, privPath := keyPaths(path)
	if _, err := os.Stat(path); err != nil && (path == pubPath || path == privPath) {
		return nil, withHint(err, "KEYFILE is the .private or .key file 'ddnrs zone keygen ZONE' wrote")
	}
	pub, err := os.ReadFile(pubPath)
	if err != nil {
		return nil, withHint(err, "the public half of the key is read from the .key file beside %s", path)
	}
	priv, err := os.ReadFile(privPath)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !needPrivate:
		priv = nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, withHint(err, "signing needs the private key: pass the .private file 'ddnrs zone keygen' wrote beside %s", pubPath)
	case err != nil:
		return nil, err
	}
	k, err := zone.ParseKey(pub, priv)
	if err != nil {
		file := pubPath
		var kfe *zone.KeyFileError
		if errors.As(err, &kfe) && kfe.Part == "private" {
			file = privPath
		}
		err = fmt.Errorf("%s: %w", file, err)
		switch {
		case errors.Is(err, zone.ErrKeyAlgorithm):
			return nil, withHint(err, "DDNRS owner keys are Ed25519 (algorithm 15): make one with 'ddnrs zone keygen ZONE' or 'ldns-keygen -a ED25519 ZONE'")
		case errors.Is(err, zone.ErrKeyMismatch):
			return nil, withHint(err, "%s and %s are halves of different keys", pubPath, privPath)
		}
		return nil, err
	}
	return k, nil
}

// readZone reads the zone file at path with origin for relative names and
// builds the zone. A syntax error names the file and line; a file whose
// SOA is for another zone than origin says so (as zone.ErrKeyZone when
// origin comes from key k, which may be nil); record errors (outside the
// zone, CNAME beside other data, ...) are listed one a line, each naming
// the file.
func readZone(path, origin string, k *zone.Key) (*zone.Zone, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rrs, err := zone.ReadRecords(f, origin, path)
	if err != nil {
		return nil, withHint(err, "fix the record at that line of %s (BIND master-file syntax, RFC 1035 §5)", path)
	}
	for _, rr := range rrs {
		soa, ok := rr.(*dns.SOA)
		if !ok || zone.CanonicalName(soa.Hdr.Name) == zone.CanonicalName(origin) {
			continue
		}
		if k != nil {
			return nil, withHint(fmt.Errorf("%s is the zone %s: %w", path, soa.Hdr.Name, k.CheckZone(soa.Hdr.Name)),
				"a key signs one zone: use the key made for %s ('ddnrs zone keygen %s'), or fix $ORIGIN in %s", soa.Hdr.Name, soa.Hdr.Name, path)
		}
		return nil, withHint(fmt.Errorf("%s: SOA of %s, but the zone is %s", path, soa.Hdr.Name, origin),
			"check $ORIGIN in %s", path)
	}
	z, err := zone.New(origin, rrs)
	if err != nil {
		err = prefixErrors(path, err)
		switch {
		case errors.Is(err, zone.ErrOutOfZone):
			return nil, withHint(err, "every name in %s must be at or below %s; check $ORIGIN and names that end in a dot", path, origin)
		case errors.Is(err, zone.ErrCNAMEAndOther):
			return nil, withHint(err, "a name that has a CNAME can have no other records (RFC 1034 §3.6.2)")
		case errors.Is(err, zone.ErrNoSOA):
			return nil, withHint(err, "a zone file needs one SOA record at %s", origin)
		}
		return nil, err
	}
	return z, nil
}

// flatten returns the leaves of a tree of joined errors.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// prefixErrors returns err's leaves joined again, each prefixed with
// "path: ", so every line names the file.
func prefixErrors(path string, err error) error {
	var out []error
	for _, e := range flatten(err) {
		out = append(out, fmt.Errorf("%s: %w", path, e))
	}
	return errors.Join(out...)
}
