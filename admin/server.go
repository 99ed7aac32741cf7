package admin

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// MaxCommandSize caps the body of a write (an encoded raftfsm command; a
// CreateZone carries a whole signed zone).
const MaxCommandSize = 64 << 20

// maxJSONRequest caps the body of a JSON admin request.
const maxJSONRequest = 1 << 20

// Group is what the endpoint needs of the node's Raft group for
// membership and status (*raftfsm.Group satisfies it).
type Group interface {
	AddVoter(ctx context.Context, id, addr string) error
	AddNonvoter(ctx context.Context, id, addr string) error
	RemoveServer(ctx context.Context, id string) error
	TransferLeadership(ctx context.Context, id string) error
	Members(ctx context.Context) ([]raftfsm.Member, error)
	Stats() raftfsm.GroupStats
	Leader() (id, addr string)
}

// Node is what the endpoint needs of the node it runs in. Its methods are
// called from request goroutines, concurrently; each honours ctx.
type Node interface {
	// Change sends cmd, a zone command (create, publish, rotate,
	// delete, suspend) for origin, on the node's write path: applied
	// when the node leads, else forwarded once to the leader (never
	// when forwarded is set: the request came from a member), or to
	// the group that holds origin. It returns after commit.
	Change(ctx context.Context, origin string, cmd raftfsm.Encoded, forwarded bool) (*ChangeResult, error)
	// ProposeRegistry applies an encoded registry command, forwarding
	// it once to the leader unless forwarded, and returns its index.
	ProposeRegistry(ctx context.Context, cmd []byte, forwarded bool) (uint64, error)
	// Register proposes a registry command the endpoint makes itself
	// (a heartbeat of another group's node, an operator's API key) and
	// returns once the local replica applied it. Off the registry group
	// it returns an error wrapping ErrBadRequest.
	Register(ctx context.Context, c raftfsm.Command) error
	// Announce applies a SetMember for req on this node (a
	// *raftfsm.NotLeaderError when it does not lead).
	Announce(ctx context.Context, req AnnounceRequest) error
	// ZoneCopy is the local replica of origin, or another group's copy,
	// verified; raftfsm.ErrNoZone (wrapped) when no group holds it.
	ZoneCopy(ctx context.Context, origin string) (*zone.Zone, error)
	// Member returns the admin and DNS addresses member id announced.
	Member(id string) (MemberAddrs, bool)
	// Status fills the node-level fields of Status (addresses, zones,
	// readiness); the endpoint adds Raft's.
	Status() Status
	// Ready returns nil when the node is ready to serve.
	Ready() error
	// WaitProcessed returns once the node's state machine has processed
	// log entry index (raftfsm.FSM.WaitProcessed), with the index it
	// reached; with ctx's error and that index when ctx ends first.
	WaitProcessed(ctx context.Context, index uint64) (uint64, error)
	// Snapshot writes a snapshot of the local state to w; Restore
	// replaces the group's state with one (leader only).
	Snapshot(ctx context.Context, w io.Writer) error
	// rollbacks are the owners' rollback statements (zone.Rollback) for
	// the zones the snapshot moves to an older serial; without one for
	// each, Restore refuses (*raftfsm.RollbackError).
	Restore(ctx context.Context, r io.Reader, rollbacks [][]byte) error
	// Now is the clock of directory records and keys (whole seconds).
	Now() time.Time
}

// MemberAddrs are the addresses a member announced with SetMember.
type MemberAddrs struct {
	Admin string
	DNS   string
}

