package node

import (
	"context"
	"crypto/tls"
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
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// MaxCommandSize caps the body of a write (an encoded raftfsm command; a
// CreateZone carries a whole signed zone).
const MaxCommandSize = 64 << 20

// maxJSONRequest caps the body of a JSON admin request.
const maxJSONRequest = 1 << 20

// group is what the admin endpoint needs of the Raft group
// (*raftfsm.Group satisfies it).
type group interface {
	Apply(ctx context.Context, cmd []byte) (*raftfsm.ApplyResult, error)
	AddVoter(ctx context.Context, id, addr string) error
	AddNonvoter(ctx context.Context, id, addr string) error
	RemoveServer(ctx context.Context, id string) error
	TransferLeadership(ctx context.Context, id string) error
	Members(ctx context.Context) ([]raftfsm.Member, error)
	Stats() raftfsm.GroupStats
	Leader() (id, addr string)
}

// memberAddrs are the addresses a member announced with SetMember.
type memberAddrs struct {
	Admin string
	DNS   string
}

// adminDeps is what the admin endpoint is given by the node.
type adminDeps struct {
	log     *slog.Logger
	cfg     AdminConfig
	group   group
	metrics *Metrics
	client  *AdminClient
	// lookup returns the addresses member id announced, if any.
	lookup func(id string) (memberAddrs, bool)
	// stored returns the local replica of a zone (raftfsm.ErrNoZone if
	// none).
	stored func(origin string) (*zone.Zone, error)
	// status fills the node-level fields of Status (addresses, zones,
	// readiness).
	status func() Status
	// ready returns nil when the node is ready to serve.
	ready func() error
	// snapshot writes a snapshot of the local state to w; restore
	// replaces the group's state with one (leader only).
	snapshot func(ctx context.Context, w io.Writer) error
	restore  func(ctx context.Context, r io.Reader) error
	// holder returns the overlay addresses of another group's members
	// that hold a zone, nil when none does or the overlay is off;
	// submitRemote forwards a change to that group (elsewhere.go).
	holder       func(ctx context.Context, origin string) ([]string, error)
	submitRemote func(ctx context.Context, origin string, cmd []byte) (*ChangeResult, error)
	// fetchRemote returns another group's zone, verified (fetch.go).
	fetchRemote func(ctx context.Context, origin string) (*zone.Zone, error)
	// reg serves the registry routes (registry_admin.go).
	reg registryDeps
}

// admin is the admin HTTPS endpoint: one http.Server on one listener,
// requiring client certificates from the cluster CA.
type admin struct {
	adminDeps
	srv  *http.Server
	ln   net.Listener
	done chan struct{} // closed when Serve returns
	// active counts requests in flight: shutdown waits for them, not for
	// idle connections.
	active atomic.Int64
}

// shutdownPoll is how often shutdown checks for requests in flight.
const shutdownPoll = 5 * time.Millisecond

// listenAdmin binds the admin endpoint at addr with server TLS config tc
// (pki.ServerTLS: client certificates required). Serve starts it.
func listenAdmin(addr string, tc *tls.Config, d adminDeps) (*admin, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin %s: %w", addr, err)
	}
	a := &admin{adminDeps: d, ln: tls.NewListener(ln, tc), done: make(chan struct{})}
	a.srv = &http.Server{
		Handler:           a.counted(a.routes()),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.Background() },
	}
	return a, nil
}

// Addr is the bound address.
func (a *admin) Addr() string { return a.ln.Addr().String() }

// serve runs the server until shutdown; the caller owns the goroutine.
func (a *admin) serve() {
	defer close(a.done)
	if err := a.srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.log.Error("admin endpoint stopped", "err", err)
	}
}

// counted counts the requests in flight through h.
func (a *admin) counted(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.active.Add(1)
		defer a.active.Add(-1)
		h.ServeHTTP(w, r)
	})
}

