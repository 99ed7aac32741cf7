package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/internal/testlog"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/zone"
	"github.com/hashicorp/raft"
	"golang.org/x/mod/sumdb/note"
)

// testBackend is a Backend over a REAL raftfsm.FSM on a real bbolt Store
// in t.TempDir(): registry and zone commands are applied by the real state
// machine, so the registry's rules (applications, keys, claims and their
// placement, suspensions, the transparency log) and the zone rules (owner
// signatures, serials) are the production ones.
//
// What is a stand-in, and why: the wiring. ProposeRegistry applies the
// command directly to the one FSM instead of through the registry group's
// Raft leader, and SubmitZone applies zone commands to that same FSM
// whatever group the registry placed the zone on (dry runs use the FSM's
// real Check). The real wiring (Raft groups, overlay forwarding, FetchZone)
// lives in package node, which api may not import; node's own tests cover
// it.
type testBackend struct {
	t      testing.TB
	fsm    *raftfsm.FSM
	signer note.Signer
	vkey   string

	mu          sync.Mutex
	index       uint64
	now         time.Time
	notRegistry bool
	submitErr   error    // when set, SubmitZone fails with it
	submitted   []string // "group origin" of each SubmitZone that applied
	applied     [][]byte // every command given to the FSM: the Raft log it would have
	storePath   string   // the FSM's bbolt file
}

var errSubmitFailed = errors.New("test: the zone group is down")