// Options configure a Server. Every field is required.
type Options struct {
	Log *slog.Logger
	// RequestTimeout bounds every request but snapshots; ForwardTimeout
	// bounds a request forwarded to the leader or asked of a member.
	RequestTimeout, ForwardTimeout time.Duration
	Group                          Group
	Node                           Node
	// Client forwards requests to other members' endpoints.
	Client *Client
	// Metrics is served at /metrics; Forwarded counts requests
	// forwarded to the leader by result ("ok" or an error code).
	Metrics   *prometheus.Registry
	Forwarded *prometheus.CounterVec
	// Rejected counts commands refused before they reach the node (a
	// command that does not decode), by reason.
	Rejected *prometheus.CounterVec
	// Authorize, when set, is asked before every request is handled,
	// with the request (its TLS state names the client certificate); an
	// error answers 403 with code forbidden and the error as message.
	// Default (nil): every client the TLS configuration let in may call
	// every path.
	Authorize func(r *http.Request) error
	// CheckRemoved, when set, answers a leader's notice that this node
	// was removed from the group (POST /v1/group/removed, removed.go): it
	// asks the leader's configuration and reports whether this node is
	// out of it (standing.Standing.Check). nil: notices are refused.
	CheckRemoved func(ctx context.Context) (removed bool, err error)
	// CheckJoin, when set, is asked before a join (POST /v1/group/join)
	// is forwarded or applied: an error refuses it (a
	// *raftfsm.RejectedError answers 422 with its reason). The node asks
	// whether the registry's log removed the id (standing.RemovedIDs).
	// nil: every valid id may join.
	CheckJoin func(id string) error
}

// Server is the admin HTTPS endpoint: one http.Server on one listener,
// requiring client certificates from the cluster CA.
type Server struct {
	Options
	srv  *http.Server
	ln   net.Listener
	done chan struct{} // closed when Serve returns
	// active counts requests in flight: shutdown waits for them, not for
	// idle connections.
	active atomic.Int64
	// streams is cancelled when Shutdown starts: long-lived streams
	// (GET /v1/group/processed/stream) end then rather than hold it up.
	streams     context.Context
	stopStreams context.CancelFunc
}

// streamsCtx is cancelled when Shutdown starts.
func (a *Server) streamsCtx() context.Context { return a.streams }

// shutdownPoll is how often shutdown checks for requests in flight.
const shutdownPoll = 5 * time.Millisecond

// Listen binds the admin endpoint at addr with server TLS config tc
// (pki.ServerTLS: client certificates required). Serve starts it.
func Listen(addr string, tc *tls.Config, o Options) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin %s: %w", addr, err)
	}
	a := &Server{Options: o, ln: tls.NewListener(ln, tc), done: make(chan struct{})}
	a.streams, a.stopStreams = context.WithCancel(context.Background())
	a.srv = &http.Server{
		Handler:           a.counted(a.authorized(a.routes())),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(o.Log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.Background() },
	}
	return a, nil
}

// Addr is the bound address.
func (a *Server) Addr() string { return a.ln.Addr().String() }

// Serve runs the server until Shutdown; the caller owns the goroutine.
func (a *Server) Serve() {
	defer close(a.done)
	if err := a.srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.Log.Error("admin endpoint stopped", "err", err)
	}
}

// CloseUnserved closes the listener of a Server that never served.
func (a *Server) CloseUnserved() error { a.stopStreams(); return a.ln.Close() }

// authorized answers 403 forbidden to a request Options.Authorize
// refuses.
func (a *Server) authorized(h http.Handler) http.Handler {
	if a.Authorize == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := a.Authorize(r); err != nil {
			a.Log.Warn("admin request refused by certificate scope", "method", r.Method, "path", r.URL.Path, "err", err)
			writeJSON(w, http.StatusForbidden, &APIError{Code: CodeForbidden, Message: err.Error()})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// counted counts the requests in flight through h.
func (a *Server) counted(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.active.Add(1)
		defer a.active.Add(-1)
		h.ServeHTTP(w, r)
	})
}

// Shutdown stops accepting, lets requests in flight finish until ctx ends,
// then closes every connection, and waits for serve to return.
//
// It does not wait for idle connections to go away by themselves:
// http.Server.Shutdown sends an HTTP/2 connection GOAWAY and then waits up
// to a second for the peer to hang up, and every other member keeps an
// idle HTTP/2 connection to this endpoint, so a plain Shutdown took a
// second per stop with nothing left to do.
func (a *Server) Shutdown(ctx context.Context) error {
	a.stopStreams()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- a.srv.Shutdown(sctx) }()
	tick := time.NewTicker(shutdownPoll)
	defer tick.Stop()
	var err error
wait:
	for {
		select {
		case err = <-shut: // every connection closed by itself, or ctx ended
			break wait
		case <-tick.C:
			if a.active.Load() == 0 {
				cancel()
				if e := <-shut; e != nil && !errors.Is(e, context.Canceled) {
					err = e
				}
				break wait
			}
		}
	}
	err = errors.Join(err, a.srv.Close())
	<-a.done
	return err
}