// shutdown stops accepting, lets requests in flight finish until ctx ends,
// then closes every connection, and waits for serve to return.
//
// It does not wait for idle connections to go away by themselves:
// http.Server.Shutdown sends an HTTP/2 connection GOAWAY and then waits up
// to a second for the peer to hang up, and every other member keeps an
// idle HTTP/2 connection to this endpoint, so a plain Shutdown took a
// second per stop with nothing left to do.
func (a *admin) shutdown(ctx context.Context) error {
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

func (a *admin) routes() http.Handler {
	mux := http.NewServeMux()
	bounded := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, withDeadline(a.cfg.RequestTimeout, h))
	}
	bounded("POST /v1/zones/{zone}/changes", a.handleChange)
	bounded("GET /v1/zones/{zone}", a.handleZone)
	bounded("GET /v1/group/status", a.handleStatus)
	bounded("GET /v1/group/members", a.handleMembers)
	bounded("POST /v1/group/join", a.handleJoin)
	bounded("POST /v1/group/remove", a.handleRemove)
	bounded("POST /v1/group/transfer-leader", a.handleTransfer)
	bounded("POST /v1/group/announce", a.handleAnnounce)
	a.registryRoutes(bounded)
	// Snapshots stream: bounded by the client, and by Raft's own
	// timeouts for a restore, not by RequestTimeout.
	mux.HandleFunc("GET /v1/snapshot", a.handleSnapshot)
	mux.HandleFunc("POST /v1/snapshot/restore", a.handleRestore)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
	bounded("GET /readyz", a.handleReady)
	mux.Handle("GET /metrics", withDeadline(a.cfg.RequestTimeout, promhttp.HandlerFor(a.metrics.Registry(), promhttp.HandlerOpts{Registry: a.metrics.Registry()})))
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
func (a *admin) fail(w http.ResponseWriter, r *http.Request, err error) {
	ae := apiError(err)
	if ae.Code == CodeInternal {
		a.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if ae.Code == CodeNotLeader && ae.LeaderAdmin == "" {
		if m, ok := a.lookup(ae.LeaderID); ok {
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
		return nil, fmt.Errorf("%w: reading body: %w", errBadRequest, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: body larger than %d bytes", errBadRequest, limit)
	}
	return b, nil
}

func decodeJSON(r *http.Request, v any) ([]byte, error) {
	b, err := readBody(r, maxJSONRequest)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadRequest, err)
	}
	return b, nil
}

// zoneName checks the {zone} path value and returns it canonical.
func zoneName(r *http.Request) (string, error) {
	z := r.PathValue("zone")
	if _, ok := dns.IsDomainName(z); !ok || z == "" {
		return "", fmt.Errorf("%w: zone %q is not a domain name", errBadRequest, z)
	}
	return zone.CanonicalName(z), nil
}

// handleChange applies a write on the leader and replies after commit, or
// forwards it once to the leader. An operator's create or delete claims
// or releases the name in the registry first (operatorSubmit).
func (a *admin) handleChange(w http.ResponseWriter, r *http.Request) {
	origin, err := zoneName(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	cmd, err := readBody(r, MaxCommandSize)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if len(cmd) == 0 {
		a.fail(w, r, fmt.Errorf("%w: empty command", errBadRequest))
		return
	}
	var res *ChangeResult
	if r.Header.Get(headerForwarded) == "" {
		res, err = a.operatorSubmit(r.Context(), origin, cmd)
	} else {
		// The member that forwarded it claimed the name.
		res, err = a.submitAnywhere(r.Context(), origin, cmd, false)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// submitAnywhere is submit for a zone this node's group may not hold:
// when the local replica has no such zone and another group of the
// overlay holds it, a CreateZone is refused (ElsewhereError) and any
// other command is forwarded to that group over DDNRS-RPC, bounded by
// the forward timeout. Otherwise it is submit.
func (a *admin) submitAnywhere(ctx context.Context, origin string, cmd []byte, mayForward bool) (*ChangeResult, error) {
	members, err := a.elsewhere(ctx, origin)
	if err != nil {
		return nil, err
	}
	if members == nil {
		return a.submit(ctx, origin, cmd, mayForward)
	}
	if err := checkCommand(origin, cmd); err != nil {
		a.countRejected(err)
		return nil, err
	}
	if c, _ := raftfsm.DecodeCommand(cmd); c != nil {
		if _, create := c.(*raftfsm.CreateZone); create {
			return nil, &ElsewhereError{Zone: origin, Members: members, Create: true}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.ForwardTimeout)
	defer cancel()
	res, err := a.submitRemote(ctx, origin, cmd)
	result := "ok"
	if err != nil {
		result = apiError(err).Code
	}
	a.metrics.forwarded.WithLabelValues(result).Inc()
	if err == nil {
		a.log.Debug("change committed by the zone's group", "zone", origin, "serial", res.Serial, "index", res.Index)
	}
	return res, err
}

// elsewhere returns the overlay addresses of the other group that holds
// origin when this node's replica has no such zone, else nil.
func (a *admin) elsewhere(ctx context.Context, origin string) ([]string, error) {
	if a.holder == nil {
		return nil, nil
	}
	if _, err := a.stored(origin); !errors.Is(err, raftfsm.ErrNoZone) {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.ForwardTimeout)
	defer cancel()
	return a.holder(ctx, origin)
}

// submit applies cmd when this node leads; otherwise, when mayForward,
// forwards it once to the leader. While no leader is known (or its admin
// address is not), it retries for up to LeaderWait. When the outcome of a
// send is unknown (leadership lost while committing), it sends the same
// command again, which is safe: a create or change the group already
// holds is answered as a repeat (raftfsm ApplyResult.Repeat), and a
// deletion resent after the zone is gone is done. It returns after
// commit.
func (a *admin) submit(ctx context.Context, origin string, cmd []byte, mayForward bool) (*ChangeResult, error) {
	wait := time.NewTimer(a.cfg.LeaderWait)
	defer wait.Stop()
	resent := false
	for {
		res, err := a.submitOnce(ctx, origin, cmd, mayForward)
		if resent && err != nil && goneAlready(err) && isDelete(cmd) {
			a.log.Info("deletion resent after an unknown outcome: the zone is gone", "zone", origin)
			return &ChangeResult{Repeat: true}, nil
		}
		if err == nil || !(leaderUnknown(err) || outcomeUnknown(err)) {
			return res, err
		}
		if outcomeUnknown(err) {
			a.log.Info("change outcome unknown; sending it again", "zone", origin, "err", err)
			resent = true
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-wait.C:
			return nil, err
		case <-time.After(leaderPoll):
		}
	}
}

// leaderPoll is how often submit looks for a leader again.
const leaderPoll = 50 * time.Millisecond

// leaderUnknown reports whether err says the write reached no leader, so
// it was not applied and may be sent again.
func leaderUnknown(err error) bool {
	ae := apiError(err)
	return ae.Code == CodeNoLeader || ae.Code == CodeNotLeader
}

func (a *admin) submitOnce(ctx context.Context, origin string, cmd []byte, mayForward bool) (*ChangeResult, error) {
	if err := checkCommand(origin, cmd); err != nil {
		a.countRejected(err)
		return nil, err
	}
	stored := func() int {
		if z, err := a.stored(origin); err == nil {
			return len(z.RRsets())
		}
		return 0
	}
	if err := a.cfg.Limits.check(cmd, stored); err != nil {
		a.countRejected(err)
		return nil, err
	}
	res, err := a.apply(ctx, cmd)
	var nl *raftfsm.NotLeaderError
	if errors.As(err, &nl) && mayForward {
		var out *ChangeResult
		err = a.forward(ctx, nl, func(ctx context.Context, addr string) error {
			var ferr error
			out, ferr = a.client.SubmitChangeForwarded(ctx, addr, origin, cmd)
			return ferr
		})
		return out, err
	}
	if err != nil {
		return nil, err
	}
	if res.Repeat {
		// Committed earlier, at an index this send does not know.
		a.log.Info("change was already committed", "zone", origin, "serial", res.Serial)
		return &ChangeResult{Serial: res.Serial, Repeat: true, Staged: res.Staged}, nil
	}
	a.log.Debug("change committed", "zone", origin, "serial", res.Serial, "index", res.Index)
	return &ChangeResult{Serial: res.Serial, Index: res.Index, Staged: res.Staged}, nil
}

// outcomeUnknown reports whether err says a write may or may not have
// been committed (ErrNoQuorum: leadership lost while committing, or no
// commit in time).
func outcomeUnknown(err error) bool { return apiError(err).Code == CodeNoQuorum }

// isDelete reports whether cmd is a DeleteZone.
func isDelete(cmd []byte) bool {
	c, err := raftfsm.DecodeCommand(cmd)
	_, ok := c.(*raftfsm.DeleteZone)
	return err == nil && ok
}

// goneAlready reports whether err is the group's refusal of a command for
// a zone it does not hold.
func goneAlready(err error) bool {
	ae := apiError(err)
	return ae.Code == CodeRejected && ae.Reason == string(raftfsm.ReasonNoZone)
}

// checkCommand decodes cmd before it is proposed: a command this build
// cannot decode would halt every replica's state machine (raftfsm's rule
// for unknown commands), so it never enters the log. The command must be
// about the zone origin named in the path.
func checkCommand(origin string, cmd []byte) error {
	c, err := raftfsm.DecodeCommand(cmd)
	if err != nil {
		return &raftfsm.RejectedError{Reason: raftfsm.ReasonMalformed, Err: err}
	}
	var z string
	switch c := c.(type) {
	case *raftfsm.CreateZone:
		z = c.Change.Zone
	case *raftfsm.PublishChange:
		z = c.Change.Zone
	case *raftfsm.RotateKey:
		z = c.Change.Zone
	case *raftfsm.DeleteZone:
		z = c.Zone
	case *raftfsm.Suspend:
		z = c.Zone
	case *raftfsm.Unsuspend:
		z = c.Zone
	case *raftfsm.StageBegin:
		z = c.Zone
	case *raftfsm.StageChunk:
		z = c.Zone
	case *raftfsm.StageCommit:
		z = c.Zone
	default:
		return fmt.Errorf("%w: a %v command does not go to a zone's changes (use /v1/group/announce)", errBadRequest, c.Type())
	}
	if zone.CanonicalName(z) != origin {
		return fmt.Errorf("%w: command is about zone %q, path names %q", errBadRequest, z, origin)
	}
	return nil
}

// countRejected counts a rejection by reason.
func (a *admin) countRejected(err error) {
	var rej *raftfsm.RejectedError
	if errors.As(err, &rej) {
		a.metrics.rejected.WithLabelValues(string(rej.Reason)).Inc()
	}
}

// apply hands cmd to Raft and records latency and rejections.
func (a *admin) apply(ctx context.Context, cmd []byte) (*raftfsm.ApplyResult, error) {
	start := time.Now()
	res, err := a.group.Apply(ctx, cmd)
	var rej *raftfsm.RejectedError
	switch {
	case err == nil:
		a.metrics.apply.Observe(time.Since(start).Seconds())
	case errors.As(err, &rej):
		a.metrics.apply.Observe(time.Since(start).Seconds())
		a.countRejected(err)
	}
	return res, err
}

// forward calls fn once with the leader's admin address, bounded by the
// forward timeout. Without a known admin address it returns nl itself
// (not_leader, naming the leader).
func (a *admin) forward(ctx context.Context, nl *raftfsm.NotLeaderError, fn func(ctx context.Context, addr string) error) error {
	if nl.LeaderID == "" {
		return nl
	}
	m, ok := a.lookup(nl.LeaderID)
	if !ok || m.Admin == "" {
		return nl
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.ForwardTimeout)
	defer cancel()
	err := fn(ctx, m.Admin)
	result := "ok"
	if err != nil {
		result = apiError(err).Code
	}
	a.metrics.forwarded.WithLabelValues(result).Inc()
	if ae, ok := errorsAsAPI(err); ok && ae.Code == CodeNotLeader && ae.LeaderAdmin == "" {
		ae.LeaderAdmin = m.Admin
	}
	return err
}

// handleZone exports the local replica of a zone. For a zone another
// group of the overlay holds it exports that group's copy, fetched over
// DDNRS-RPC and verified against the owner key (fetch.go), so a publisher
// can go through any node; when no copy can be had it fails unavailable,
// never not_found, which a publisher takes for "create it".
func (a *admin) handleZone(w http.ResponseWriter, r *http.Request) {
	origin, err := zoneName(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	z, err := a.stored(origin)
	if errors.Is(err, raftfsm.ErrNoZone) {
		if members, herr := a.elsewhere(r.Context(), origin); herr != nil || members != nil {
			err = herr
			if members != nil {
				z, err = a.fetchElsewhere(r.Context(), origin)
			}
		}
	}
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

// fetchElsewhere is handleZone's copy of a zone another group holds,
// bounded by the forward timeout.
func (a *admin) fetchElsewhere(ctx context.Context, origin string) (*zone.Zone, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.ForwardTimeout)
	defer cancel()
	z, err := a.fetchRemote(ctx, origin)
	switch {
	case err == nil:
		return z, nil
	case errors.Is(err, ErrNotHosted):
		// Gone since the lookup: as for any zone no group holds.
		return nil, fmt.Errorf("%w: %w", raftfsm.ErrNoZone, err)
	}
	var re *overlay.RemoteError
	if errors.As(err, &re) {
		return nil, err
	}
	return nil, fmt.Errorf("%w: no verified copy of %s from its group: %w", errUnreachable, origin, err)
}

// localStatus is this node's Status.
func (a *admin) localStatus() Status {
	s := a.status()
	st := a.group.Stats()
	s.State = fmt.Sprint(st.State)
	s.Term, s.LastIndex, s.CommitIndex, s.AppliedIndex = st.Term, st.LastIndex, st.CommitIndex, st.AppliedIndex
	s.LeaderID, s.LeaderRaft = a.group.Leader()
	if s.LeaderID != s.ID && !st.LastContact.IsZero() {
		s.LastContactMS = time.Since(st.LastContact).Milliseconds()
	}
	return s
}

func (a *admin) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.localStatus())
}

// handleMembers answers with the leader's view of the group: a follower
// forwards the request once to the leader's admin endpoint, because its
// own copy of the configuration can lag (a member just removed would
// still be listed). When no leader is known or it cannot be reached, the
// member answers with its own view, so an operator still sees the group
// without a quorum.
func (a *admin) handleMembers(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(headerForwarded) == "" {
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
func (a *admin) leaderMembers(ctx context.Context) (rows []MemberStatus, ok bool) {
	leaderID, _ := a.group.Leader()
	if leaderID == "" || leaderID == a.status().ID {
		return nil, false
	}
	m, found := a.lookup(leaderID)
	if !found || m.Admin == "" {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.ForwardTimeout)
	defer cancel()
	rows, err := a.client.membersForwarded(ctx, m.Admin)
	if err != nil {
		a.log.Debug("members: leader did not answer, listing this member's view", "leader", leaderID, "err", err)
		return nil, false
	}
	return rows, true
}

// localMembers lists the Raft configuration this member knows and asks
// every member with a known admin address for its status, in parallel,
// each bounded by the forward timeout, to show how far it trails the
// leader.
func (a *admin) localMembers(w http.ResponseWriter, r *http.Request) {
	members, err := a.group.Members(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	self := a.localStatus()
	rows := make([]MemberStatus, len(members))
	statuses := make([]*Status, len(members))
	ctx, cancel := context.WithTimeout(r.Context(), a.cfg.ForwardTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for i, m := range members {
		rows[i] = MemberStatus{ID: m.ID, Raft: m.Addr, Voter: m.Voter, Leader: m.Leader, Trails: -1}
		if addrs, ok := a.lookup(m.ID); ok {
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
			s, err := a.client.Status(ctx, rows[i].Admin)
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
func (a *admin) leaderOnly(w http.ResponseWriter, r *http.Request, body []byte, op func(ctx context.Context) error) {
	err := op(r.Context())
	var nl *raftfsm.NotLeaderError
	if errors.As(err, &nl) && r.Header.Get(headerForwarded) == "" {
		err = a.forward(r.Context(), nl, func(ctx context.Context, addr string) error {
			return a.client.forwardJSON(ctx, addr, r.URL.Path, body)
		})
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (a *admin) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	body, err := decodeJSON(r, &req)
	if err == nil && (!validID(req.ID) || req.RaftAddr == "") {
		err = fmt.Errorf("%w: join needs a valid id and raft_addr", errBadRequest)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.leaderOnly(w, r, body, func(ctx context.Context) error {
		var err error
		if req.NonVoter {
			err = a.group.AddNonvoter(ctx, req.ID, req.RaftAddr)
		} else {
			err = a.group.AddVoter(ctx, req.ID, req.RaftAddr)
		}
		if err == nil {
			a.log.Info("member added", "id", req.ID, "raft", req.RaftAddr, "non_voter", req.NonVoter)
		}
		return err
	})
}

func (a *admin) handleRemove(w http.ResponseWriter, r *http.Request) {
	var req RemoveRequest
	body, err := decodeJSON(r, &req)
	if err == nil && req.ID == "" {
		err = fmt.Errorf("%w: remove needs an id", errBadRequest)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.leaderOnly(w, r, body, func(ctx context.Context) error { return a.group.RemoveServer(ctx, req.ID) })
}

func (a *admin) handleTransfer(w http.ResponseWriter, r *http.Request) {
	var req TransferRequest
	body, err := decodeJSON(r, &req)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.leaderOnly(w, r, body, func(ctx context.Context) error { return a.group.TransferLeadership(ctx, req.ID) })
}

func (a *admin) handleAnnounce(w http.ResponseWriter, r *http.Request) {
	var req AnnounceRequest
	body, err := decodeJSON(r, &req)
	if err == nil && (!validID(req.ID) || req.Admin == "" || req.DNS == "") {
		err = fmt.Errorf("%w: announce needs id, admin and dns", errBadRequest)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.leaderOnly(w, r, body, func(ctx context.Context) error { return a.applyAnnounce(ctx, req) })
}

// applyAnnounce records a member's addresses with a SetMember command.
func (a *admin) applyAnnounce(ctx context.Context, req AnnounceRequest) error {
	cmd, err := setMemberCommand(req)
	if err != nil {
		return fmt.Errorf("%w: %w", errBadRequest, err)
	}
	_, err = a.apply(ctx, cmd)
	return err
}

// announce records this node's addresses through the leader.
func (a *admin) announce(ctx context.Context, req AnnounceRequest) error {
	err := a.applyAnnounce(ctx, req)
	var nl *raftfsm.NotLeaderError
	if errors.As(err, &nl) {
		body, merr := json.Marshal(req)
		if merr != nil {
			return merr
		}
		err = a.forward(ctx, nl, func(ctx context.Context, addr string) error {
			return a.client.forwardJSON(ctx, addr, "/v1/group/announce", body)
		})
	}
	return err
}

func (a *admin) handleSnapshot(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	if err := a.snapshot(r.Context(), w); err != nil {
		// Headers may be gone already; the client sees a truncated
		// stream, which the snapshot checksum trailer catches.
		a.log.Warn("snapshot stream failed", "err", err)
		a.fail(w, r, err)
	}
}

func (a *admin) handleRestore(w http.ResponseWriter, r *http.Request) {
	if err := a.restore(r.Context(), r.Body); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "restored"})
}

func (a *admin) handleReady(w http.ResponseWriter, r *http.Request) {
	if err := a.ready(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
