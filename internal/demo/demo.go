// Package demo is the demo zone `ddnrs dev` publishes when given no zone,
// and its owner key kept in the data directory. Tests of several layers
// use it as their sample zone.
package demo

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ddnrs/ddnrs/internal/atomicfile"
	"github.com/ddnrs/ddnrs/internal/keyfile"
	"github.com/ddnrs/ddnrs/zone"
)

// Origin is the zone `ddnrs dev` serves when given no zone.
const Origin = "demo.ddnrs."

// text shows every kind of answer the server gives: apex data, a
// multi-string TXT, a CNAME chain (chain -> alias -> www), a wildcard with
// an existing name beside it, an empty non-terminal (ent) and a delegation
// (sub) with glue.
const text = `$ORIGIN demo.ddnrs.
$TTL 3600
@          SOA   ns1 hostmaster 1 7200 3600 1209600 300
@          NS    ns1
@          A     127.0.0.1
@          AAAA  ::1
@          MX    10 mail
@          TXT   "ddnrs demo zone" "signed by its owner's Ed25519 key" "try: dig +dnssec"
ns1        A     127.0.0.1
mail       A     127.0.0.3
www        A     127.0.0.2
www        AAAA  ::2
alias      CNAME www
chain      CNAME alias
*.wild     A     127.0.0.9
*.wild     TXT   "any name under wild matches"
exact.wild A     127.0.0.10
host.ent   A     127.0.0.11
sub        NS    ns.sub
ns.sub     A     127.0.0.53
`

// Zone returns the demo zone, unsigned.
func Zone() (*zone.Zone, error) {
	return zone.ParseFile(strings.NewReader(text), Origin, "demo.ddnrs.zone")
}

// KeysDir returns the directory in dataDir that holds owner keys made by
// the node for its own demo zone.
func KeysDir(dataDir string) string { return filepath.Join(dataDir, "keys") }

// Key returns the demo zone's owner key kept in dataDir/keys, making
// and saving a new one (from rand) on first use. created says which. The
// .private file is written 0600 and atomically, so a crash never leaves
// half a key.
func Key(dataDir string, rand io.Reader) (k *zone.Key, created bool, err error) {
	dir := KeysDir(dataDir)
	matches, err := filepath.Glob(filepath.Join(dir, "K"+Origin+"+015+*.private"))
	if err != nil {
		return nil, false, err
	}
	if len(matches) > 0 {
		k, err := keyfile.Read(matches[0])
		return k, false, err
	}
	k, err = zone.GenerateKey(Origin, true, rand)
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("key directory: %w", err)
	}
	base := filepath.Join(dir, k.FileBase())
	if err := atomicfile.Write(base+".key", k.MarshalPublic(), 0o644); err != nil {
		return nil, false, err
	}
	if err := atomicfile.Write(base+".private", k.MarshalPrivate(), 0o600); err != nil {
		return nil, false, err
	}
	return k, true, nil
}