func (a *Server) routes() http.Handler {
	mux := http.NewServeMux()
	bounded := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, withDeadline(a.RequestTimeout, h))
	}
	bounded("POST /v1/zones/{zone}/changes", a.handleChange)
	bounded("GET /v1/zones/{zone}", a.handleZone)
	bounded("GET /v1/group/status", a.handleStatus)
	bounded("GET /v1/group/processed", a.handleProcessed)
	bounded("GET /v1/group/members", a.handleMembers)
	bounded("POST /v1/group/removed", a.handleRemoved)
	bounded("POST /v1/group/join", a.handleJoin)
	bounded("POST /v1/group/remove", a.handleRemove)
	bounded("POST /v1/group/transfer-leader", a.handleTransfer)
	bounded("POST /v1/group/announce", a.handleAnnounce)
	a.registryRoutes(bounded)
	// Snapshots stream: bounded by the client, and by Raft's own
	// timeouts for a restore, not by RequestTimeout.
	mux.HandleFunc("GET /v1/snapshot", a.handleSnapshot)
	// A processed stream lasts up to its for parameter (processed_stream.go).
	mux.HandleFunc("GET /v1/group/processed/stream", a.handleProcessedStream)
	mux.HandleFunc("POST /v1/snapshot/restore", a.handleRestore)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
	bounded("GET /readyz", a.handleReady)
	mux.Handle("GET /metrics", withDeadline(a.RequestTimeout, promhttp.HandlerFor(a.Metrics, promhttp.HandlerOpts{Registry: a.Metrics})))
	return mux
}

// withDeadline bounds h's request context by d; every wait in the
// handlers honours it.
func withDeadline(d time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}

// fail writes err as its APIError.
func (a *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	ae := ErrorOf(err)
	if ae.Code == CodeInternal {
		a.Log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if ae.Code == CodeNotLeader && ae.LeaderAdmin == "" {
		if m, ok := a.Node.Member(ae.LeaderID); ok {
			ae.LeaderAdmin = m.Admin
		}
	}
	status := ae.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, ae)
}

// readBody reads at most limit bytes of the request body.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading body: %w", ErrBadRequest, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: body larger than %d bytes", ErrBadRequest, limit)
	}
	return b, nil
}

func decodeJSON(r *http.Request, v any) ([]byte, error) {
	b, err := readBody(r, maxJSONRequest)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return b, nil
}

// zoneName checks the {zone} path value and returns it canonical.
func zoneName(r *http.Request) (string, error) {
	z := r.PathValue("zone")
	if _, ok := dns.IsDomainName(z); !ok || z == "" {
		return "", fmt.Errorf("%w: zone %q is not a domain name", ErrBadRequest, z)
	}
	return zone.CanonicalName(z), nil
}

