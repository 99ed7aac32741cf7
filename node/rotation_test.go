package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/admin"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/zone"
)

// rotationZone is the owner's unsigned zone of the rotation test: TTLs of
// one second (and a negative TTL of one), so that answers leave the
// verified-answer cache at once and each query is verified afresh.
func rotationZone(t *testing.T, origin string, serial uint32) *zone.Zone {
	t.Helper()
	u, err := zone.ParseFile(strings.NewReader(fmt.Sprintf("@ 1 IN SOA ns hm %d 7200 3600 1209600 1\n@ 1 IN NS ns\nns 1 IN A 192.0.2.53\nwww 1 IN A 192.0.2.80\n", serial)), origin, "test")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// postJSON posts body to the API of n with the key and returns the
// status and the answer.
func postJSON(t *testing.T, n *Node, key, path string, body any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+n.APIAddr()+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// rotationProbe queries a node at a steady rate, each time for another
// name of the zone (NXDOMAIN: a cache miss, verified afresh) and for
// www (cached for a second), and counts the answers by rcode.
type rotationProbe struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	answers  int
	failures []string // rcodes other than NOERROR/NXDOMAIN, or errors
}

func startProbe(t *testing.T, n *Node, origin string) *rotationProbe {
	t.Helper()
	p := &rotationProbe{stop: make(chan struct{})}
	addr := n.Addr().String()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			m := new(dns.Msg)
			name := fmt.Sprintf("q%d.%s", i, origin)
			if i%2 == 0 {
				name = "www." + origin
			}
			m.SetQuestion(name, dns.TypeA)
			m.SetEdns0(1232, true)
			r, _, err := c.Exchange(m, addr)
			p.mu.Lock()
			switch {
			case err != nil:
				p.failures = append(p.failures, fmt.Sprintf("%s: %v", name, err))
			case r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError:
				p.failures = append(p.failures, fmt.Sprintf("%s: %s", name, dns.RcodeToString[r.Rcode]))
			default:
				p.answers++
			}
			p.mu.Unlock()
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *rotationProbe) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.wg.Wait()
}

// result returns the answers and failures so far.
func (p *rotationProbe) result() (int, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.answers, append([]string(nil), p.failures...)
}

// signedBy returns nil when n answers www.<origin> A with an RRSIG of key
// tag tag.
func signedBy(t *testing.T, n *Node, origin string, tag uint16) error {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion("www."+origin, dns.TypeA)
	m.SetEdns0(1232, true)
	r := queryNode(t, n, m)
	for _, rr := range r.Answer {
		if sig, ok := rr.(*dns.RRSIG); ok && sig.KeyTag == tag {
			return nil
		}
	}
	return fmt.Errorf("%s: no RRSIG by key tag %d in %v", n.ID(), tag, r.Answer)
}

