// Package floorfile keeps a client.Verifier's serial floors (the highest
// zone serial verified per zone and owner key) in a file across restarts:
// read back before the Verifier verifies anything, written whole and
// atomically each time a floor rises. A node keeps data_dir/serials.json,
// the stub resolver its own; the format is client.MarshalFloors's
// (docs/architecture.md, "Files a node keeps").
package floorfile

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/internal/atomicfile"
)

// Keep restores v's floors from path (none when it does not exist) and
// saves them there whenever one rises. A file that cannot be read is an
// error wrapping client.ErrBadFloors or the read's error: a program that
// silently forgot its floors would accept a rollback. log gets an error
// line when a save fails (the floor still holds in memory).
func Keep(path string, v *client.Verifier, log *slog.Logger) error {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("serial floors: %w", err)
	default:
		fs, err := client.ParseFloors(b)
		if err != nil {
			return fmt.Errorf("serial floors %s: %w (move the file away to start without them)", path, err)
		}
		v.RestoreFloors(fs)
	}
	s := &saver{path: path, v: v, log: log}
	v.OnFloorRaised(s.raised)
	return nil
}

// saver writes a Verifier's floors to its file when one rises.
type saver struct {
	path string
	v    *client.Verifier
	log  *slog.Logger
	mu   sync.Mutex // one write at a time; each writes the latest floors
}

// raised is the Verifier's hook: it runs on a verifying goroutine.
func (s *saver) raised(f client.Floor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := client.MarshalFloors(s.v.Floors())
	if err == nil {
		err = atomicfile.Write(s.path, b, 0o600)
	}
	if err != nil && s.log != nil {
		// Only a restart before the next successful write forgets it.
		s.log.Error("saving the serial floors", "zone", f.Zone, "serial", f.Serial, "err", err)
	}
}
