package translog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Source is where a Monitor reads a log: the four read endpoints of the
// registry's REST API, or anything else that answers the same.
type Source interface {
	// Checkpoint returns the log's latest signed checkpoint.
	Checkpoint(ctx context.Context) ([]byte, error)
	// Entries returns the leaf data of entries start to end (end
	// exclusive), all of them or an error.
	Entries(ctx context.Context, start, end uint64) ([][]byte, error)
	// Consistency returns the consistency proof between tree sizes first
	// and second.
	Consistency(ctx context.Context, first, second uint64) ([][32]byte, error)
	// Inclusion returns the inclusion proof of leaf index in the tree of
	// size leaves.
	Inclusion(ctx context.Context, index, size uint64) ([][32]byte, error)
}

// The JSON the log endpoints answer (docs/transparency-log.md). A server
// (the api package) and a client (HTTPSource) share these types.
type (
	// EntriesResponse answers GET /v1/log/entries?start=&end=.
	EntriesResponse struct {
		Entries []LogEntry `json:"entries"`
	}
	// LogEntry is one entry: its index, its leaf data (base64, standard
	// alphabet with padding) and, for reading, its decoded form. Only
	// Leaf is hashed and signed; clients must decode Leaf themselves.
	LogEntry struct {
		Index uint64 `json:"index"`
		Leaf  []byte `json:"leaf"`
		Entry *Entry `json:"entry,omitempty"`
	}
	// InclusionResponse answers GET /v1/log/proof/inclusion?index=&size=.
	InclusionResponse struct {
		Index  uint64   `json:"index"`
		Size   uint64   `json:"size"`
		Hashes [][]byte `json:"hashes"`
	}
	// ConsistencyResponse answers GET /v1/log/proof/consistency?first=&second=.
	ConsistencyResponse struct {
		First  uint64   `json:"first"`
		Second uint64   `json:"second"`
		Hashes [][]byte `json:"hashes"`
	}
)

// MaxEntriesPerRequest is the most entries one GET /v1/log/entries
// answers; HTTPSource asks for at most this many at a time.
const MaxEntriesPerRequest = 1000

// Bounds on what HTTPSource reads from a server.
const (
	maxCheckpointBody = 64 << 10
	maxProofBody      = 64 << 10
	maxEntriesBody    = 64 << 20
	maxProofHashes    = 130 // a consistency proof of 64-bit sizes has at most 2·64+1
)

// HTTPSource reads a log from the registry's REST API.
type HTTPSource struct {
	BaseURL string       // like "http://127.0.0.1:8080" (without /v1)
	Client  *http.Client // default http.DefaultClient; its timeout or the ctx bounds each request
	// Retries is how many times a request answered 429 or 503 with a
	// Retry-After header is sent again, each after the wait asked for;
	// 0: never. A wait that would end past the ctx's deadline is not
	// started: the *HTTPError is returned at once.
	Retries int
	// OnRetry, when set, is called before each such wait (attempt counts
	// from 1).
	OnRetry func(err *HTTPError, attempt int)
}

var _ Source = (*HTTPSource)(nil)

