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
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/internal/atomicfile"
)

// FloorsFile is the serial floors' file in the data directory.
const FloorsFile = "serials.json"

// floorSaver writes a Verifier's floors to its file when one rises.
type floorSaver struct {
	path string
	v    *client.Verifier
	log  *slog.Logger
	mu   sync.Mutex // one write at a time; each writes the latest floors
}

// keepFloors restores v's floors from dir's serials.json and saves them
// there whenever one rises. A file that cannot be read is an error: a
// node that silently forgot its floors would accept a rollback.
func keepFloors(dir string, v *client.Verifier, log *slog.Logger) error {
	s := &floorSaver{path: filepath.Join(dir, FloorsFile), v: v, log: log}
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("serial floors: %w", err)
	default:
		fs, err := client.ParseFloors(b)
		if err != nil {
			return fmt.Errorf("serial floors %s: %w (move the file away to start without them)", s.path, err)
		}
		v.RestoreFloors(fs)
	}
	v.OnFloorRaised(s.raised)
	return nil
}

// raised is the Verifier's hook: it runs on a verifying goroutine.
func (s *floorSaver) raised(f client.Floor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := client.MarshalFloors(s.v.Floors())
	if err == nil {
		err = atomicfile.Write(s.path, b, 0o600)
	}
	if err != nil {
		// The floor holds in memory; only a restart before the next
		// successful write would forget this raise.
		s.log.Error("saving the serial floors", "zone", f.Zone, "serial", f.Serial, "err", err)
	}
}
