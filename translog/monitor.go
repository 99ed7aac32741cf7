package translog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// MaxRemembered is how many checkpoints a Monitor keeps (one per size,
// the largest sizes); older ones are forgotten.
const MaxRemembered = 1000

// Monitor watches a log: it remembers every checkpoint it has seen (in a
// JSON state file, or in memory) and checks that each new one and the
// largest seen so far are views of the same append-only log. A Monitor is
// used by one goroutine at a time; two monitors must not share a state
// file.
type Monitor struct {
	Origin    string        // the log's origin line; "" = the verifier key's name
	Verifier  note.Verifier // the log's key; required
	StatePath string        // JSON state file; "" = remember in memory only (for this Monitor value)
	// Entries makes Check also fetch the entries added since the last
	// checked size, parse them, and check that they hash to the
	// checkpoint's root (ErrEntriesMismatch when not). The first run with
	// Entries fetches the whole log.
	Entries bool

	mu  sync.Mutex
	mem *monitorState // the state when StatePath is ""
}

// Report is what one Check found.
type Report struct {
	Checkpoint Checkpoint // the checkpoint now served, verified
	Signed     []byte     // its signed note
	// Consistent is how many earlier remembered checkpoints (of other
	// sizes, or the same size re-signed) it was found consistent with.
	Consistent int
	// Previous is the largest checkpoint seen before; Size 0 and no
	// Origin when this is the first.
	Previous Checkpoint
	// Entries are the entries fetched and checked (Monitor.Entries), the
	// first being leaf FirstEntry.
	Entries    []Entry
	FirstEntry uint64
}

// monitorState is the state file's content.
type monitorState struct {
	Version     int              `json:"version"` // 1
	Origin      string           `json:"origin"`
	Checkpoints []seenCheckpoint `json:"checkpoints"` // by size, ascending; every one a prefix of the last
	// Verified is the compact range (RFC 6962 subtree hashes) of the
	// entries [0, Verified.Size) that were fetched and matched a
	// checkpoint, so the next run fetches only newer entries.
	Verified *verifiedRange `json:"verified,omitempty"`
}

type seenCheckpoint struct {
	Size uint64 `json:"size"`
	Root []byte `json:"root"`
	Note string `json:"note"` // the signed checkpoint as served
}

type verifiedRange struct {
	Size   uint64   `json:"size"`
	Hashes [][]byte `json:"hashes"`
}

const stateVersion = 1

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// Check fetches src's checkpoint, verifies its signature and origin
// (ErrCheckpoint), and checks it against the largest checkpoint seen
// before with a consistency proof from src (in whichever direction the
// sizes need). A checkpoint that cannot be a view of the same log as one
// seen before is a *SplitViewError (wrapping ErrSplitView) carrying both
// signed notes; the state is then left as it was. Otherwise the
// checkpoint is remembered and the state saved (atomically, mode 0600).
// Errors fetching from src are returned as they are: they prove nothing.
func (m *Monitor) Check(ctx context.Context, src Source) (Report, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Verifier == nil {
		return Report{}, errors.New("translog: Monitor without a Verifier")
	}
	msg, err := src.Checkpoint(ctx)
	if err != nil {
		return Report{}, err
	}
	c, err := OpenCheckpoint(msg, m.Origin, m.Verifier)
	if err != nil {
		return Report{}, err
	}
	st, err := m.load()
	if err != nil {
		return Report{}, err
	}
	if st.Origin != "" && st.Origin != c.Origin {
		return Report{}, fmt.Errorf("translog: state file %s is for log %q, not %q", m.StatePath, st.Origin, c.Origin)
	}
	st.Origin = c.Origin
	rep := Report{Checkpoint: c, Signed: msg}
	if n := len(st.Checkpoints); n > 0 {
		if err := checkAgainst(ctx, src, st, c, msg); err != nil {
			return Report{}, err
		}
		last := st.Checkpoints[n-1]
		rep.Previous = Checkpoint{Origin: st.Origin, Size: last.Size, Root: [32]byte(last.Root)}
		rep.Consistent = n
	}
	if m.Entries {
		if err := checkEntries(ctx, src, st, c, &rep); err != nil {
			return Report{}, err
		}
	}
	st.remember(c, msg)
	if err := m.save(st); err != nil {
		return Report{}, err
	}
	return rep, nil
}

// checkAgainst checks c (signed as msg) against the remembered
// checkpoints: every one of them is a prefix of the largest, so c is
// consistent with all of them when it is consistent with the largest.
func checkAgainst(ctx context.Context, src Source, st *monitorState, c Checkpoint, msg []byte) error {
	for _, s := range st.Checkpoints {
		if s.Size == c.Size && !bytes.Equal(s.Root, c.Root[:]) {
			return &SplitViewError{A: []byte(s.Note), B: msg,
				Reason: fmt.Sprintf("two checkpoints of size %d with different roots", c.Size)}
		}
	}
	last := st.Checkpoints[len(st.Checkpoints)-1]
	lastRoot := [32]byte(last.Root)
	var err error
	switch {
	case c.Size == last.Size:
		return nil // same root, checked above
	case c.Size == 0 || last.Size == 0:
		return nil // the empty tree (its root checked by OpenCheckpoint) is a prefix of every tree
	case c.Size > last.Size:
		var p [][32]byte
		if p, err = src.Consistency(ctx, last.Size, c.Size); err != nil {
			return err
		}
		err = VerifyConsistency(last.Size, c.Size, lastRoot, c.Root, p)
	default:
		var p [][32]byte
		if p, err = src.Consistency(ctx, c.Size, last.Size); err != nil {
			return err
		}
		err = VerifyConsistency(c.Size, last.Size, c.Root, lastRoot, p)
	}
	if errors.Is(err, ErrProof) {
		return &SplitViewError{A: []byte(last.Note), B: msg,
			Reason: fmt.Sprintf("the log cannot prove its checkpoint of size %d consistent with the one of size %d seen before: %v", c.Size, last.Size, err)}
	}
	return err
}

