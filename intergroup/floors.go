package intergroup

// floors.go: the serial floor survives restarts. The overlay's
// client.Verifier refuses an answer from another group whose zone serial
// is below the highest it has verified for that zone under the same owner
// key (client/floor.go). That floor lives in memory; this file keeps it
// in data_dir/serials.json (client.MarshalFloors, version 1), written
// whole and atomically each time a floor rises, and read back before the
// overlay verifies anything, so a node restarted while a member of
// another group replays an older version of a zone still refuses it.
// Keyed per owner key, a zone released and registered again by a new
// owner (a new key) is not blocked by the old owner's serials.

import (
	"log/slog"
	"path/filepath"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/internal/floorfile"
)

// FloorsFile is the serial floors' file in the data directory.
const FloorsFile = "serials.json"

// keepFloors restores v's floors from dir's serials.json and saves them
// there whenever one rises (internal/floorfile).
func keepFloors(dir string, v *client.Verifier, log *slog.Logger) error {
	return floorfile.Keep(filepath.Join(dir, FloorsFile), v, log)
}
