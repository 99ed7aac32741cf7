package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/intergroup"
	"github.com/ddnrs/ddnrs/node"
	"github.com/ddnrs/ddnrs/overlay"
	"github.com/ddnrs/ddnrs/zone"
)

// badPeer is a peer of the overlay that holds a zone signed by its owner
// and answers queries for it, each answer passed through alter (nil:
// unchanged), the way the tamperer of overlay_test.go does.
type badPeer struct {
	zones *node.Served
	id    string
	alter func(m *dns.Msg)
}

func (x *badPeer) AnswerLocal(_ context.Context, name string, t uint16, _ bool) (*overlay.QueryResponse, error) {
	la, err := intergroup.AnswerLocal(x.zones, name, t)
	if err != nil {
		return nil, &overlay.RPCError{Code: overlay.CodeNotFound, Message: err.Error()}
	}
	msg := la.Msg
	if x.alter != nil {
		m := new(dns.Msg)
		if err := m.Unpack(la.Msg); err != nil {
			return nil, err
		}
		x.alter(m)
		if msg, err = m.Pack(); err != nil {
			return nil, err
		}
	}
	return &overlay.QueryResponse{Msg: msg, Head: la.Head, Proof: la.Proof, Audit: []overlay.AuditHop{{Node: x.id, Hash: la.Hash}}}, nil
}

// startBadPeer runs a peer holding origin at serial, signed with the owner
// key keyFile (.private), provided in the DHT through boot; alter as for
// badPeer. It returns a function that stops the peer (also run at
// cleanup).
func startBadPeer(t *testing.T, origin, keyFile string, serial uint32, boot []string, alter func(m *dns.Msg)) (stop func()) {
	t.Helper()
	priv, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(strings.TrimSuffix(keyFile, ".private") + ".key")
	if err != nil {
		t.Fatal(err)
	}
	k, err := zone.ParseKey(pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("$ORIGIN %s\n$TTL 3600\n@ SOA ns1 hostmaster %d 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.%d\n%s\n",
		origin, serial, serial%200, k.DNSKEY.String())
	z, err := zone.ParseFile(strings.NewReader(text), origin, "peer.zone")
	if err != nil {
		t.Fatal(err)
	}
	if z, err = zone.Sign(z, k, zone.DefaultSignOptions(time.Now())); err != nil {
		t.Fatal(err)
	}
	zs := new(node.Served)
	zs.Set(z)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := overlay.NewHost(ctx, overlay.HostOptions{
		KeyFile:   filepath.Join(t.TempDir(), "peer.key"),
		Listen:    []string{"/ip4/127.0.0.1/udp/0/quic-v1"},
		Bootstrap: boot,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := overlay.NewServer(h.P2P(), overlay.ServerOptions{Answerer: &badPeer{zones: zs, id: h.ID().String(), alter: alter}})
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			srv.Close()
			h.Close()
		}
	}
	t.Cleanup(stop)
	if err := h.Provide(ctx, origin); err != nil {
		t.Fatal(err)
	}
	return stop
}

// forgeRRSIGs gives every RRSIG of m's answer the signature of another
// RRSIG (or flips a byte if there is one): well formed, wrong.
func forgeRRSIGs(m *dns.Msg) {
	var sigs []*dns.RRSIG
	for _, sec := range [][]dns.RR{m.Answer, m.Ns} {
		for _, rr := range sec {
			if s, ok := rr.(*dns.RRSIG); ok {
				sigs = append(sigs, s)
			}
		}
	}
	if len(sigs) == 0 {
		return
	}
	first := sigs[0].Signature
	for i, s := range sigs {
		if i+1 < len(sigs) && sigs[i+1].Signature != s.Signature {
			s.Signature = sigs[i+1].Signature
			continue
		}
		if i > 0 && first != s.Signature {
			s.Signature = first
			continue
		}
		// One RRSIG only: change its first base64 character.
		b := []byte(s.Signature)
		if b[0] == 'A' {
			b[0] = 'B'
		} else {
			b[0] = 'A'
		}
		s.Signature = string(b)
	}
}

// ede returns r's Extended DNS Error, or nil.
func ede(r *dns.Msg) *dns.EDNS0_EDE {
	if o := r.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if e, ok := opt.(*dns.EDNS0_EDE); ok {
				return e
			}
		}
	}
	return nil
}