// TestRotationKeepsAnchorsInStep: a zone on the registry's group is
// queried through the other group's node at a steady rate while its
// owner rotates the key through the REST API: no SERVFAIL, answers
// signed by the new key afterwards, an owner-key-change entry in the
// log, the previous key dropped after the first new-key answer. The
// other node polls the log only every hour: it learns of the rotation
// from the answer signed by a key it does not know (one poll, then the
// answer verifies). A rotation whose proof is forged is refused and
// changes neither the claim nor the zone. A rotation an operator sends
// through the other node's admin endpoint moves the claim too.
func TestRotationKeepsAnchorsInStep(t *testing.T) {
	f := startRegistryPair(t)
	reg := f.reg
	waitFor(t, "both nodes in the directory", func() error {
		rs, err := reg.Registry()
		if err != nil {
			return err
		}
		if len(rs.Nodes()) != 2 {
			return fmt.Errorf("directory %v", rs.Nodes())
		}
		return nil
	})
	// east polls the log only when asked (or nudged).
	closeNode(t, f.east)
	ec := f.eastCfg
	ec.Registry.FollowInterval = time.Hour
	ec.Registry.RotationGrace = time.Hour
	east := runNode(t, ec)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ops := f.ca.client(t, "ops")
	res, err := ops.IssueKey(ctx, reg.AdminAddr(), admin.IssueKeyRequest{Name: "owner", Actions: []string{"create", "read", "update"}})
	if err != nil {
		t.Fatalf("IssueKey: %v", err)
	}
	// The first zone takes east (fewest claims, then by name); the
	// rotated one goes to reg.
	createThroughAPI(t, reg, res.Key, "filler.test.", "east")
	const origin = "rot.test."
	k1, err := zone.GenerateKey(origin, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	z1, _, err := zone.Prepare(nil, rotationZone(t, origin, 1), k1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	if err := zone.Write(&text, z1); err != nil {
		t.Fatal(err)
	}
	if code, b := postJSON(t, reg, res.Key, "/v1/zones", map[string]string{"zone_file": text.String(), "head": string(z1.Head.Note)}); code != http.StatusCreated || !strings.Contains(string(b), `"group":"reg"`) {
		t.Fatalf("POST /v1/zones = %d %s, want 201 on reg", code, b)
	}
	syncLog(t, east)
	waitFor(t, "east answers the zone through the overlay", func() error { return signedBy(t, east, origin, k1.Tag()) })

	probe := startProbe(t, east, origin)
	waitFor(t, "the probe's first answers", func() error {
		if n, _ := probe.result(); n < 10 {
			return fmt.Errorf("%d answers", n)
		}
		return nil
	})

	// Rotate to k2 through the REST API.
	k2, err := zone.GenerateKey(origin, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	z2, _, err := zone.Prepare(z1, rotationZone(t, origin, 2), k2, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rot, err := raftfsm.RotateCommand(z1, z2, k1, k2)
	if err != nil {
		t.Fatal(err)
	}
	if code, b := postJSON(t, reg, res.Key, "/v1/zones/"+origin+"/changes", map[string][]byte{"command": rot}); code != http.StatusOK {
		t.Fatalf("rotation through the API = %d %s", code, b)
	}
	rs, _ := reg.Registry()
	if cl, ok := rs.Claim(origin); !ok || !raftfsm.OwnerKeyIs(cl.Owner, k2.DNSKEY) || cl.Generation != 1 {
		t.Errorf("claim after the rotation = %+v, %v; want owner key 2, generation 1", cl, ok)
	}
	es := logEntries(t, reg, origin)
	if last := es[len(es)-1]; last.Kind != translog.KindOwnerKeyChange || !raftfsm.OwnerKeyIs(last.OwnerKey, k2.DNSKEY) {
		t.Errorf("last log entry of %s = %+v, want the owner key change to key 2", origin, last)
	}
	waitFor(t, "east's answers signed by the new key", func() error { return signedBy(t, east, origin, k2.Tag()) })
	waitFor(t, "the previous key dropped", func() error {
		if o := east.ov.Load(); o == nil || o.Verifier().Previous(origin) != nil {
			return fmt.Errorf("east's verifier still accepts key %d", k1.Tag())
		}
		if p, ok := east.FollowState().Previous[origin]; ok {
			return fmt.Errorf("follow.json still lists the previous key until %v", p.Until)
		}
		return nil
	})
	before, _ := probe.result()
	waitFor(t, "more answers after the rotation", func() error {
		if n, _ := probe.result(); n < before+10 {
			return fmt.Errorf("%d answers", n)
		}
		return nil
	})
	probe.close()
	n, failures := probe.result()
	t.Logf("%d queries through east during the rotation, %d failed", n+len(failures), len(failures))
	if len(failures) > 0 {
		t.Errorf("%d of %d queries through east failed during the rotation: %v", len(failures), n+len(failures), failures)
	}

	// A forged rotation (k3 signs its own hand-over): refused, nothing
	// changes.
	k3, err := zone.GenerateKey(origin, true, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	z3, _, err := zone.Prepare(z2, rotationZone(t, origin, 3), k3, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	forged, err := raftfsm.RotateCommand(z2, z3, k3, k3)
	if err != nil {
		t.Fatal(err)
	}
	if code, b := postJSON(t, reg, res.Key, "/v1/zones/"+origin+"/changes", map[string][]byte{"command": forged}); code < 400 || code >= 500 {
		t.Errorf("forged rotation through the API = %d %s, want refused", code, b)
	}
	rs, _ = reg.Registry()
	if cl, _ := rs.Claim(origin); !raftfsm.OwnerKeyIs(cl.Owner, k2.DNSKEY) || cl.Generation != 1 {
		t.Errorf("claim after a forged rotation = %+v, want owner key 2", cl)
	}
	if st, err := reg.Stored(origin); err != nil || st.Serial() != z2.Serial() {
		t.Errorf("zone after a forged rotation: %v, %v; want serial %d", st, err, z2.Serial())
	}

	// The operator rotates to k3 through east's admin endpoint (the
	// zone is on reg): the claim moves too.
	rot3, err := raftfsm.RotateCommand(z2, z3, k2, k3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ops.SubmitChange(ctx, east.AdminAddr(), origin, rot3); err != nil {
		t.Fatalf("rotation through east's admin endpoint: %v", err)
	}
	rs, _ = reg.Registry()
	if cl, _ := rs.Claim(origin); !raftfsm.OwnerKeyIs(cl.Owner, k3.DNSKEY) || cl.Generation != 2 {
		t.Errorf("claim after the operator's rotation = %+v, want owner key 3, generation 2", cl)
	}
	es = logEntries(t, reg, origin)
	if last := es[len(es)-1]; last.Kind != translog.KindOwnerKeyChange || !raftfsm.OwnerKeyIs(last.OwnerKey, k3.DNSKEY) || last.Actor != "operator:e1" {
		t.Errorf("last log entry of %s = %+v, want the owner key change to key 3 by operator:e1", origin, last)
	}
	waitFor(t, "east's answers signed by key 3", func() error { return signedBy(t, east, origin, k3.Tag()) })
}
