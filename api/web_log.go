package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/ddnrs/ddnrs/translog"
)

// logPageSize is how many entries /log shows per page.
const logPageSize = 25

// logListPage is the data of log_list.html.
type logListPage struct {
	webBase
	Signed     string // the signed checkpoint note
	Checkpoint translog.Checkpoint
	Entries    []LogEntry // newest first
	Newer      string     // link to the newer page, "" on the first
	Older      string     // link to the older page, "" on the last
	From, To   uint64     // the indexes shown, To inclusive
}

// logEntryPage is the data of log_entry.html.
type logEntryPage struct {
	webBase
	Signed     string
	Checkpoint translog.Checkpoint
	Entry      LogEntry
	LeafHash   [32]byte
	Proof      [][32]byte
	Verified   bool
	VerifyErr  string // why the proof does not verify, when !Verified
}

// webLog shows the current signed checkpoint and the entries it covers,
// newest first, logPageSize at a time: ?before=N shows entries below N.
func (s *Server) webLog(w http.ResponseWriter, r *http.Request) {
	signed, cp, err := s.checkpoint(r.Context())
	if err != nil {
		s.renderMessage(w, webStatus(err), "Transparency log unavailable", errorMessage(err))
		return
	}
	end := cp.Size
	if v := r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > cp.Size {
			s.renderMessage(w, http.StatusBadRequest, "No such page",
				"before must be a whole number no larger than the log size, "+strconv.FormatUint(cp.Size, 10)+".")
			return
		}
		end = n
	}
	start := uint64(0)
	if end > logPageSize {
		start = end - logPageSize
	}
	page := &logListPage{webBase: webBase{Title: "Transparency log"}, Signed: string(signed), Checkpoint: cp}
	if end > start {
		entries, err := s.logEntries(r.Context(), start, end)
		if err != nil {
			s.renderMessage(w, webStatus(err), "Transparency log unavailable", errorMessage(err))
			return
		}
		for i := len(entries) - 1; i >= 0; i-- {
			page.Entries = append(page.Entries, entries[i])
		}
		page.From, page.To = start, end-1
	}
	if end < cp.Size {
		page.Newer = "/log?before=" + strconv.FormatUint(min(end+logPageSize, cp.Size), 10)
	}
	if start > 0 {
		page.Older = "/log?before=" + strconv.FormatUint(start, 10)
	}
	s.render(w, http.StatusOK, "log_list.html", page)
}

// webLogEntry shows one entry, its inclusion proof in the tree of the
// current checkpoint, and whether the proof verifies against the
// checkpoint's root (translog.VerifyInclusion over the entry's leaf data).
func (s *Server) webLogEntry(w http.ResponseWriter, r *http.Request) {
	index, err := strconv.ParseUint(r.PathValue("index"), 10, 64)
	if err != nil {
		s.renderMessage(w, http.StatusBadRequest, "No such entry", "An entry index is a whole number, from 0.")
		return
	}
	signed, cp, err := s.checkpoint(r.Context())
	if err != nil {
		s.renderMessage(w, webStatus(err), "Transparency log unavailable", errorMessage(err))
		return
	}
	if index >= cp.Size {
		s.renderMessage(w, http.StatusNotFound, "No such entry",
			"The current checkpoint covers entries 0 to "+strconv.FormatInt(int64(cp.Size)-1, 10)+"; entry "+strconv.FormatUint(index, 10)+" is not in it.")
		return
	}
	entries, err := s.logEntries(r.Context(), index, index+1)
	if err == nil && len(entries) != 1 {
		err = errors.New("the log returned no entry")
	}
	if err != nil {
		s.renderMessage(w, webStatus(err), "Transparency log unavailable", errorMessage(err))
		return
	}
	proof, err := s.inclusionProof(r.Context(), index, cp.Size)
	if err != nil {
		s.renderMessage(w, webStatus(err), "Transparency log unavailable", errorMessage(err))
		return
	}
	page := &logEntryPage{webBase: webBase{Title: "Log entry " + strconv.FormatUint(index, 10)},
		Signed: string(signed), Checkpoint: cp, Entry: entries[0], LeafHash: translog.HashLeaf(entries[0].Leaf), Proof: proof}
	if err := translog.VerifyInclusion(entries[0].Leaf, index, cp.Size, cp.Root, proof); err != nil {
		page.VerifyErr = err.Error()
	} else {
		page.Verified = true
	}
	s.render(w, http.StatusOK, "log_entry.html", page)
}
