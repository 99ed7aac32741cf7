package intergroup

// peers.go: the overlay peers a node remembers across restarts.
// A node configured with a few bootstrap peers learns many more while it
// runs (every member of every group it talks to); it keeps them in its
// data directory so that after a restart it rejoins through any of them
// that is up, not only through the configured ones.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ddnrs/ddnrs/internal/atomicfile"
)

const (
	// PeersFile holds the remembered peers, in data_dir.
	PeersFile = "overlay-peers.json"
	// overlayPeersVersion is the file's format version; a file of
	// another version is ignored (and replaced at the next save).
	overlayPeersVersion = 1
	// maxRememberedPeers bounds the addresses kept.
	maxRememberedPeers = 64
	// peerSaveFirst and peerSaveEvery: when the remembered peers are
	// written, after start and then periodically (and at close).
	peerSaveFirst = 5 * time.Second
	peerSaveEvery = time.Minute
)

// errPeersVersion is returned by loadPeers when the file has a version
// this node does not read.
var errPeersVersion = errors.New("unknown format version")

// peersFile is the JSON form of PeersFile.
type peersFile struct {
	Version int       `json:"version"`
	Saved   time.Time `json:"saved"`
	// Peers are overlay multiaddrs ending in /p2p/ID.
	Peers []string `json:"peers"`
}

// loadPeers returns the peers remembered in dir; none (and no error)
// when the file does not exist.
func loadPeers(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, PeersFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f peersFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", PeersFile, err)
	}
	if f.Version != overlayPeersVersion {
		return nil, fmt.Errorf("%s: version %d: %w", PeersFile, f.Version, errPeersVersion)
	}
	var out []string
	for _, p := range f.Peers {
		if strings.HasPrefix(p, "/") && strings.Contains(p, "/p2p/") {
			out = append(out, p)
		}
	}
	return out, nil
}

// savePeers writes peers to dir atomically.
func savePeers(dir string, peers []string, now time.Time) error {
	b, err := json.MarshalIndent(peersFile{Version: overlayPeersVersion, Saved: now.UTC(), Peers: peers}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, PeersFile), append(b, '\n'), 0o644)
}

// bootstrapPeers is the configured bootstrap peers followed by the
// remembered ones, without repeats. A remembered file that cannot be
// read is logged and skipped: the configured peers still work.
func bootstrapPeers(configured []string, dir string, log *slog.Logger) []string {
	out := slices.Clone(configured)
	mem, err := loadPeers(dir)
	if err != nil {
		log.Warn("remembered overlay peers ignored", "err", err)
	}
	for _, p := range mem {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// rememberPeers writes the peers the host knows now, once peerSaveFirst
// after start, then every peerSaveEvery and once more when the overlay
// closes. An empty routing table leaves the file as it was: the peers of
// the last run are better than none. It runs on its own goroutine, owned
// by the Overlay (o.wg), until o.ctx ends.
func (o *Overlay) rememberPeers(dir string) {
	save := func() {
		peers := o.host.KnownPeers(maxRememberedPeers)
		if len(peers) == 0 {
			return
		}
		slices.Sort(peers)
		if err := savePeers(dir, peers, time.Now()); err != nil {
			o.log.Warn("remembering overlay peers", "err", err)
		}
	}
	t := time.NewTimer(peerSaveFirst)
	defer t.Stop()
	for {
		select {
		case <-o.ctx.Done():
			save()
			return
		case <-t.C:
			save()
			t.Reset(peerSaveEvery)
		}
	}
}
