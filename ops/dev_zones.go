package ops

// dev_zones.go: the zones `ddnrs dev` serves: read from the --zone files
// with their keys (or the demo zone), and the trust anchor printed for each.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/internal/keyfile"
	"github.com/ddnrs/ddnrs/zone"
)

// devZone is one zone dev serves: the owner's unsigned zone, its key, and
// what Prepare made of it.
type devZone struct {
	source string // file name, or "built-in" for the demo
	key    *zone.Key
	zone   *zone.Zone // unsigned, then signed
	action zone.Action
	index  uint64 // Raft index the change was committed at; 0 if unchanged
}

// readDevZones reads every --zone/--key pair; nil means serve the demo.
func readDevZones(opts *devOptions) ([]*devZone, error) {
	if len(opts.Zones) != len(opts.Keys) {
		return nil, usagef("each --zone needs a --key: got %d --zone and %d --key", len(opts.Zones), len(opts.Keys))
	}
	if len(opts.Zones) == 0 {
		return nil, nil
	}
	var out []*devZone
	seen := make(map[string]string)
	var errs []error
	for i, path := range opts.Zones {
		dz, err := readDevZone(path, opts.Keys[i])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, ok := seen[dz.zone.Origin]; ok {
			errs = append(errs, fmt.Errorf("%s: zone %s is already given by %s", path, dz.zone.Origin, prev))
			continue
		}
		seen[dz.zone.Origin] = path
		out = append(out, dz)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func readDevZone(path, keyPath string) (*devZone, error) {
	k, err := keyfile.Read(keyPath)
	if err != nil {
		return nil, err
	}
	if k.Private == nil {
		return nil, withHint(fmt.Errorf("key %s: no private key beside it", keyPath), "dev signs the zone itself: give the .private file, or keep it beside the .key")
	}
	if err := k.CheckZone(k.Zone); err != nil {
		return nil, fmt.Errorf("key %s: %w", keyPath, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("zone file: %w", err)
	}
	defer f.Close()
	u, err := zone.ParseFile(f, k.Zone, path)
	if err != nil {
		// zone's errors name the file and line; add where the origin came from.
		return nil, fmt.Errorf("%w\n(origin %s, the zone of key %s)", err, k.Zone, filepath.Base(keyPath))
	}
	return &devZone{source: path, key: k, zone: u}, nil
}

// anchor returns the apex DNSKEY of z that is k's, in one-line text, and
// its DS (SHA-256).
func anchor(z *zone.Zone, k *zone.Key) (dnskey, ds string) {
	key := k.DNSKEY
	if s := z.Apex().RRset(dns.TypeDNSKEY); s != nil {
		for _, rr := range s.Records() {
			if dk, ok := rr.(*dns.DNSKEY); ok && zone.SameKey(dk, k.DNSKEY) {
				key = dk
			}
		}
	}
	oneLine := func(rr dns.RR) string { return strings.Join(strings.Fields(rr.String()), " ") }
	dnskey = oneLine(key)
	if d := key.ToDS(dns.SHA256); d != nil {
		ds = oneLine(d)
	}
	return dnskey, ds
}
