package overlay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Answerer answers a query from the node's own replica of the zone.
//
// The RPC server calls AnswerLocal from a libp2p stream goroutine, one call
// per Query stream, concurrently with other calls; ctx ends when the
// stream's deadline passes or the server closes. AnswerLocal must not call
// back into the overlay for the same query (a node answers only zones it
// holds). An error whose chain holds a *RPCError is sent with its code;
// any other error is sent as CodeInternal.
type Answerer interface {
	AnswerLocal(ctx context.Context, name string, t uint16, do bool) (*QueryResponse, error)
}

// ZoneSource hands out the whole signed zone the node's group holds, for
// FetchZone. LocalZone returns the zone text (presentation form, as
// zone.Write writes it) and its signed head note; a *RPCError with
// CodeNotFound when the node holds no such zone. Called like
// Answerer.AnswerLocal.
type ZoneSource interface {
	LocalZone(ctx context.Context, origin string) (text, head []byte, err error)
}

// Submitter applies a change to a zone this node's group holds; on a node
// that is not the group's leader it forwards or returns a *RPCError with
// CodeNotLeader. Called like Answerer.AnswerLocal.
type Submitter interface {
	Submit(ctx context.Context, zone string, cmd []byte) (serial uint32, index uint64, err error)
}

// ChangeChecker answers dry runs of SubmitChange: CheckChange checks cmd
// against the zone as this member's replica holds it, without proposing
// it, and returns the zone's SOA serial the change would give. A refusal
// is returned as with Submitter (a *RPCError chooses the code: not
// found, rejected, bad request). The replica may lag the group's leader
// by a few entries. Called like Answerer.AnswerLocal.
type ChangeChecker interface {
	CheckChange(ctx context.Context, zone string, cmd []byte) (serial uint32, err error)
}

// Stable error codes carried in ErrorResponse and SubmitChangeResponse.
const (
	CodeInternal    = "internal"    // the server failed; try another member
	CodeUnsupported = "unsupported" // the server does not serve this request kind
	CodeBadRequest  = "bad_request" // the request was malformed or not a request
	CodeNotFound    = "not_found"   // the server holds no zone for the name
	CodeNotLeader   = "not_leader"  // the change must go to the group leader
	CodeRejected    = "rejected"    // the change was refused (invalid, stale)
	CodeUnavailable = "unavailable" // the server is shutting down or overloaded
	CodeTooLarge    = "too_large"   // the zone exceeds the FetchZone size cap
)

// RPCError is a refusal answered over DDNRS-RPC by a peer (or to be
// answered by this server): a stable code, the state machine's reason
// for a rejection, and a message. Clients return it for ErrorResponse
// frames and failed SubmitChangeResponses; Answerer, Submitter and
// ChangeChecker return it to choose what is sent.
type RPCError struct {
	Code string
	// Reason is the state machine's rejection reason (a raftfsm.Reason)
	// when Code is CodeRejected; "" from a version-1 peer, which sends
	// none.
	Reason  string
	Message string
}

func (e *RPCError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("overlay: rpc error %s (%s): %s", e.Code, e.Reason, e.Message)
	}
	return fmt.Sprintf("overlay: rpc error %s: %s", e.Code, e.Message)
}

// ServerOptions configure a Server. Zero fields take the defaults named.
type ServerOptions struct {
	// Answerer serves Query; nil answers Query with CodeUnsupported.
	Answerer Answerer
	// Submitter serves SubmitChange; nil answers it with CodeUnsupported.
	Submitter Submitter
	// Checker serves SubmitChange dry runs; nil answers them with
	// CodeUnsupported (never with the Submitter).
	Checker ChangeChecker
	// Zones serves FetchZone; nil answers it with CodeUnsupported.
	Zones ZoneSource
	// MaxZoneSize bounds the zone text a FetchZone response carries; a
	// larger zone (or one above the request's MaxSize) is refused with
	// CodeTooLarge. Default DefaultMaxZoneSize (16 MiB).
	MaxZoneSize int
	// Logger receives per-stream errors at debug level. Default: discard.
	Logger *slog.Logger
	// MaxMessageSize bounds request bodies read and responses written.
	// Default DefaultMaxMessageSize (1 MiB).
	MaxMessageSize int
	// Timeout bounds a whole exchange on a stream: reading the request,
	// the Answerer or Submitter call, writing the response. Default 5 s.
	Timeout time.Duration
	// MaxConcurrent bounds the Answerer and Submitter calls running at
	// once; a request beyond it is answered CodeUnavailable at once, so
	// the client asks another member. Default 256.
	MaxConcurrent int
}

// Server serves DDNRS-RPC on a libp2p host. Create it with NewServer; stop
// it with Close.
type Server struct {
	h    host.Host
	opts ServerOptions
	log  *slog.Logger

	ctx    context.Context // canceled by Close; parent of every call
	cancel context.CancelFunc

	slots chan struct{} // one token per running Answerer/Submitter call

	queries, changes, checks, fetches, pings, refused, busy, failed atomic.Uint64

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // running stream handlers
}