// handleChange decodes a zone command and hands it to the node's write
// path (Node.Change): applied on the leader and answered after commit,
// or forwarded once to the leader, or to the zone's group.
func (a *Server) handleChange(w http.ResponseWriter, r *http.Request) {
	origin, err := zoneName(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	b, err := readBody(r, MaxCommandSize)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if len(b) == 0 {
		a.fail(w, r, fmt.Errorf("%w: empty command", ErrBadRequest))
		return
	}
	cmd, err := raftfsm.Decode(b)
	if err != nil {
		// A command this build cannot decode would halt every
		// replica's state machine: it never enters the log.
		a.Rejected.WithLabelValues(string(raftfsm.ReasonMalformed)).Inc()
		a.fail(w, r, err)
		return
	}
	res, err := a.Node.Change(r.Context(), origin, cmd, r.Header.Get(HeaderForwarded) != "")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// handleZone exports the local replica of a zone. For a zone another
// group of the overlay holds it exports that group's copy, fetched over
// DDNRS-RPC and verified against the owner key (Node.ZoneCopy), so a
// publisher can go through any node; when no copy can be had it fails
// unavailable, never not_found, which a publisher takes for "create it".
func (a *Server) handleZone(w http.ResponseWriter, r *http.Request) {
	origin, err := zoneName(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	z, err := a.Node.ZoneCopy(r.Context(), origin)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var sb strings.Builder
	if err := zone.Write(&sb, z); err != nil {
		a.fail(w, r, err)
		return
	}
	out := ZoneExport{Zone: z.Origin, Serial: z.Serial(), ZoneFile: sb.String()}
	if z.Head != nil {
		out.Head = string(z.Head.Note)
	}
	writeJSON(w, http.StatusOK, out)
}

// localStatus is this node's Status.
func (a *Server) localStatus() Status {
	s := a.Node.Status()
	st := a.Group.Stats()
	s.State = fmt.Sprint(st.State)
	s.Term, s.LastIndex, s.CommitIndex, s.AppliedIndex = st.Term, st.LastIndex, st.CommitIndex, st.AppliedIndex
	s.LeaderID, s.LeaderRaft = a.Group.Leader()
	if s.LeaderID != s.ID && !st.LastContact.IsZero() {
		s.LastContactMS = time.Since(st.LastContact).Milliseconds()
	}
	return s
}

func (a *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.localStatus())
}

// handleMembers answers with the leader's view of the group: a follower
// forwards the request once to the leader's admin endpoint, because its
// own copy of the configuration can lag (a member just removed would
// still be listed). When no leader is known or it cannot be reached, the
// member answers with its own view, so an operator still sees the group
// without a quorum.
func (a *Server) handleMembers(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(HeaderForwarded) == "" {
		if rows, ok := a.leaderMembers(r.Context()); ok {
			writeJSON(w, http.StatusOK, rows)
			return
		}
	}
	a.localMembers(w, r)
}

// leaderMembers asks the leader for its members list when this node is
// not the leader; ok is false when this node leads, no leader is known,
// or the leader did not answer within the forward timeout.
func (a *Server) leaderMembers(ctx context.Context) (rows []MemberStatus, ok bool) {
	leaderID, _ := a.Group.Leader()
	if leaderID == "" || leaderID == a.Node.Status().ID {
		return nil, false
	}
	m, found := a.Node.Member(leaderID)
	if !found || m.Admin == "" {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(ctx, a.ForwardTimeout)
	defer cancel()
	rows, err := a.Client.MembersForwarded(ctx, m.Admin)
	if err != nil {
		a.Log.Debug("members: leader did not answer, listing this member's view", "leader", leaderID, "err", err)
		return nil, false
	}
	return rows, true
}

// localMembers lists the Raft configuration this member knows and asks
// every member with a known admin address for its status, in parallel,
// each bounded by the forward timeout, to show how far it trails the
// leader.
func (a *Server) localMembers(w http.ResponseWriter, r *http.Request) {
	members, err := a.Group.Members(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	self := a.localStatus()
	rows := make([]MemberStatus, len(members))
	statuses := make([]*Status, len(members))
	ctx, cancel := context.WithTimeout(r.Context(), a.ForwardTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for i, m := range members {
		rows[i] = MemberStatus{ID: m.ID, Raft: m.Addr, Voter: m.Voter, Leader: m.Leader, Trails: -1}
		if addrs, ok := a.Node.Member(m.ID); ok {
			rows[i].Admin, rows[i].DNS = addrs.Admin, addrs.DNS
		}
		if m.ID == self.ID {
			statuses[i] = &self
			continue
		}
		if rows[i].Admin == "" {
			rows[i].Error = "no admin address announced yet"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := a.Client.Status(ctx, rows[i].Admin)
			if err != nil {
				rows[i].Error = err.Error()
				return
			}
			statuses[i] = s
		}()
	}
	wg.Wait()
	var leaderApplied uint64
	haveLeader := false
	for i := range rows {
		if rows[i].Leader && statuses[i] != nil {
			leaderApplied, haveLeader = statuses[i].AppliedIndex, true
		}
	}
	for i, s := range statuses {
		if s == nil {
			continue
		}
		rows[i].LastIndex, rows[i].AppliedIndex = s.LastIndex, s.AppliedIndex
		if haveLeader {
			rows[i].Trails = max(0, int64(leaderApplied)-int64(s.AppliedIndex))
		}
	}
	writeJSON(w, http.StatusOK, rows)
}

// leaderOnly runs op; when this node is not the leader it forwards the
// request's JSON body once to the leader's admin endpoint instead.
func (a *Server) leaderOnly(w http.ResponseWriter, r *http.Request, body []byte, op func(ctx context.Context) error) {
	err := op(r.Context())
	var nl *raftfsm.NotLeaderError
	if errors.As(err, &nl) && r.Header.Get(HeaderForwarded) == "" {
		err = a.forwarder().To(r.Context(), nl, func(ctx context.Context, addr string) error {
			return a.Client.ForwardJSON(ctx, addr, r.URL.Path, body)
		})
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *Server) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	body, err := decodeJSON(r, &req)
	if err == nil && (!ValidID(req.ID) || req.RaftAddr == "") {
		err = fmt.Errorf("%w: join needs a valid id and raft_addr", ErrBadRequest)
	}
	if err == nil && a.CheckJoin != nil {
		err = a.CheckJoin(req.ID)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.leaderOnly(w, r, body, func(ctx context.Context) error {
		if a.CheckJoin != nil {
			if err := a.CheckJoin(req.ID); err != nil { // the leader's view too
				return err
			}
		}
		var err error
		if req.NonVoter {
			err = a.Group.AddNonvoter(ctx, req.ID, req.RaftAddr)
		} else {
			err = a.Group.AddVoter(ctx, req.ID, req.RaftAddr)
		}
		if err == nil {
			a.Log.Info("member added", "id", req.ID, "raft", req.RaftAddr, "non_voter", req.NonVoter)
		}
		return err
	})
}

func (a *Server) handleRemove(w http.ResponseWriter, r *http.Request) {
	var req RemoveRequest
	body, err := decodeJSON(r, &req)
	if err == nil && req.ID == "" {
		err = fmt.Errorf("%w: remove needs an id", ErrBadRequest)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.leaderOnly(w, r, body, func(ctx context.Context) error {
		m, _ := a.Node.Member(req.ID) // before: the directory may drop it
		if err := a.Group.RemoveServer(ctx, req.ID); err != nil {
			return err
		}
		a.tellRemoved(ctx, req.ID, m.Admin) // removed.go
		return nil
	})
}

func (a *Server) handleTransfer(w http.ResponseWriter, r *http.Request) {
	var req TransferRequest
	body, err := decodeJSON(r, &req)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.leaderOnly(w, r, body, func(ctx context.Context) error { return a.Group.TransferLeadership(ctx, req.ID) })
}

func (a *Server) handleAnnounce(w http.ResponseWriter, r *http.Request) {
	var req AnnounceRequest
	body, err := decodeJSON(r, &req)
	if err == nil && (!ValidID(req.ID) || req.Admin == "" || req.DNS == "") {
		err = fmt.Errorf("%w: announce needs id, admin and dns", ErrBadRequest)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.leaderOnly(w, r, body, func(ctx context.Context) error { return a.Node.Announce(ctx, req) })
}

// forwarder forwards to the leader's admin endpoint.
func (a *Server) forwarder() Forwarder {
	return Forwarder{Client: a.Client, Members: a.Node.Member, Timeout: a.ForwardTimeout, Count: a.Forwarded}
}

func (a *Server) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	if err := a.Node.Snapshot(r.Context(), w); err != nil {
		// Headers may be gone already; the client sees a truncated
		// stream, which the snapshot checksum trailer catches.
		a.Log.Warn("snapshot stream failed", "err", err)
		a.fail(w, r, err)
	}
}

func (a *Server) handleRestore(w http.ResponseWriter, r *http.Request) {
	var rollbacks [][]byte
	for _, v := range r.Header.Values(HeaderRollback) {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(b) == 0 {
			a.fail(w, r, fmt.Errorf("%w: header %s is not a base64 rollback statement", ErrBadRequest, HeaderRollback))
			return
		}
		rollbacks = append(rollbacks, b)
	}
	if err := a.Node.Restore(r.Context(), r.Body, rollbacks); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "restored"})
}

func (a *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if err := a.Node.Ready(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// ValidID reports whether id is a usable Raft server ID (and group name):
// 1 to 64 letters, digits, '.', '_' or '-'.
func ValidID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	return strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}) < 0
}