// checkEntries fetches the entries beyond the verified range up to c.Size
// and checks they hash to c.Root.
func checkEntries(ctx context.Context, src Source, st *monitorState, c Checkpoint, rep *Report) error {
	r := rangeFactory.NewEmptyRange(0)
	if v := st.Verified; v != nil {
		if v.Size > c.Size {
			return nil // c is an earlier prefix, already checked by consistency
		}
		var err error
		if r, err = rangeFactory.NewRange(0, v.Size, v.Hashes); err != nil {
			r = rangeFactory.NewEmptyRange(0) // a damaged state: start over
		}
	}
	rep.FirstEntry = r.End()
	if r.End() < c.Size {
		leaves, err := src.Entries(ctx, r.End(), c.Size)
		if err != nil {
			return err
		}
		if uint64(len(leaves)) != c.Size-r.End() {
			return fmt.Errorf("%w: got %d entries from %d, want %d", ErrEntriesMismatch, len(leaves), r.End(), c.Size-r.End())
		}
		for i, l := range leaves {
			e, err := ParseEntry(l)
			if err != nil {
				return fmt.Errorf("%w: entry %d: %v", ErrEntriesMismatch, rep.FirstEntry+uint64(i), err)
			}
			rep.Entries = append(rep.Entries, e)
			h := hashLeaf(l)
			if err := r.Append(h[:], nil); err != nil {
				return err
			}
		}
	}
	root := sha256Empty()
	if c.Size > 0 {
		h, err := r.GetRootHash(nil)
		if err != nil {
			return err
		}
		root = [32]byte(h)
	}
	if root != c.Root {
		return fmt.Errorf("%w: entries 0 to %d hash to %x, the checkpoint says %x", ErrEntriesMismatch, c.Size, root, c.Root)
	}
	st.Verified = &verifiedRange{Size: c.Size, Hashes: r.Hashes()}
	return nil
}

func sha256Empty() [32]byte { return [32]byte(rfc6962.DefaultHasher.EmptyRoot()) }

// remember adds c, keeping one checkpoint per size (the latest signed
// note) and at most MaxRemembered, dropping the smallest sizes.
func (st *monitorState) remember(c Checkpoint, msg []byte) {
	s := seenCheckpoint{Size: c.Size, Root: c.Root[:], Note: string(msg)}
	i, found := slices.BinarySearchFunc(st.Checkpoints, c.Size, func(s seenCheckpoint, size uint64) int {
		return cmpUint(s.Size, size)
	})
	if found {
		st.Checkpoints[i] = s
	} else {
		st.Checkpoints = slices.Insert(st.Checkpoints, i, s)
	}
	if n := len(st.Checkpoints); n > MaxRemembered {
		st.Checkpoints = slices.Clone(st.Checkpoints[n-MaxRemembered:])
	}
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// load returns the state: from the file, from memory, or empty.
func (m *Monitor) load() (*monitorState, error) {
	empty := &monitorState{Version: stateVersion}
	if m.StatePath == "" {
		if m.mem == nil {
			return empty, nil
		}
		// A copy, so a failed Check leaves the remembered state alone.
		var cp monitorState
		b, _ := json.Marshal(m.mem)
		if err := json.Unmarshal(b, &cp); err != nil {
			return nil, err
		}
		return &cp, nil
	}
	b, err := os.ReadFile(m.StatePath)
	if errors.Is(err, os.ErrNotExist) {
		return empty, nil
	}
	if err != nil {
		return nil, err
	}
	var st monitorState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("translog: state file %s: %w", m.StatePath, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("translog: state file %s has version %d, want %d", m.StatePath, st.Version, stateVersion)
	}
	for i, s := range st.Checkpoints {
		if len(s.Root) != 32 || (i > 0 && s.Size <= st.Checkpoints[i-1].Size) {
			return nil, fmt.Errorf("translog: state file %s: checkpoint %d is damaged", m.StatePath, i)
		}
	}
	return &st, nil
}

// save writes the state: to memory, or to the file through a temporary
// file renamed over it, so a crash leaves the old or the new state.
func (m *Monitor) save(st *monitorState) error {
	if m.StatePath == "" {
		m.mem = st
		return nil
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(m.StatePath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(m.StatePath)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Chmod(0o600)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, m.StatePath)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("translog: saving state %s: %w", m.StatePath, err)
	}
	return nil
}
