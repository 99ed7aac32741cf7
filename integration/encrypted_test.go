package integration

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
)

// demoName and demoAddr are a name of the demo zone `ddnrs dev` serves
// and its address.
const (
	demoName = "www.demo.ddnrs."
	demoAddr = "127.0.0.2"
	devHost  = "localhost" // the name in the dev DNS certificate
)

// encDev is a `ddnrs dev` with its encrypted listeners split into what
// the clients take.
type encDev struct {
	*devNode
	dotPort, dohPort, doqPort string
}

func startEncryptedDev(t *testing.T) *encDev {
	t.Helper()
	d := startDev(t, t.TempDir())
	r := d.ready
	if r.DoT == "" || r.DoH == "" || r.DoQ == "" || r.CA == "" || r.SPKI == "" {
		t.Fatalf("ready file lacks dot/doh/doq/ca/spki: %+v", r)
	}
	if _, err := os.Stat(r.CA); err != nil {
		t.Fatalf("ready file ca: %v", err)
	}
	e := &encDev{devNode: d}
	var err error
	if _, e.dotPort, err = net.SplitHostPort(r.DoT); err != nil {
		t.Fatal(err)
	}
	if _, e.doqPort, err = net.SplitHostPort(r.DoQ); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(r.DoH)
	if err != nil || u.Hostname() != devHost || u.Path != "/dns-query" {
		t.Fatalf("ready file doh %q: want https://%s:PORT/dns-query (%v)", r.DoH, devHost, err)
	}
	e.dohPort = u.Port()
	return e
}

// otherCA returns a CA file that did not issue the dev certificate.
func otherCA(t *testing.T) string {
	return dnstest.NewTestCert(t, devHost).CAFile
}

// TestEncryptedClients queries the dev node with the real DoT, DoH and
// DoQ clients, each verifying the certificate against the dev CA, and
// checks that each refuses a wrong hostname and a wrong CA.
func TestEncryptedClients(t *testing.T) {
	e := startEncryptedDev(t)
	kdig := needTool(t, "kdig", "knot-dnsutils")
	dig := needTool(t, "dig", "bind9-dnsutils")
	type tool struct {
		name, bin string
		args      func(ca, host string) []string
	}
	at := func(port string) []string { return []string{"@127.0.0.1", "-p", port} }
	tools := []tool{
		{"kdig +tls", kdig, func(ca, host string) []string {
			return append(at(e.dotPort), "+tls-ca="+ca, "+tls-hostname="+host, "+time=5", "+retry=0", demoName, "A")
		}},
		{"kdig +https", kdig, func(ca, host string) []string {
			return append(at(e.dohPort), "+tls-ca="+ca, "+tls-hostname="+host, "+https", "+time=5", "+retry=0", demoName, "A")
		}},
		{"kdig +https-get", kdig, func(ca, host string) []string {
			return append(at(e.dohPort), "+tls-ca="+ca, "+tls-hostname="+host, "+https-get", "+time=5", "+retry=0", demoName, "A")
		}},
		{"kdig +quic", kdig, func(ca, host string) []string {
			// +quic after the +tls-* options (kdig 3.2).
			return append(at(e.doqPort), "+time=5", "+retry=0", "+tls-ca="+ca, "+tls-hostname="+host, "+quic", demoName, "A")
		}},
		{"dig +tls", dig, func(ca, host string) []string {
			return append(at(e.dotPort), "+tls", "+tls-ca="+ca, "+tls-hostname="+host, "+time=5", "+tries=1", demoName, "A")
		}},
		{"dig +https", dig, func(ca, host string) []string {
			return append(at(e.dohPort), "+https", "+tls-ca="+ca, "+tls-hostname="+host, "+time=5", "+tries=1", demoName, "A")
		}},
	}
	wrongCA := otherCA(t)
	for _, tl := range tools {
		t.Run(tl.name, func(t *testing.T) {
			out, errOut, err := tryCmd("", tl.bin, tl.args(e.ready.CA, devHost)...)
			r := parseDig(out)
			if err != nil || r.Status != "NOERROR" || !containsRR(r.Answer, demoAddr) {
				t.Fatalf("%s %s: status %q answer %v, err %v, want %s\n%s%s", tl.name, demoName, r.Status, r.Answer, err, demoAddr, out, errOut)
			}
			for _, bad := range []struct{ desc, ca, host string }{
				{"wrong hostname", e.ready.CA, "wrong.example"},
				{"wrong CA", wrongCA, devHost},
			} {
				out, _, err := tryCmd("", tl.bin, tl.args(bad.ca, bad.host)...)
				if err == nil && containsRR(parseDig(out).Answer, demoAddr) {
					t.Errorf("%s with a %s got an answer; it must refuse the server\n%s", tl.name, bad.desc, out)
				}
			}
		})
	}
}