// NewServer registers the DDNRS-RPC stream handler on h and returns the
// server. h stays owned by the caller; close the server before h.
func NewServer(h host.Host, opts ServerOptions) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = DefaultMaxMessageSize
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.MaxZoneSize <= 0 {
		opts.MaxZoneSize = DefaultMaxZoneSize
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 256
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		h: h, opts: opts, log: opts.Logger.With("component", "overlay-rpc"),
		ctx: ctx, cancel: cancel, slots: make(chan struct{}, opts.MaxConcurrent),
	}
	h.SetStreamHandler(protocol.ID(ProtocolID), s.handle)
	h.SetStreamHandler(protocol.ID(ProtocolIDV1), s.handle)
	return s
}

// ServerStats are a Server's counters since it was created, for a
// metrics collector to read at scrape time.
type ServerStats struct {
	Queries uint64 // Query requests handed to the Answerer
	Changes uint64 // SubmitChange requests handed to the Submitter
	Checks  uint64 // SubmitChange dry runs handed to the Checker
	Fetches uint64 // FetchZone requests handed to the ZoneSource
	Pings   uint64 // Ping requests answered
	Refused uint64 // streams answered bad_request (protocol violations)
	Busy    uint64 // requests answered unavailable beyond MaxConcurrent
	Failed  uint64 // streams reset without a reply (timeouts, resets, I/O errors)
}

// Stats returns the server's counters.
func (s *Server) Stats() ServerStats {
	return ServerStats{
		Queries: s.queries.Load(), Changes: s.changes.Load(), Checks: s.checks.Load(), Fetches: s.fetches.Load(), Pings: s.pings.Load(),
		Refused: s.refused.Load(), Busy: s.busy.Load(), Failed: s.failed.Load(),
	}
}

// Close removes the stream handler, cancels calls in progress, and waits
// for every running handler to return. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.h.RemoveStreamHandler(protocol.ID(ProtocolID))
	s.h.RemoveStreamHandler(protocol.ID(ProtocolIDV1))
	s.cancel()
	s.wg.Wait()
	return nil
}

// handle serves one stream. libp2p calls it on its own goroutine per
// stream; the server's WaitGroup tracks it so Close can wait for it.
func (s *Server) handle(st network.Stream) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = st.Reset()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	ctx, cancel := context.WithTimeout(s.ctx, s.opts.Timeout)
	defer cancel()
	// fail counts the stream as failed, once, and then resets it. The
	// count comes first so that whoever sees the reset (the client, a test
	// reading Stats) also sees the count: the context's timer (below) can
	// reset the stream before the handler's own read returns.
	var counted atomic.Bool
	fail := func() {
		if counted.CompareAndSwap(false, true) {
			s.failed.Add(1)
		}
		_ = st.Reset()
	}
	// A closing server, or the exchange's timeout, resets the stream so a
	// blocked read or write returns at once.
	stop := context.AfterFunc(ctx, fail)
	defer stop()
	if err := st.SetDeadline(time.Now().Add(s.opts.Timeout)); err != nil {
		fail()
		return
	}
	replied, err := s.serve(ctx, st)
	if err != nil {
		s.log.Debug("rpc stream failed", "peer", st.Conn().RemotePeer(), "err", err)
		if !replied {
			fail()
			return
		}
	}
	_ = st.Close()
}

// serve reads one request, checks the client half-closed, and writes one
// response. A protocol violation that can be named is answered with a
// bad_request ErrorResponse (replied is then true, so the stream is closed
// rather than reset and the reply arrives) and returned as the error.
func (s *Server) serve(ctx context.Context, st network.Stream) (replied bool, err error) {
	// Answer in the version of the stream's protocol until the request
	// says its own.
	v := uint8(WireVersion)
	if st.Protocol() == protocol.ID(ProtocolIDV1) {
		v = 1
	}
	refuse := func(id uint64, msg string, err error) (bool, error) {
		s.refused.Add(1)
		werr := WriteFrame(st, v, id, &ErrorResponse{Code: CodeBadRequest, Message: msg}, s.opts.MaxMessageSize)
		return werr == nil, err
	}
	v2, id, req, err := ReadFrame(st, s.opts.MaxMessageSize)
	if err != nil {
		err = fmt.Errorf("reading request: %w", err)
		if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrUnknownKind) || errors.Is(err, ErrVersion) {
			return refuse(0, err.Error(), err)
		}
		return false, err
	}
	// One request per stream: the next read must see the client's FIN.
	var one [1]byte
	if n, err := st.Read(one[:]); n > 0 || !errors.Is(err, io.EOF) {
		if n > 0 {
			return refuse(id, "one request per stream, then close the write side", ErrUnexpected)
		}
		return false, fmt.Errorf("waiting for the end of the request stream: %w", err)
	}
	v = v2
	resp := ForVersion(s.dispatch(ctx, req), v)
	limit := s.opts.MaxMessageSize
	if resp.Kind() == KindFetchZoneResponse {
		limit = zoneFrameLimit(s.opts.MaxZoneSize, limit)
	}
	if err := WriteFrame(st, v, id, resp, limit); err != nil {
		err = fmt.Errorf("writing %s: %w", resp.Kind(), err)
		if errors.Is(err, ErrTooLarge) {
			werr := WriteFrame(st, v, id, &ErrorResponse{Code: CodeInternal, Message: "response too large"}, s.opts.MaxMessageSize)
			return werr == nil, err
		}
		return false, err
	}
	return true, nil
}

