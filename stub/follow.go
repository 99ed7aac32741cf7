package stub

// follow.go: the registry's transparency log, read through a node's REST
// API: every checkpoint's signature checked and every new entry checked
// to extend what was read before (client.LogState), the owner keys made
// the Verifier's anchors, and the node-admission entries (a node's id,
// group, region and DNS address) made entry nodes. Kept in the data
// directory's state.json, so a stub restarted while the log is out of
// reach keeps its keys and nodes.
//
// state.json, version 1: {"version":1,"log":<client.LogState JSON>,
// "nodes":{"<node id>":{"dns":"HOST:PORT","region":"eu","group":"g1"}}}.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/internal/atomicfile"
	"github.com/ddnrs/ddnrs/translog"
)

// stateVersion is state.json's version.
const stateVersion = 1

// logNode is a node the log admitted.
type logNode struct {
	DNS    string `json:"dns"`
	Region string `json:"region,omitempty"`
	Group  string `json:"group,omitempty"`
}

type stubState struct {
	Version int                `json:"version"`
	Log     json.RawMessage    `json:"log"`
	Nodes   map[string]logNode `json:"nodes"`
}

// follower reads the log for a Stub. step runs on one goroutine at a
// time (Start, then background); anchors and entries from any.
type follower struct {
	s    *Stub
	path string
	src  *translog.HTTPSource

	mu    sync.Mutex
	st    client.LogState
	nodes map[string]logNode
}

func (s *Stub) newFollower() (*follower, error) {
	f := &follower{
		s:     s,
		path:  filepath.Join(s.opt.DataDir, stateFile),
		src:   &translog.HTTPSource{BaseURL: strings.TrimRight(s.opt.LogURL, "/"), Client: &http.Client{Timeout: 10 * time.Second}},
		st:    client.NewLogState(),
		nodes: map[string]logNode{},
	}
	b, err := os.ReadFile(f.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err == nil {
		var ss stubState
		if err := json.Unmarshal(b, &ss); err != nil || ss.Version != stateVersion {
			return nil, fmt.Errorf("%s: not a stub state of version %d (move it away to read the log afresh): %v", f.path, stateVersion, err)
		}
		st, err := client.ParseLogState(ss.Log)
		if err != nil {
			return nil, fmt.Errorf("%s: log state: %w", f.path, err)
		}
		f.st = st
		if ss.Nodes != nil {
			f.nodes = ss.Nodes
		}
	}
	f.publish()
	return f, nil
}

// step reads the log's new entries and saves the state.
func (f *follower) step(ctx context.Context) error {
	f.mu.Lock()
	st := f.st
	f.mu.Unlock()
	if st.SplitView != "" {
		return fmt.Errorf("%w: %s", translog.ErrSplitView, st.SplitView)
	}
	leaves, err := st.Extend(ctx, f.src, f.s.opt.LogKey, f.s.opt.LogOrigin)
	if err != nil && !errors.Is(err, translog.ErrSplitView) {
		return err
	}
	now := f.s.now()
	f.mu.Lock()
	from := st.Size - uint64(len(leaves))
	for i, l := range leaves {
		e, perr := translog.ParseEntry(l)
		if perr != nil {
			continue
		}
		st.ApplyAt(from+uint64(i), e, now, 10*time.Minute)
		if e.Kind == translog.KindNodeRemoval {
			delete(f.nodes, e.NodeID) // removed for good: never an entry node again
		}
		if e.Kind == translog.KindNodeAdmission {
			n := logNode{Region: e.Region, Group: e.Group}
			for _, a := range e.NodeAddrs {
				if v, ok := strings.CutPrefix(a, "dns="); ok {
					if _, _, herr := net.SplitHostPort(v); herr == nil {
						n.DNS = v
					}
				}
			}
			if n.DNS != "" {
				f.nodes[e.NodeID] = n
			}
		}
	}
	f.st = st
	f.mu.Unlock()
	if serr := f.save(); serr != nil {
		return serr
	}
	f.publish()
	if err != nil {
		f.s.log.Error("registry log: SPLIT VIEW, following stopped", "err", err)
	}
	return err
}

func (f *follower) save() error {
	f.mu.Lock()
	log, err := json.Marshal(f.st)
	var b []byte
	if err == nil {
		b, err = json.MarshalIndent(stubState{Version: stateVersion, Log: log, Nodes: f.nodes}, "", "  ")
	}
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return atomicfile.Write(f.path, b, 0o600)
}

// publish hands the log's owner keys to the Verifier.
func (f *follower) publish() {
	f.s.verifier.SetLogAnchors(f.anchors())
	f.mu.Lock()
	prev := f.st.PreviousAnchors()
	f.mu.Unlock()
	f.s.verifier.SetPreviousAnchors(prev, nil)
}

func (f *follower) anchors() client.Anchors {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st.TrustAnchors(func(z string, err error) {
		f.s.log.Warn("registry log: owner key not usable", "zone", z, "err", err)
	})
}

// entries returns the log's nodes as entry nodes.
func (f *follower) entries() []Entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Entry
	for id, n := range f.nodes {
		out = append(out, Entry{Addr: n.DNS, Region: n.Region, ID: id})
	}
	return out
}
