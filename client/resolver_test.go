package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/translog/translogtest"
	"github.com/ddnrs/ddnrs/zone"
)

type serveCloser interface {
	Serve(context.Context) error
	Close() error
}

func serveUntilCleanup(t *testing.T, s serveCloser) {
	t.Helper()
	done := make(chan struct{})
	go func() { s.Serve(context.Background()); close(done) }()
	t.Cleanup(func() { s.Close(); <-done })
}

// TestResolverEveryTransport resolves through real servers on loopback
// over UDP (a big answer comes truncated, and is asked again over TCP),
// TCP, DoT and DoH, each answer verified with the owner's key only.
func TestResolverEveryTransport(t *testing.T) {
	r, _, k := signedExample(t, "2024010101")
	h := dnsfront.NewHandler(r, dnsfront.Options{})
	t.Cleanup(func() { h.Close() })
	cert := dnstest.NewTestCert(t, "node.test")
	// A truncated UDP answer is asked again over TCP at the same
	// address: UDP and TCP on one port (a few tries, in case another
	// process holds the TCP side of the free UDP port).
	var udp *dnsfront.UDPServer
	var tcp *dnsfront.TCPServer
	for try := 0; tcp == nil; try++ {
		u, err := dnsfront.ListenUDP("127.0.0.1:0", h, dnsfront.UDPOptions{Sockets: 1, Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		tc, err := dnsfront.ListenTCP(u.Addr().String(), h, dnsfront.TCPOptions{})
		if err != nil {
			u.Close()
			if try == 5 {
				t.Fatalf("no port free for both UDP and TCP: %v", err)
			}
			continue
		}
		udp, tcp = u, tc
	}
	serveUntilCleanup(t, udp)
	serveUntilCleanup(t, tcp)
	dot, err := dnsfront.ListenTLS("127.0.0.1:0", h, cert.Server(), dnsfront.TCPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	serveUntilCleanup(t, dot)
	doh, err := dnsfront.ListenHTTPS("127.0.0.1:0", h, cert.Server(), dnsfront.HTTPSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	serveUntilCleanup(t, doh)

	resolvers := map[string]*client.Resolver{
		"udp":     {Server: udp.Addr().String()},
		"tcp":     {Server: tcp.Addr().String(), Net: client.NetTCP},
		"tcp-tls": {Server: dot.Addr().String(), Net: client.NetTLS, TLS: cert.Client("node.test")},
		"https":   {Server: "https://" + doh.Addr().String() + dnsfront.DefaultDoHPath, Net: client.NetHTTPS, TLS: cert.Client("node.test")},
	}
	for net, res := range resolvers {
		res.Timeout = 10 * time.Second
		res.Verifier = client.NewVerifier(client.Anchors{"example.": k}, verifyClock)
		for _, q := range []struct {
			name string
			t    uint16
		}{{"www.example.", dns.TypeA}, {"nothere.example.", dns.TypeA}, {"big.example.", dns.TypeA}, {"host.sub.example.", dns.TypeA}} {
			got, err := res.Resolve(context.Background(), q.name, q.t)
			if err != nil {
				t.Errorf("%s: Resolve(%s) = %v", net, q.name, err)
				continue
			}
			if got.Serial != 2024010101 || len(got.Proof) == 0 {
				t.Errorf("%s: Resolve(%s) = serial %d, %d proof bytes", net, q.name, got.Serial, len(got.Proof))
			}
		}
		if _, err := res.Resolve(context.Background(), "www.other.test.", dns.TypeA); !errors.Is(err, client.ErrNoTrustAnchor) {
			t.Errorf("%s: Resolve(no anchor) = %v, want ErrNoTrustAnchor", net, err)
		}
	}
}

// TestResolverBadSettings: every unusable setting is a clear error.
func TestResolverBadSettings(t *testing.T) {
	v := client.NewVerifier(client.Anchors{}, nil)
	for _, c := range []struct {
		r    client.Resolver
		want string
	}{
		{client.Resolver{Verifier: v}, "no Server"},
		{client.Resolver{Server: "127.0.0.1:53"}, "no Verifier"},
		{client.Resolver{Server: "127.0.0.1:53", Net: "quic", Verifier: v}, `Net "quic"`},
		{client.Resolver{Server: "127.0.0.1:443", Net: client.NetHTTPS, Verifier: v}, "https:// URL"},
	} {
		_, err := c.r.Resolve(context.Background(), "www.example.", dns.TypeA)
		if !errors.Is(err, client.ErrBadResolver) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Resolve(%+v) = %v, want ErrBadResolver saying %q", c.r, err, c.want)
		}
	}
}

// TestLogStateFollow follows a real log served over HTTP: the owner key
// of a registration, then its change, become the anchors; a log that
// rewrites what the kept checkpoint covered is a split view, and the
// state stops there.
func TestLogStateFollow(t *testing.T) {
	log := translogtest.NewServer(t, "")
	k1, err := zone.GenerateKey("example.", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := zone.GenerateKey("example.", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	log.Append(t, translog.Entry{Kind: translog.KindRegistration, Time: now, Zone: "example.", OwnerKey: k1.DNSKEY.String(), Group: "g1", Actor: "operator"})
	st := client.NewLogState()
	n, err := st.Follow(context.Background(), log.Source(), log.Key.Verifier, "", now, time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("Follow = %d, %v; want 1 entry", n, err)
	}
	if a := st.TrustAnchors(nil)["example."]; a == nil || !zone.SameKey(a.DNSKEY, k1.DNSKEY) {
		t.Fatalf("anchor after registration = %v, want k1", a)
	}
	log.Append(t, translog.Entry{Kind: translog.KindOwnerKeyChange, Time: now, Zone: "example.", OwnerKey: k2.DNSKEY.String(), Actor: "operator"})
	if n, err = st.Follow(context.Background(), log.Source(), log.Key.Verifier, "", now, time.Hour); err != nil || n != 1 {
		t.Fatalf("second Follow = %d, %v; want 1 entry", n, err)
	}
	if a := st.TrustAnchors(nil)["example."]; a == nil || !zone.SameKey(a.DNSKEY, k2.DNSKEY) {
		t.Fatalf("anchor after the key change = %v, want k2", a)
	}
	// The log rewrites history: the same size, another second entry.
	log.Truncate(1)
	log.Append(t, translog.Entry{Kind: translog.KindOwnerKeyChange, Time: now, Zone: "example.", OwnerKey: k1.DNSKEY.String(), Actor: "operator"})
	log.Append(t, translog.Entry{Kind: translog.KindUnsuspension, Time: now, Zone: "example.", Actor: "operator"})
	if _, err := st.Follow(context.Background(), log.Source(), log.Key.Verifier, "", now, time.Hour); !errors.Is(err, translog.ErrSplitView) {
		t.Fatalf("Follow(rewritten log) = %v, want a split view", err)
	}
	if a := st.TrustAnchors(nil)["example."]; a == nil || !zone.SameKey(a.DNSKEY, k2.DNSKEY) {
		t.Errorf("a split view changed the anchor to %v", a)
	}
	// A checkpoint signed by another key is refused.
	other := translogtest.NewServer(t, "")
	fresh := client.NewLogState()
	if _, err := fresh.Follow(context.Background(), log.Source(), other.Key.Verifier, "", now, time.Hour); err == nil {
		t.Error("Follow accepted a checkpoint under another log key")
	}
}