// dispatch computes the response to req.
func (s *Server) dispatch(ctx context.Context, req Message) Message {
	switch req.(type) {
	case *Ping:
		s.pings.Add(1)
		return &Pong{}
	case *QueryRequest, *SubmitChangeRequest, *FetchZoneRequest:
	default:
		s.refused.Add(1)
		return &ErrorResponse{Code: CodeBadRequest, Message: req.Kind().String() + " is not a request"}
	}
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		s.busy.Add(1)
		busy := "server busy: too many requests in progress"
		if _, ok := req.(*SubmitChangeRequest); ok {
			return &SubmitChangeResponse{Code: CodeUnavailable, Message: busy}
		}
		return &ErrorResponse{Code: CodeUnavailable, Message: busy}
	}
	switch m := req.(type) {
	case *QueryRequest:
		s.queries.Add(1)
		if s.opts.Answerer == nil {
			return &ErrorResponse{Code: CodeUnsupported, Message: "this node answers no queries"}
		}
		resp, err := s.opts.Answerer.AnswerLocal(ctx, m.Name, m.Type, m.DO)
		if err != nil {
			return errorResponse(err)
		}
		if resp == nil {
			return &ErrorResponse{Code: CodeInternal, Message: "no answer"}
		}
		return resp
	case *SubmitChangeRequest:
		if m.DryRun {
			s.checks.Add(1)
			if s.opts.Checker == nil {
				return &SubmitChangeResponse{Code: CodeUnsupported, Message: "this node checks no changes (dry run)"}
			}
			serial, err := s.opts.Checker.CheckChange(ctx, m.Zone, m.Cmd)
			if err != nil {
				e := errorResponse(err)
				return &SubmitChangeResponse{Code: e.Code, Message: e.Message, Reason: e.Reason}
			}
			return &SubmitChangeResponse{Serial: serial}
		}
		s.changes.Add(1)
		if s.opts.Submitter == nil {
			return &SubmitChangeResponse{Code: CodeUnsupported, Message: "this node accepts no changes"}
		}
		serial, index, err := s.opts.Submitter.Submit(ctx, m.Zone, m.Cmd)
		if err != nil {
			e := errorResponse(err)
			return &SubmitChangeResponse{Code: e.Code, Message: e.Message, Reason: e.Reason}
		}
		return &SubmitChangeResponse{Serial: serial, Index: index}
	case *FetchZoneRequest:
		s.fetches.Add(1)
		return s.fetchZone(ctx, m)
	}
	return &ErrorResponse{Code: CodeBadRequest, Message: req.Kind().String() + " is not a request"}
}

func errorResponse(err error) *ErrorResponse {
	if re, ok := errors.AsType[*RPCError](err); ok {
		return &ErrorResponse{Code: re.Code, Message: re.Message, Reason: re.Reason}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &ErrorResponse{Code: CodeUnavailable, Message: err.Error()}
	}
	return &ErrorResponse{Code: CodeInternal, Message: err.Error()}
}

// fetchZone answers a FetchZoneRequest from the ZoneSource, refusing a
// zone above the size cap (the server's, or the request's if lower).
func (s *Server) fetchZone(ctx context.Context, m *FetchZoneRequest) Message {
	if s.opts.Zones == nil {
		return &ErrorResponse{Code: CodeUnsupported, Message: "this node hands out no zones"}
	}
	text, head, err := s.opts.Zones.LocalZone(ctx, m.Zone)
	if err != nil {
		return errorResponse(err)
	}
	limit := s.opts.MaxZoneSize
	if m.MaxSize > 0 && uint64(m.MaxSize) < uint64(limit) {
		limit = int(m.MaxSize)
	}
	if len(text) > limit {
		return &ErrorResponse{Code: CodeTooLarge, Message: fmt.Sprintf("zone %s is %d bytes of text, above the cap of %d", m.Zone, len(text), limit)}
	}
	return &FetchZoneResponse{Form: ZoneFormPresentation, Zone: text, Head: head}
}
