// Package keyfile reads a zone owner's key from its BIND-style file pair
// (Kzone.+015+tag.key and .private). The format itself, and the key, are
// zone's (zone.ParseKey, Key.MarshalPublic, Key.MarshalPrivate); zone
// does no I/O, so the reading from disk is here.
package keyfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/ddnrs/ddnrs/zone"
)

// Read reads an owner key from path, the .private or the .key file; the
// other half is read from beside it. A .key path whose .private is
// missing gives a public-only key (Private nil: it verifies, it cannot
// sign). A .private path needs its .key. Errors wrap fs errors
// (fs.ErrNotExist) and zone's key errors (zone.ErrKeyFormat).
func Read(path string) (*zone.Key, error) {
	base := strings.TrimSuffix(strings.TrimSuffix(path, ".private"), ".key")
	pub, err := os.ReadFile(base + ".key")
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	priv, err := os.ReadFile(base + ".private")
	switch {
	case errors.Is(err, fs.ErrNotExist) && strings.HasSuffix(path, ".key"):
		priv = nil
	case err != nil:
		return nil, fmt.Errorf("read key: %w", err)
	}
	k, err := zone.ParseKey(pub, priv)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	return k, nil
}