func containsRR(answer []string, data string) bool {
	for _, rr := range answer {
		f := strings.Fields(rr)
		if len(f) > 0 && f[len(f)-1] == data {
			return true
		}
	}
	return false
}

// TestCurlDoH has curl resolve the host of the URL it fetches through the
// node's DoH: www.demo.ddnrs is 127.0.0.2, where the test serves HTTP.
func TestCurlDoH(t *testing.T) {
	e := startEncryptedDev(t)
	curl := needTool(t, "curl", "curl")
	ln, err := net.Listen("tcp", demoAddr+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", r.Host)
	})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	target := "http://" + strings.TrimSuffix(demoName, ".") + ":" + port + "/"
	args := func(ca string) []string {
		return []string{"-sS", "--max-time", "10", "--cacert", ca, "--doh-url", e.ready.DoH, target}
	}
	out, errOut, err := tryCmd("", curl, args(e.ready.CA)...)
	if err != nil || !strings.Contains(out, "hello from www.demo.ddnrs:"+port) {
		t.Fatalf("curl --doh-url %s %s: %v\n%s%s", e.ready.DoH, target, err, out, errOut)
	}
	if out, _, err := tryCmd("", curl, args(otherCA(t))...); err == nil {
		t.Errorf("curl with a DoH server certificate from another CA resolved the name\n%s", out)
	}
}

// TestUnboundForwardsOverTLS runs a validating Unbound that forwards the
// demo zone to the node over DoT, verifying the certificate against the
// dev CA and the name in it, and checks it validates (AD).
func TestUnboundForwardsOverTLS(t *testing.T) {
	e := startEncryptedDev(t)
	dig := needTool(t, "dig", "bind9-dnsutils")
	var anchor string
	for _, z := range e.ready.Zones {
		if z.Zone == "demo.ddnrs." {
			anchor = z.DNSKEY
		}
	}
	if anchor == "" {
		t.Fatalf("ready file lists no DNSKEY for demo.ddnrs.: %+v", e.ready.Zones)
	}
	port := startUnboundTLS(t, e, anchor, devHost)
	out := runCmd(t, "", dig, "@127.0.0.1", "-p", strconv.Itoa(port), "+time=5", "+tries=1", "+dnssec", demoName, "A")
	r := parseDig(out)
	if r.Status != "NOERROR" || !r.Flags["ad"] || !containsRR(r.Answer, demoAddr) {
		t.Errorf("unbound over DoT: status %s ad=%v answer %v, want NOERROR, ad, %s\n%s", r.Status, r.Flags["ad"], r.Answer, demoAddr, out)
	}
	t.Run("wrong hostname", func(t *testing.T) {
		port := startUnboundTLS(t, e, anchor, "wrong.example")
		out := runCmd(t, "", dig, "@127.0.0.1", "-p", strconv.Itoa(port), "+time=8", "+tries=1", demoName, "A")
		if r := parseDig(out); r.Status != "SERVFAIL" {
			t.Errorf("unbound forwarding to a server named otherwise: status %s, want SERVFAIL\n%s", r.Status, out)
		}
	})
}

// startUnboundTLS starts Unbound forwarding demo.ddnrs. over TLS to the
// node's DoT port with hostname checked against the dev CA. It returns
// Unbound's port once it listens.
func startUnboundTLS(t *testing.T, e *encDev, anchor, hostname string) int {
	t.Helper()
	return startUnboundConf(t, unboundConf{
		server: fmt.Sprintf("\ttrust-anchor: %q\n\ttls-cert-bundle: %q\n", anchor, e.ready.CA),
		zones: fmt.Sprintf(`forward-zone:
	name: "demo.ddnrs."
	forward-tls-upstream: yes
	forward-addr: 127.0.0.1@%s#%s
`, e.dotPort, hostname),
		// probe "": ready when it listens, so no query is cached early.
	})
}