// refusedCount scrapes ddnrs_overlay_refused_answers_total{reason} from
// the admin endpoint of m, a member of gr.
func refusedCount(t *testing.T, gr *ovGroup, m *ovMember, reason string) int {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(gr.dir, "ca", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(filepath.Join(gr.dir, "ops", "node.crt"), filepath.Join(gr.dir, "ops", "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("https://" + m.Admin + "/metrics")
	if err != nil {
		t.Fatalf("scraping %s: %v", m.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping %s: %s %v", m.name, resp.Status, err)
	}
	re := regexp.MustCompile(`(?m)^ddnrs_overlay_refused_answers_total\{[^}]*reason="` + reason + `"[^}]*\} (\d+)`)
	n := 0
	for _, sub := range re.FindAllStringSubmatch(string(body), -1) {
		v, err := strconv.Atoi(sub[1])
		if err != nil {
			t.Fatal(err)
		}
		n += v
	}
	return n
}

// TestOverlayRefusesForgedRRSIG: a peer holding a zone the nodes trust
// answers with RRSIGs of the right form but the wrong signature; the
// entry node refuses them (SERVFAIL + EDE DNSSEC Bogus), counts them as
// bad_signature, and ddnrs resolve says why.
func TestOverlayRefusesForgedRRSIG(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node process")
	}
	const evil = "forged.example."
	gs, keys, boot := startOverlayGroups(t, 1, 1, evil)
	startBadPeer(t, evil, keys[evil], 1, boot, forgeRRSIGs)
	gr, m := gs[0], gs[0].members[0]
	// Until the node has the peer's answer it says REFUSED (zone not
	// found yet) or SERVFAIL with No Reachable Authority (the peer's
	// answer late on a loaded machine): wait for the verdict on the
	// forged answer itself; records served are a failure at once.
	var r *dns.Msg
	waitUntil(t, m.name+" refuses the forged answer of "+evil, func() error {
		var err error
		if r, err = askErr(m.DNS, "www."+evil, dns.TypeA, true); err != nil {
			return err
		}
		if len(r.Answer) != 0 {
			t.Fatalf("www.%s with forged RRSIGs answered %v, want SERVFAIL with EDE DNSSEC Bogus and no records", evil, r)
		}
		if e := ede(r); r.Rcode != dns.RcodeServerFailure || e == nil || e.InfoCode != dns.ExtendedErrorCodeDNSBogus {
			return fmt.Errorf("rcode %s EDE %v", dns.RcodeToString[r.Rcode], e)
		}
		return nil
	})
	if n := refusedCount(t, gr, m, "bad_signature"); n == 0 {
		t.Errorf("ddnrs_overlay_refused_answers_total{reason=\"bad_signature\"} = 0 after a forged RRSIG")
	}
	resolveRefused(t, "www."+evil, m.DNS, "why: extended error 6 (DNSSEC Bogus)", "signature does not verify")
}

// resolveRefused runs `ddnrs resolve name --server server` until it exits
// 1 with "node says: not verified" and every line of why: each run is a new query,
// which on a loaded machine can end in No Reachable Authority (the peer's
// answer late) before the peer's answer is judged. Records verified are a
// failure at once.
func resolveRefused(t *testing.T, name, server string, why ...string) {
	t.Helper()
	waitUntil(t, "ddnrs resolve "+name+" refusing the answer", func() error {
		stdout, _, err := tryCmd("", ddnrsBin, "resolve", name, "--server", server)
		if strings.Contains(stdout, "node says: verified") || strings.Contains(stdout, "node says: local") {
			t.Fatalf("ddnrs resolve %s accepted the answer:\n%s", name, stdout)
		}
		if err == nil || !strings.Contains(stdout, "node says: not verified") {
			return fmt.Errorf("err %v, output:\n%s\nwant exit 1 and node says: not verified", err, stdout)
		}
		for _, w := range why {
			if !strings.Contains(stdout, w) {
				return fmt.Errorf("output lacks %q:\n%s", w, stdout)
			}
		}
		return nil
	})
}

// TestOverlayRefusesOlderSerial: a member of a zone's group (a peer
// here) answers at serial 2; once the entry node has verified that, a
// peer replaying serial 1 of the same zone (genuinely signed) is refused:
// with no other member left the node answers SERVFAIL + EDE rather than
// the old zone, counts it as stale_serial, and ddnrs resolve says why.
func TestOverlayRefusesOlderSerial(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node process")
	}
	const z = "stale.example."
	gs, keys, boot := startOverlayGroups(t, 1, 1, z)
	stopGenuine := startBadPeer(t, z, keys[z], 2, boot, nil)
	gr, m := gs[0], gs[0].members[0]
	waitUntil(t, m.name+" verifies serial 2 of "+z, func() error {
		r, err := askErr(m.DNS, z, dns.TypeSOA, true)
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			return fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
		}
		if soa, ok := r.Answer[0].(*dns.SOA); !ok || soa.Serial != 2 {
			return fmt.Errorf("answer %v, want serial 2", r.Answer[0])
		}
		return nil
	})
	stopGenuine()
	startBadPeer(t, z, keys[z], 1, boot, nil)
	// Each try asks a name not asked before, so no cached answer hides
	// what the node does with the stale member's.
	i := 0
	waitUntil(t, m.name+" refuses serial 1", func() error {
		i++
		name := fmt.Sprintf("n%d.%s", i, z)
		r, err := askErr(m.DNS, name, dns.TypeA, true)
		if err != nil {
			return err
		}
		if r.Rcode == dns.RcodeNameError {
			t.Fatalf("%s = NXDOMAIN: an answer of the older serial was served", name)
		}
		if e := ede(r); r.Rcode != dns.RcodeServerFailure || e == nil || e.InfoCode != dns.ExtendedErrorCodeDNSBogus || !strings.Contains(e.ExtraText, "older") {
			return fmt.Errorf("%s = %v, want SERVFAIL with EDE DNSSEC Bogus naming the older serial", name, r)
		}
		if len(r.Answer) != 0 {
			t.Errorf("SERVFAIL with records: %v", r.Answer)
		}
		return nil
	})
	if n := refusedCount(t, gr, m, "stale_serial"); n == 0 {
		t.Errorf("ddnrs_overlay_refused_answers_total{reason=\"stale_serial\"} = 0 after an older serial was refused")
	}
	resolveRefused(t, "www."+z, m.DNS, "older than one already seen")
}

// TestOverlayPublishThroughOtherGroup: `ddnrs zone publish` of group 0's
// zone sent to a node of group 1 (its admin endpoint, its CA) reads the
// zone through the overlay (FetchZone, verified), signs the change
// against it and has group 0 commit it.
func TestOverlayPublishThroughOtherGroup(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 2 node processes")
	}
	gs, _, _ := startOverlayGroups(t, 2, 1)
	g0, g1 := gs[0], gs[1]
	zf := filepath.Join(t.TempDir(), "g0.zone")
	text := fmt.Sprintf("$ORIGIN %s\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.10\n*.wild TXT \"wild 0\"\nvia-g1 TXT \"published through group 1\"\n", g0.zone)
	if err := os.WriteFile(zf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var out string
	waitUntil(t, "publish through "+g1.members[0].name, func() error {
		stdout, stderr, err := tryCmd("", ddnrsBin, "zone", "publish", "--server", g1.members[0].Admin,
			"--ca", filepath.Join(g1.dir, "ca", "ca.crt"), "--cert", filepath.Join(g1.dir, "ops", "node.crt"),
			"--tls-key", filepath.Join(g1.dir, "ops", "node.key"), "--key", g0.key, zf)
		if err != nil {
			return fmt.Errorf("%v: %s%s", err, stdout, stderr)
		}
		out = stdout
		return nil
	})
	if !strings.Contains(out, "published "+g0.zone+" serial 1 -> ") {
		t.Errorf("publish through group 1 printed:\n%s\nwant an update of group 0's serial 1", out)
	}
	waitUntil(t, g0.members[0].name+" serves the new record", func() error {
		r, err := askErr(g0.members[0].DNS, "via-g1."+g0.zone, dns.TypeTXT, false)
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			return fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
		}
		return nil
	})
}