func newTestBackend(t testing.TB) *testBackend {
	t.Helper()
	storePath := filepath.Join(t.TempDir(), raftfsm.StoreFile)
	st, err := raftfsm.OpenStore(storePath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	f, err := raftfsm.NewFSM(st, raftfsm.FSMOptions{Logger: testlog.New(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := translog.GenerateKey(translog.DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	b := &testBackend{t: t, fsm: f, signer: signer, vkey: vkey, now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), storePath: storePath}
	// One node in the directory, so claims have a group to land on.
	b.mustApply(&raftfsm.NodeHeartbeat{Node: raftfsm.NodeRecord{ID: "n1", Group: "g1", Region: "eu", Seen: b.now}})
	return b
}

func (b *testBackend) apply(cmd []byte) error {
	b.mu.Lock()
	b.index++
	b.applied = append(b.applied, bytes.Clone(cmd))
	l := &raft.Log{Index: b.index, Term: 1, Type: raft.LogCommand, Data: cmd}
	b.mu.Unlock()
	switch res := b.fsm.Apply(l).(type) {
	case *raftfsm.ApplyResult:
		return nil
	case error:
		return res
	default:
		return fmt.Errorf("apply: unexpected result %T", res)
	}
}

func (b *testBackend) mustApply(c raftfsm.Command) {
	b.t.Helper()
	cmd, err := raftfsm.EncodeCommand(c)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := b.apply(cmd); err != nil {
		b.t.Fatalf("apply %T: %v", c, err)
	}
}

func (b *testBackend) Registry() (*raftfsm.RegistryState, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.notRegistry {
		return nil, ErrNotRegistry
	}
	return b.fsm.Registry(), nil
}

func (b *testBackend) ProposeRegistry(ctx context.Context, cmd []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return b.apply(cmd)
}

func (b *testBackend) SubmitZone(ctx context.Context, group, origin string, cmd raftfsm.Encoded, dryRun bool) (uint32, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	serr := b.submitErr
	b.mu.Unlock()
	if serr != nil {
		return 0, serr
	}
	if dryRun {
		if err := b.fsm.Check(cmd.Bytes); err != nil {
			return 0, err
		}
		zs, _ := b.fsm.Zone(origin)
		if pc, ok := cmd.Cmd.(*raftfsm.PublishChange); ok && zs.Zone != nil {
			next, err := zs.Zone.WithChanges(pc.Change)
			if err != nil {
				return 0, err
			}
			return next.Serial(), nil
		}
		return 0, nil
	}
	if err := b.apply(cmd.Bytes); err != nil {
		return 0, err
	}
	b.mu.Lock()
	b.submitted = append(b.submitted, group+" "+origin)
	b.mu.Unlock()
	zs, ok := b.fsm.Zone(origin)
	if !ok || zs.Zone == nil {
		return 0, nil
	}
	return zs.Zone.Serial(), nil
}

// SubmitUpload implements Uploader over the same FSM: the answer carries
// the upload's progress as the state machine reports it.
func (b *testBackend) SubmitUpload(ctx context.Context, group, origin string, cmd raftfsm.Encoded) (UploadResult, error) {
	if err := ctx.Err(); err != nil {
		return UploadResult{}, err
	}
	b.mu.Lock()
	serr := b.submitErr
	b.index++
	l := &raft.Log{Index: b.index, Term: 1, Type: raft.LogCommand, Data: cmd.Bytes}
	b.mu.Unlock()
	if serr != nil {
		return UploadResult{}, serr
	}
	switch res := b.fsm.Apply(l).(type) {
	case *raftfsm.ApplyResult:
		b.mu.Lock()
		b.submitted = append(b.submitted, group+" "+origin)
		b.mu.Unlock()
		return UploadResult{Serial: res.Serial, Staged: res.Staged, StagedKnown: true, Repeat: res.Repeat}, nil
	case error:
		return UploadResult{}, res
	default:
		return UploadResult{}, fmt.Errorf("apply: unexpected result %T", res)
	}
}

func (b *testBackend) Zone(_ context.Context, origin string) (*zone.Zone, error) {
	zs, ok := b.fsm.Zone(origin)
	if !ok {
		return nil, ErrNoZone
	}
	return zs.Zone, nil
}

func (b *testBackend) Health(context.Context) (Health, error) {
	reg := b.fsm.Registry()
	var h Health
	for _, n := range reg.Nodes() {
		h.Nodes = append(h.Nodes, NodeHealth{ID: n.ID, Group: n.Group, Region: n.Region, Seen: n.Seen, Healthy: true, Applied: n.Applied})
	}
	h.Groups = []GroupHealth{{Name: "g1", Leader: "n1", Members: 1, Healthy: 1, Registry: true}}
	return h, nil
}

func (b *testBackend) LogSigner() note.Signer {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.signer
}
func (b *testBackend) LogOrigin() string { return translog.DefaultOrigin }

func (b *testBackend) Now() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.now
}

func (b *testBackend) advance(d time.Duration) {
	b.mu.Lock()
	b.now = b.now.Add(d)
	b.mu.Unlock()
}

// fixture is a Server over a testBackend, served by httptest.
type fixture struct {
	t     testing.TB
	b     *testBackend
	s     *Server
	srv   *httptest.Server
	admin string // an admin key over "."
}

func newFixture(t testing.TB, mutate ...func(*Options)) *fixture {
	t.Helper()
	b := newTestBackend(t)
	opt := Options{Backend: b, Logger: testlog.New(t, slog.LevelWarn), DataDir: t.TempDir()}
	for _, m := range mutate {
		m(&opt)
	}
	s, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	f := &fixture{t: t, b: b, s: s, srv: srv}
	f.admin = f.issue("reviewer", raftfsm.Scope{Suffixes: []string{"."}, Actions: []string{ActionAdmin}}, raftfsm.Limits{PerMinute: 6000, Burst: 1000}, time.Time{})
	return f
}

// issue puts a key straight into the registry (as the operator's admin
// endpoint would) and returns its string.
func (f *fixture) issue(name string, sc raftfsm.Scope, lim raftfsm.Limits, expires time.Time) string {
	f.t.Helper()
	key, id, hash, err := newKey()
	if err != nil {
		f.t.Fatal(err)
	}
	f.b.mustApply(&raftfsm.IssueKey{Key: raftfsm.APIKey{ID: id, Hash: hash, Name: name, Scope: sc, Limits: lim,
		Created: f.b.Now().Truncate(time.Second), Expires: expires}, Actor: "operator"})
	return key
}

// resp is a response read whole.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response %d %s: %v", r.status, r.body, err)
	}
}

// code is the error code of an error response, "" for others.
func (r resp) code() string {
	var e errorBody
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

// do sends a request with key (may be "") and body (nil, []byte, string
// or a value to marshal as JSON), and checks the response against
// openapi.json.
func (f *fixture) do(method, path, key string, body any, hdr ...string) resp {
	f.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ct = bytes.NewReader(b), "application/octet-stream"
	case string:
		rd, ct = strings.NewReader(b), "application/json"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	r := resp{status: res.StatusCode, header: res.Header, body: out}
	validateResponse(f.t, req, r)
	return r
}

// want fails unless r has status and (when code != "") error code.
func want(t *testing.T, what string, r resp, status int, code string) {
	t.Helper()
	if r.status != status || code != "" && r.code() != code {
		t.Fatalf("%s = %d %s, want %d %s", what, r.status, r.body, status, code)
	}
}

// testZone is a signed zone and its owner key.
type testZone struct {
	origin string
	key    *zone.Key
	z      *zone.Zone
}

const testZoneText = `$ORIGIN %[1]s
@ 3600 IN SOA ns1.%[1]s hostmaster.%[1]s %[2]d 7200 3600 1209600 300
@ 3600 IN NS ns1.%[1]s
ns1 3600 IN A 192.0.2.1
www 300 IN A 192.0.2.10
_acme-challenge.www 60 IN TXT "%[3]s"
`

// unsignedZone builds the unsigned test zone with serial and TXT value.
func unsignedZone(t testing.TB, origin string, serial uint32, txt string) *zone.Zone {
	t.Helper()
	z, err := zone.ParseFile(strings.NewReader(fmt.Sprintf(testZoneText, origin, serial, txt)), origin, "test")
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func newTestZone(t testing.TB, origin string) *testZone {
	t.Helper()
	k, err := zone.GenerateKey(origin, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	z, err := zone.Sign(unsignedZone(t, origin, 1, "v1"), k, zone.DefaultSignOptions(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return &testZone{origin: zone.CanonicalName(origin), key: k, z: z}
}

// createBody is the POST /v1/zones body of tz.
func (tz *testZone) createBody(t testing.TB) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	if err := zone.Write(&buf, tz.z); err != nil {
		t.Fatal(err)
	}
	return map[string]any{"zone_file": buf.String(), "head": string(tz.z.Head.Note)}
}

// change returns tz's zone with the TXT record changed, signed by k, and
// the PublishChange command taking tz's zone to it.
func (tz *testZone) change(t *testing.T, k *zone.Key, txt string) (*zone.Zone, []byte) {
	t.Helper()
	u := unsignedZone(t, tz.origin, tz.z.Serial()+1, txt)
	var next *zone.Zone
	var err error
	if k == tz.key {
		next, err = tz.z.Apply(zone.Diff(tz.z, u), k, zone.DefaultSignOptions(time.Now()))
	} else {
		next, err = zone.Sign(u, k, zone.DefaultSignOptions(time.Now()))
	}
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := raftfsm.EncodeCommand(&raftfsm.PublishChange{Change: zone.SignedDiff(tz.z, next)})
	if err != nil {
		t.Fatal(err)
	}
	return next, cmd
}
