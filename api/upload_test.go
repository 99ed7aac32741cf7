package api

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// bigZone is a signed zone of names*3 RRsets (A, TXT, NSEC) plus the
// apex, whose one command is well above raftfsm.ChunkBytes.
func bigZone(t testing.TB, k *zone.Key, names int, serial uint32, txt string) *zone.Zone {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n@ 3600 IN SOA ns1 hostmaster %d 7200 3600 1209600 300\n@ 3600 IN NS ns1\nns1 3600 IN A 192.0.2.1\n", k.Zone, serial)
	for i := range names {
		fmt.Fprintf(&b, "h%d 300 IN A 192.0.%d.%d\nh%d 300 IN TXT \"%s %d\"\n", i, i/250, i%250, i, txt, i)
	}
	u, err := zone.ParseFile(strings.NewReader(b.String()), k.Zone, "big")
	if err != nil {
		t.Fatal(err)
	}
	z, err := zone.Sign(u, k, zone.DefaultSignOptions(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func zoneText(t testing.TB, z *zone.Zone) string {
	t.Helper()
	var buf bytes.Buffer
	if err := zone.Write(&buf, z); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestStagedUploads: zones too large for one Raft log entry through the
// REST API: a create and an import that the server stages itself, and
// the owner's own staged upload through /upload, interrupted and resumed,
// with its rate limit, scope and bad-input answers.
func TestStagedUploads(t *testing.T) {
	f := newFixture(t)
	const origin = "big.example."
	user := f.issue("user", userScope(origin), bigLimits, time.Time{})
	k, err := zone.GenerateKey(origin, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	z1 := bigZone(t, k, 900, 1, "one")
	if cmd, err := raftfsm.ChangeCommand(nil, z1, k); err != nil || len(cmd) <= raftfsm.ChunkBytes {
		t.Fatalf("the test zone's create is %d bytes (%v), want above %d", len(cmd), err, raftfsm.ChunkBytes)
	}
	served := func(serial uint32) {
		t.Helper()
		zs, ok := f.b.fsm.Zone(origin)
		if !ok || zs.Zone.Serial() != serial || len(zs.Zone.RRsets()) != len(z1.RRsets()) {
			t.Fatalf("zone %s: %v, want serial %d with %d RRsets", origin, ok, serial, len(z1.RRsets()))
		}
		if st, open := f.b.fsm.Staging(origin); open {
			t.Fatalf("an upload is still open after the commit: %+v", st)
		}
	}

	// A create of the whole zone: the server stages it.
	r := f.do("POST", "/v1/zones", user, map[string]any{"zone_file": zoneText(t, z1), "head": string(z1.Head.Note)})
	want(t, "create of a big zone", r, http.StatusCreated, "")
	served(1)

	// The owner's staged upload: begin, two chunks, then an interruption.
	z2 := bigZone(t, k, 900, 2, "two")
	cmds, err := raftfsm.StagedCommands(z2, k)
	if err != nil {
		t.Fatal(err)
	}
	chunks := len(cmds) - 2
	if chunks < 2 {
		t.Fatalf("%d chunks, want at least 2", chunks)
	}
	upload := func(what string, key string, cmd []byte, status int, code string) uploadJSON {
		t.Helper()
		r := f.do("POST", "/v1/zones/"+origin+"/upload", key, cmd)
		want(t, what, r, status, code)
		var res uploadJSON
		if status == http.StatusOK {
			r.json(t, &res)
		}
		return res
	}
	if res := upload("begin", user, cmds[0], 200, ""); res.Staged != 0 || !res.StagedKnown || res.Serial != 2 {
		t.Fatalf("begin = %+v, want serial 2, staged 0 (known)", res)
	}
	upload("chunk out of order", user, cmds[2], http.StatusUnprocessableEntity, "rejected")
	upload("chunk 0", user, cmds[1], 200, "")
	upload("commit of an incomplete upload", user, cmds[len(cmds)-1], http.StatusUnprocessableEntity, "rejected")
	if zs, _ := f.b.fsm.Zone(origin); zs.Zone.Serial() != 1 {
		t.Fatalf("serial %d while the upload is open, want the old zone's 1", zs.Zone.Serial())
	}
	// Resume: the begin again says where the group stands.
	if res := upload("begin again", user, cmds[0], 200, ""); res.Staged != 1 || !res.Repeat {
		t.Fatalf("begin again = %+v, want staged 1, repeat", res)
	}
	upload("a repeated chunk", user, cmds[1], 200, "")
	for i := 1; i < chunks; i++ {
		upload(fmt.Sprintf("chunk %d", i), user, cmds[1+i], 200, "")
	}
	if res := upload("commit", user, cmds[len(cmds)-1], 200, ""); res.Serial != 2 || res.Staged != uint32(chunks) {
		t.Fatalf("commit = %+v, want serial 2, staged %d", res, chunks)
	}
	served(2)
	if res := upload("commit again", user, cmds[len(cmds)-1], 200, ""); !res.Repeat {
		t.Fatalf("commit again = %+v, want a repeat", res)
	}

	// Import of the whole zone: the server stages it.
	z3 := bigZone(t, k, 900, 3, "three")
	head := base64.StdEncoding.EncodeToString(z3.Head.Note)
	want(t, "import as a dry run", f.do("POST", "/v1/zones/"+origin+"/import?dry_run=true", user, zoneText(t, z3), "Content-Type", "text/dns", headHeader, head), http.StatusBadRequest, "invalid_field")
	// Past the request's deadline (a loaded machine, -race) the import
	// answers 504 naming the chunk; the same request again resumes.
	for try := 1; ; try++ {
		r = f.do("POST", "/v1/zones/"+origin+"/import", user, zoneText(t, z3), "Content-Type", "text/dns", headHeader, head)
		if r.status != http.StatusGatewayTimeout || try == 5 {
			break
		}
		t.Logf("import, try %d: %s; sending it again", try, r.body)
	}
	want(t, "import of a big zone", r, http.StatusOK, "")
	if !bytes.Contains(r.body, []byte(`"serial":3`)) {
		t.Fatalf("import answered %s, want serial 3", r.body)
	}
	served(3)

	// Bad input and keys that may not upload.
	change, err := raftfsm.ChangeCommand(z1, z1, k)
	if err == nil {
		upload("a change to /upload", user, change, http.StatusBadRequest, "invalid_field")
	}
	upload("garbage", user, []byte{17, 1, 2}, http.StatusBadRequest, "invalid_field")
	other := f.issue("other", userScope("big.example."), bigLimits, time.Time{})
	z4 := bigZone(t, k, 900, 4, "four")
	cmds4, err := raftfsm.StagedCommands(z4, k)
	if err != nil {
		t.Fatal(err)
	}
	r = f.do("POST", "/v1/zones/other.example./upload", user, cmds4[0])
	want(t, "upload outside the key's suffix", r, http.StatusForbidden, "out_of_scope")
	r = f.do("POST", "/v1/zones/"+"sub."+origin+"/upload", f.admin, cmds4[0])
	want(t, "upload for another zone than the path", r, http.StatusBadRequest, "invalid_field")
	labels := f.issue("labels", raftfsm.Scope{Suffixes: []string{origin}, Actions: []string{ActionUpdate}, Labels: []string{"www"}}, bigLimits, time.Time{})
	upload("upload with a label-scoped key", labels, cmds4[0], http.StatusForbidden, "out_of_scope")
	reader := f.issue("reader", raftfsm.Scope{Suffixes: []string{"."}, Actions: []string{ActionRead}}, bigLimits, time.Time{})
	upload("upload with a read-only key", reader, cmds4[0], http.StatusForbidden, "out_of_scope")
	want(t, "import with a label-scoped key", f.do("POST", "/v1/zones/"+origin+"/import", labels, zoneText(t, z4), "Content-Type", "text/dns", headHeader, base64.StdEncoding.EncodeToString(z4.Head.Note)), http.StatusForbidden, "out_of_scope")

	// Rate limit: the chunks of an upload a key began here are free;
	// begins, commits and other keys' chunks draw.
	slow := f.issue("slow", userScope(origin), raftfsm.Limits{PerMinute: 1, Burst: 2}, time.Time{})
	upload("begin with a slow key", slow, cmds4[0], 200, "")
	for i := 1; i < len(cmds4)-1; i++ {
		if i == 1 {
			upload("a chunk of another key's upload", other, cmds4[i], 200, "")
			continue
		}
		upload(fmt.Sprintf("slow chunk %d", i), slow, cmds4[i], 200, "")
	}
	upload("commit with a slow key", slow, cmds4[len(cmds4)-1], 200, "")
	upload("a begin past the slow key's limit", slow, cmds4[0], http.StatusTooManyRequests, "")
	if zs, _ := f.b.fsm.Zone(origin); zs.Zone.Serial() != 4 {
		t.Fatalf("serial %d, want 4", zs.Zone.Serial())
	}
}

// TestStagedCreateClaims: a staged upload's begin of a new name claims
// it for the begin's owner key; a refused begin releases the claim, and
// another key's upload of a claimed name is refused.
func TestStagedCreateClaims(t *testing.T) {
	f := newFixture(t)
	const origin = "new.example."
	user := f.issue("user", userScope(origin), bigLimits, time.Time{})
	k, err := zone.GenerateKey(origin, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	z := bigZone(t, k, 600, 1, "x")
	cmds, err := raftfsm.StagedCommands(z, k)
	if err != nil {
		t.Fatal(err)
	}
	// A begin whose head is signed by another key than its owner key:
	// refused, and the name is free again.
	k2, err := zone.GenerateKey(origin, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cmds2, err := raftfsm.StagedCommands(bigZone(t, k2, 600, 2, "y"), k2)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := raftfsm.DecodeCommand(cmds2[0])
	if err != nil {
		t.Fatal(err)
	}
	b := *bad.(*raftfsm.StageBegin)
	b.Owner = k.DNSKEY
	badCmd, err := raftfsm.EncodeCommand(&b)
	if err != nil {
		t.Fatal(err)
	}
	r := f.do("POST", "/v1/zones/"+origin+"/upload", user, badCmd)
	if r.status < 400 {
		t.Fatalf("a begin with a forged head = %d %s, want a refusal", r.status, r.body)
	}
	if _, ok := f.b.fsm.Registry().Claim(origin); ok {
		t.Fatal("a refused begin left its claim")
	}
	for i, c := range cmds {
		want(t, fmt.Sprintf("command %d", i), f.do("POST", "/v1/zones/"+origin+"/upload", user, c), http.StatusOK, "")
	}
	cl, ok := f.b.fsm.Registry().Claim(origin)
	if !ok || !raftfsm.OwnerKeyIs(cl.Owner, k.DNSKEY) {
		t.Fatalf("claim %+v %v, want one for the upload's key", cl, ok)
	}
	want(t, "another key's upload of a claimed name", f.do("POST", "/v1/zones/"+origin+"/upload", user, cmds2[0]), http.StatusConflict, "name_claimed")
}