// get fetches path with query and returns at most limit bytes of a 200
// answer; anything else is an *HTTPError.
func (s *HTTPSource) get(ctx context.Context, path string, q url.Values, limit int64) ([]byte, string, error) {
	u := strings.TrimRight(s.BaseURL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	for attempt := 1; ; attempt++ {
		body, err := s.getOnce(ctx, u, limit)
		he, ok := errors.AsType[*HTTPError](err)
		if !ok || he.RetryAfter <= 0 || attempt > s.Retries {
			return body, u, err
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) < he.RetryAfter {
			return body, u, err
		}
		if s.OnRetry != nil {
			s.OnRetry(he, attempt)
		}
		t := time.NewTimer(he.RetryAfter)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, u, errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}

// maxRetryAfter caps the wait a server may ask for.
const maxRetryAfter = 5 * time.Minute

// retryAfter reads a 429's or 503's Retry-After: delay seconds or an HTTP
// date (RFC 9110 §10.2.3); 0 when absent or unreadable.
func retryAfter(resp *http.Response) time.Duration {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	} else {
		return 0
	}
	// A wait of 0 ("retry now") still counts as asked for.
	return min(max(d, time.Millisecond), maxRetryAfter)
}

// getOnce is one GET of u.
func (s *HTTPSource) getOnce(ctx context.Context, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	c := s.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("translog: GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &HTTPError{URL: u, Status: resp.StatusCode, Body: excerpt(body), RetryAfter: retryAfter(resp)}
	}
	if int64(len(body)) > limit {
		return nil, &HTTPError{URL: u, Body: fmt.Sprintf("answer longer than %d bytes", limit)}
	}
	return body, nil
}

func excerpt(b []byte) string {
	const n = 512
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// Checkpoint fetches GET /v1/log/checkpoint.
func (s *HTTPSource) Checkpoint(ctx context.Context) ([]byte, error) {
	b, _, err := s.get(ctx, "/v1/log/checkpoint", nil, maxCheckpointBody)
	return b, err
}

// Entries fetches GET /v1/log/entries as many times as needed (at most
// MaxEntriesPerRequest at a time; a server may answer fewer) and checks
// that the indices are the ones asked for.
func (s *HTTPSource) Entries(ctx context.Context, start, end uint64) ([][]byte, error) {
	if start > end {
		return nil, fmt.Errorf("%w: entries %d to %d", ErrRange, start, end)
	}
	out := make([][]byte, 0, min(end-start, MaxEntriesPerRequest))
	for next := start; next < end; {
		stop := min(end, next+MaxEntriesPerRequest)
		q := url.Values{"start": {strconv.FormatUint(next, 10)}, "end": {strconv.FormatUint(stop, 10)}}
		body, u, err := s.get(ctx, "/v1/log/entries", q, maxEntriesBody)
		if err != nil {
			return nil, err
		}
		var r EntriesResponse
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, &HTTPError{URL: u, Body: fmt.Sprintf("bad JSON: %v", err)}
		}
		if len(r.Entries) == 0 || uint64(len(r.Entries)) > stop-next {
			return nil, &HTTPError{URL: u, Body: fmt.Sprintf("%d entries, want 1 to %d", len(r.Entries), stop-next)}
		}
		for _, e := range r.Entries {
			if e.Index != next {
				return nil, &HTTPError{URL: u, Body: fmt.Sprintf("entry index %d, want %d", e.Index, next)}
			}
			out = append(out, e.Leaf)
			next++
		}
	}
	return out, nil
}

// Consistency fetches GET /v1/log/proof/consistency.
func (s *HTTPSource) Consistency(ctx context.Context, first, second uint64) ([][32]byte, error) {
	q := url.Values{"first": {strconv.FormatUint(first, 10)}, "second": {strconv.FormatUint(second, 10)}}
	body, u, err := s.get(ctx, "/v1/log/proof/consistency", q, maxProofBody)
	if err != nil {
		return nil, err
	}
	var r ConsistencyResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, &HTTPError{URL: u, Body: fmt.Sprintf("bad JSON: %v", err)}
	}
	if r.First != first || r.Second != second {
		return nil, &HTTPError{URL: u, Body: fmt.Sprintf("proof from %d to %d, asked %d to %d", r.First, r.Second, first, second)}
	}
	return hashes(u, r.Hashes)
}

// Inclusion fetches GET /v1/log/proof/inclusion.
func (s *HTTPSource) Inclusion(ctx context.Context, index, size uint64) ([][32]byte, error) {
	q := url.Values{"index": {strconv.FormatUint(index, 10)}, "size": {strconv.FormatUint(size, 10)}}
	body, u, err := s.get(ctx, "/v1/log/proof/inclusion", q, maxProofBody)
	if err != nil {
		return nil, err
	}
	var r InclusionResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, &HTTPError{URL: u, Body: fmt.Sprintf("bad JSON: %v", err)}
	}
	if r.Index != index || r.Size != size {
		return nil, &HTTPError{URL: u, Body: fmt.Sprintf("proof of %d in %d, asked %d in %d", r.Index, r.Size, index, size)}
	}
	return hashes(u, r.Hashes)
}

func hashes(u string, in [][]byte) ([][32]byte, error) {
	if len(in) > maxProofHashes {
		return nil, &HTTPError{URL: u, Body: fmt.Sprintf("%d hashes in a proof", len(in))}
	}
	out := make([][32]byte, len(in))
	for i, h := range in {
		if len(h) != 32 {
			return nil, &HTTPError{URL: u, Body: fmt.Sprintf("hash %d is %d bytes, want 32", i, len(h))}
		}
		copy(out[i][:], h)
	}
	return out, nil
}

// ProofHashes converts a proof to the JSON form of the proof endpoints.
func ProofHashes(p [][32]byte) [][]byte {
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = p[i][:]
	}
	return out
}
