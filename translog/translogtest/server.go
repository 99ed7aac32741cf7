// Package translogtest runs transparency-log servers for tests: an
// httptest server over a translog.Tree answering the four read endpoints
// of the registry's REST API (GET /v1/log/checkpoint, /v1/log/entries,
// /v1/log/proof/inclusion, /v1/log/proof/consistency) exactly as
// docs/transparency-log.md describes them. A test can fork a log (two
// servers sharing a prefix, then diverging), rewrite its history, sign
// with another key or fail every request, to see what a monitor makes of
// it.
package translogtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	"github.com/ddnrs/ddnrs/translog"
	"golang.org/x/mod/sumdb/note"
)

// Key is a fresh log key pair.
type Key struct {
	Signer   note.Signer
	Verifier note.Verifier
	SKey     string // the signer key as translog.GenerateKey returns it
	VKey     string // the verifier key, for `ddnrs log verify --key`
}

// NewKey returns a fresh key named name (translog.DefaultOrigin when "").
func NewKey(tb testing.TB, name string) Key {
	tb.Helper()
	if name == "" {
		name = translog.DefaultOrigin
	}
	skey, vkey, err := translog.GenerateKey(name)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := translog.NewVerifier(vkey)
	if err != nil {
		tb.Fatal(err)
	}
	return Key{Signer: s, Verifier: v, SKey: skey, VKey: vkey}
}

// Server is a log served over HTTP on loopback. Its methods may be called
// while requests are being served.
type Server struct {
	URL string // base URL, for translog.HTTPSource.BaseURL
	Key Key    // the key checkpoints are signed with (until SetSigner)

	srv *httptest.Server

	mu     sync.Mutex
	origin string
	signer note.Signer
	leaves [][]byte
	tree   *translog.Tree
	status int // when not 0, every request is answered with it
}

// NewServer starts an empty log whose origin and key name are origin
// (translog.DefaultOrigin when ""). It is closed by tb.Cleanup.
func NewServer(tb testing.TB, origin string) *Server {
	tb.Helper()
	if origin == "" {
		origin = translog.DefaultOrigin
	}
	return start(tb, NewKey(tb, origin), origin, nil)
}

func start(tb testing.TB, k Key, origin string, leaves [][]byte) *Server {
	tb.Helper()
	s := &Server{Key: k, origin: origin, signer: k.Signer, tree: translog.NewTree()}
	for _, l := range leaves {
		s.leaves = append(s.leaves, l)
		s.tree.Append(l)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/log/checkpoint", s.checkpoint)
	mux.HandleFunc("GET /v1/log/entries", s.entries)
	mux.HandleFunc("GET /v1/log/proof/inclusion", s.inclusion)
	mux.HandleFunc("GET /v1/log/proof/consistency", s.consistency)
	s.srv = httptest.NewServer(s.failing(mux))
	s.URL = s.srv.URL
	tb.Cleanup(s.srv.Close)
	return s
}

// Fork starts a second server with the same key, origin and entries as
// s. Entries appended to either afterwards make the two logs diverge: a
// split view.
func (s *Server) Fork(tb testing.TB) *Server {
	tb.Helper()
	s.mu.Lock()
	leaves := append([][]byte(nil), s.leaves...)
	origin := s.origin
	s.mu.Unlock()
	f := start(tb, s.Key, origin, leaves)
	return f
}

// Source returns an HTTPSource reading s.
func (s *Server) Source() *translog.HTTPSource {
	return &translog.HTTPSource{BaseURL: s.URL, Client: s.srv.Client()}
}

// Append adds entries to the log.
func (s *Server) Append(tb testing.TB, entries ...translog.Entry) {
	tb.Helper()
	for _, e := range entries {
		b, err := e.MarshalBinary()
		if err != nil {
			tb.Fatal(err)
		}
		s.AppendLeaf(b)
	}
}

// AppendLeaf adds one leaf of any data (not necessarily an Entry).
func (s *Server) AppendLeaf(leaf []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leaves = append(s.leaves, leaf)
	s.tree.Append(leaf)
}

// Truncate rewrites history: the log keeps only its first n entries, so
// what is appended next replaces what was there.
func (s *Server) Truncate(n uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leaves = s.leaves[:min(n, uint64(len(s.leaves))):min(n, uint64(len(s.leaves)))]
	s.tree = translog.NewTree()
	for _, l := range s.leaves {
		s.tree.Append(l)
	}
}

// Size returns the number of entries.
func (s *Server) Size() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return uint64(len(s.leaves))
}

// SetSigner makes the server sign its checkpoints with signer (a key the
// monitor does not trust, say).
func (s *Server) SetSigner(signer note.Signer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signer = signer
}

// SetOrigin makes the server put origin on its checkpoints' first line.
func (s *Server) SetOrigin(origin string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.origin = origin
}

// SetStatus makes every request fail with status (0: serve again).
func (s *Server) SetStatus(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// Checkpoint returns the signed checkpoint the server would serve now.
func (s *Server) Checkpoint(tb testing.TB) []byte {
	tb.Helper()
	b, err := s.signedCheckpoint()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func (s *Server) signedCheckpoint() ([]byte, error) {
	s.mu.Lock()
	tree, signer, origin := s.tree, s.signer, s.origin
	s.mu.Unlock()
	size := tree.Size()
	root, err := tree.Root(size)
	if err != nil {
		return nil, err
	}
	return translog.SignCheckpoint(translog.Checkpoint{Origin: origin, Size: size, Root: root}, signer)
}

func (s *Server) failing(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		status := s.status
		s.mu.Unlock()
		if status != 0 {
			writeError(w, status, "test server set to fail")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) checkpoint(w http.ResponseWriter, _ *http.Request) {
	b, err := s.signedCheckpoint()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(b)
}

func (s *Server) entries(w http.ResponseWriter, r *http.Request) {
	start, err1 := param(r, "start")
	end, err2 := param(r, "end")
	if err := errors.Join(err1, err2); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	leaves := s.leaves
	s.mu.Unlock()
	end = min(end, uint64(len(leaves)), start+translog.MaxEntriesPerRequest)
	if start >= end {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("no entries from %d to %d in a log of %d", start, end, len(leaves)))
		return
	}
	resp := translog.EntriesResponse{Entries: []translog.LogEntry{}}
	for i := start; i < end; i++ {
		le := translog.LogEntry{Index: i, Leaf: leaves[i]}
		if e, err := translog.ParseEntry(leaves[i]); err == nil {
			le.Entry = &e
		}
		resp.Entries = append(resp.Entries, le)
	}
	writeJSON(w, resp)
}

func (s *Server) inclusion(w http.ResponseWriter, r *http.Request) {
	index, err1 := param(r, "index")
	size, err2 := param(r, "size")
	if err := errors.Join(err1, err2); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	tree := s.tree
	s.mu.Unlock()
	p, err := tree.InclusionProof(index, size)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, translog.InclusionResponse{Index: index, Size: size, Hashes: translog.ProofHashes(p)})
}

func (s *Server) consistency(w http.ResponseWriter, r *http.Request) {
	first, err1 := param(r, "first")
	second, err2 := param(r, "second")
	if err := errors.Join(err1, err2); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	tree := s.tree
	s.mu.Unlock()
	p, err := tree.ConsistencyProof(first, second)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, translog.ConsistencyResponse{First: first, Second: second, Hashes: translog.ProofHashes(p)})
}

func param(r *http.Request, name string) (uint64, error) {
	v, err := strconv.ParseUint(r.URL.Query().Get(name), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: want a number", name)
	}
	return v, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// writeError answers in the REST API's error shape.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": "invalid_field", "message": msg}})
}
