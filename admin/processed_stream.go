package admin

// processed_stream.go: GET /v1/group/processed/stream, a member's
// processed index pushed as it rises (issue 11 item 5). The leader of a
// write waits for every member to have processed it (read-your-writes,
// writes/ack.go); asking with one GET /v1/group/processed per write cost
// the group 6 HTTPS requests a write, so the leader keeps one stream per
// member open while writes come, and the member writes a line each time
// its state machine moves on.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Bounds of the for parameter of GET /v1/group/processed/stream.
const (
	// DefaultProcessedStream is how long a stream lasts when the request
	// does not say.
	DefaultProcessedStream = 30 * time.Second
	// MaxProcessedStream bounds a stream: a client that wants more opens
	// another, which is checked again (a revoked certificate, a member
	// that lost its state) like any request.
	MaxProcessedStream = 5 * time.Minute
)

// maxProcessedLine bounds one line of a stream, in bytes.
const maxProcessedLine = 1024

// ProcessedLine is one line of GET /v1/group/processed/stream (NDJSON).
type ProcessedLine struct {
	ID string `json:"id"`
	// Index is the index of the last log entry the member's state
	// machine processed when the line was written.
	Index uint64 `json:"processed_index"`
}

// ParseProcessedLine decodes one line of a processed stream (without
// its newline); it refuses a line that is not one ProcessedLine object
// with a member id.
func ParseProcessedLine(b []byte) (ProcessedLine, error) {
	var p ProcessedLine
	if len(b) > maxProcessedLine {
		return p, fmt.Errorf("processed stream: a line of %d bytes, at most %d", len(b), maxProcessedLine)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("processed stream: %w", err)
	}
	if p.ID == "" {
		return p, errors.New("processed stream: a line without the member's id")
	}
	return p, nil
}

// handleProcessedStream answers GET /v1/group/processed/stream?for=D
// with 200 and NDJSON: a ProcessedLine at once, then one each time the
// state machine's processed index rises (indexes reached while a line
// is written are reported together, by the next), until D (a Go
// duration from 1s to MaxProcessedStream; default
// DefaultProcessedStream) ends, the client goes away or the server shuts
// down (Shutdown ends streams first; they do not hold it up).
func (a *Server) handleProcessedStream(w http.ResponseWriter, r *http.Request) {
	d := DefaultProcessedStream
	if s := r.URL.Query().Get("for"); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil || v < time.Second || v > MaxProcessedStream {
			a.fail(w, r, fmt.Errorf("%w: for %q: want a duration from 1s to %v (\"30s\")", ErrBadRequest, s, MaxProcessedStream))
			return
		}
		d = v
	}
	ctx, cancel := context.WithTimeout(r.Context(), d)
	defer cancel()
	stop := context.AfterFunc(a.streamsCtx(), cancel)
	defer stop()
	rc := http.NewResponseController(w)
	// A client that stops reading blocks a write at most this long.
	_ = rc.SetWriteDeadline(time.Now().Add(d + 5*time.Second))
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	id := a.Node.Status().ID
	enc := json.NewEncoder(w)
	var next uint64
	for {
		at, err := a.Node.WaitProcessed(ctx, next)
		if err != nil {
			return // the stream's time is up, the client left, or shutdown
		}
		if err := enc.Encode(ProcessedLine{ID: id, Index: at}); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		next = at + 1
	}
}

// FollowProcessed opens GET /v1/group/processed/stream at addr for d
// (see handleProcessedStream) and calls fn with each line, in order,
// from this goroutine. It returns nil when the stream ends as planned
// (its time is up, the member shut down) or fn returns false, ctx's
// error when ctx ends, and the failure otherwise: the request's
// (*APIError: 404 from a member that predates streams) or a malformed
// line's.
func (c *Client) FollowProcessed(ctx context.Context, addr string, d time.Duration, fn func(ProcessedLine) bool) error {
	v := url.Values{"for": {d.String()}}
	req, err := c.request(ctx, http.MethodGet, addr, "/v1/group/processed/stream?"+v.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("GET %s: %w", addr, ctx.Err())
		}
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return readAPIError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 128), maxProcessedLine)
	for sc.Scan() {
		p, err := ParseProcessedLine(sc.Bytes())
		if err != nil {
			return fmt.Errorf("%s: %w", addr, err)
		}
		if !fn(p) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("GET %s: %w", addr, ctx.Err())
		}
		return fmt.Errorf("%w: %s: processed stream: %w", ErrUnavailable, addr, err)
	}
	return nil
}
