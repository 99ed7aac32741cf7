package admin

// processed.go: GET /v1/group/processed, how far a member's state
// machine has got (issue 17 item 5). The leader of a write asks every
// member, after the write committed, to answer once it has processed the
// write's index, so that the owner is told which members serve the
// change already (ChangeResult.Members, Pending).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// MaxProcessedWait bounds the wait GET /v1/group/processed takes.
const MaxProcessedWait = 10 * time.Second

// Processed is the answer of GET /v1/group/processed.
type Processed struct {
	ID string `json:"id"`
	// Index is the index of the last log entry the member's state
	// machine processed (raftfsm.FSM.Processed).
	Index uint64 `json:"processed_index"`
	// Reached says whether Index is at least the index asked for; false
	// when the wait ended first.
	Reached bool `json:"reached"`
}

// handleProcessed answers GET /v1/group/processed?index=N&wait=D: at
// once when the state machine has processed entry N, else when it does
// or when D (a Go duration, at most MaxProcessedWait; default 0: do not
// wait) or the request's deadline ends, with Reached false.
func (a *Server) handleProcessed(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	index, err := strconv.ParseUint(q.Get("index"), 10, 64)
	if err != nil {
		a.fail(w, r, fmt.Errorf("%w: index %q: want a log index (a number)", ErrBadRequest, q.Get("index")))
		return
	}
	var wait time.Duration
	if s := q.Get("wait"); s != "" {
		wait, err = time.ParseDuration(s)
		if err != nil || wait < 0 || wait > MaxProcessedWait {
			a.fail(w, r, fmt.Errorf("%w: wait %q: want a duration from 0 to %v (\"500ms\")", ErrBadRequest, s, MaxProcessedWait))
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	at, err := a.Node.WaitProcessed(ctx, index)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, Processed{ID: a.Node.Status().ID, Index: at, Reached: at >= index})
}

// WaitProcessed asks the member at addr to answer once its state
// machine has processed log entry index, waiting at most wait there.
func (c *Client) WaitProcessed(ctx context.Context, addr string, index uint64, wait time.Duration) (*Processed, error) {
	v := url.Values{"index": {strconv.FormatUint(index, 10)}, "wait": {wait.String()}}
	var res Processed
	if err := c.do(ctx, http.MethodGet, addr, "/v1/group/processed?"+v.Encode(), nil, nil, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
