package ops

// group_bootstrap_dns.go: the encrypted DNS listeners `ddnrs ops group
// bootstrap` configures on every member (issue 14 item 5): DoT, DoH and
// DoQ, on by default, each member serving a DNS-facing certificate of
// its own (serving-only, pki.IssueServer) issued by a CA that is not the
// cluster CA: one the operator gives (--dns-ca), or one bootstrap makes
// in DIR/dns-ca. docs/operator-guide.md, "TLS and ACME for clients".

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/internal/pki"
)

// bootstrapDNSOptions are bootstrap's flags for the encrypted listeners.
type bootstrapDNSOptions struct {
	Off      bool     // --no-encrypted
	CA       string   // --dns-ca DIR: the CA issuing the DNS-facing certificates
	Names    []string // --dns-name: DNS names clients reach the members by
	DoTPort  int      // --dot-port
	DoHPort  int      // --doh-port
	DoQPort  int      // --doq-port
	portsSet bool     // any of the three ports given
}

// bootstrapDNSCADir is where bootstrap makes the DNS-facing CA when
// --dns-ca is not given.
const bootstrapDNSCADir = "dns-ca"

// bootstrapDNSDir is the directory, inside a member's, of its
// DNS-facing certificate and key (node.crt, node.key).
const bootstrapDNSDir = "dns"

func addBootstrapDNSFlags(cmd *cobra.Command, o *bootstrapDNSOptions) {
	f := cmd.Flags()
	f.BoolVar(&o.Off, "no-encrypted", false, "do not configure DoT, DoH and DoQ (they are on by default)")
	f.StringVar(&o.CA, "dns-ca", "", "issue the members' DNS-facing certificates (DoT, DoH, DoQ) with the CA in `DIR` (ca.crt, ca.key; 'ddnrs ops ca init'); default: a new one in OUT/dns-ca. Never the cluster CA")
	f.StringArrayVar(&o.Names, "dns-name", nil, "a DNS `NAME` clients reach the members by, put in their DNS-facing certificates besides their IP and localhost (repeatable), e.g. --dns-name dns.example.net")
	f.IntVar(&o.DoTPort, "dot-port", 853, "base DNS-over-TLS port (TCP); members on loopback take a free one unless given")
	f.IntVar(&o.DoHPort, "doh-port", 443, "base DNS-over-HTTPS port (TCP, and UDP for HTTP/3); members on loopback take a free one unless given")
	f.IntVar(&o.DoQPort, "doq-port", 853, "base DNS-over-QUIC port (UDP); members on loopback take a free one unless given")
}

// checkBootstrapDNS validates the encrypted listeners' flags.
func checkBootstrapDNS(o *bootstrapDNSOptions, span int) error {
	if o.Off {
		if o.CA != "" || len(o.Names) > 0 || o.portsSet {
			return usagef("--no-encrypted turns DoT, DoH and DoQ off: drop --dns-ca, --dns-name and the --dot/--doh/--doq ports")
		}
		return nil
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"--dot-port", o.DoTPort}, {"--doh-port", o.DoHPort}, {"--doq-port", o.DoQPort}} {
		if p.v < 1 || p.v+span-1 > 65535 {
			return usagef("%s %d: want 1 to %d", p.name, p.v, 65536-span)
		}
	}
	for _, n := range o.Names {
		if n == "" || len(n) > 253 || strings.ContainsAny(n, " /:@") || net.ParseIP(n) != nil {
			return usagef("--dns-name %q: want a host name such as dns.example.net (the members' IPs are always in the certificate)", n)
		}
	}
	return nil
}

// givenDNSCA loads the --dns-ca CA (nil without the flag), before
// bootstrap writes anything.
func givenDNSCA(o *bootstrapDNSOptions) (*pki.CA, string, error) {
	if o.Off || o.CA == "" {
		return nil, "", nil
	}
	dir, err := filepath.Abs(o.CA)
	if err != nil {
		return nil, "", err
	}
	ca, err := pki.LoadCA(dir)
	if err != nil {
		return nil, "", withHint(fmt.Errorf("--dns-ca %s: %w", o.CA, err), "--dns-ca must name a CA directory (ca.crt and ca.key) made by 'ddnrs ops ca init'")
	}
	return ca, filepath.Join(dir, pki.CACertFile), nil
}

// bootstrapDNSCA returns the DNS-facing CA: given (--dns-ca, loaded by
// givenDNSCA), or the one in out/dns-ca, made when missing. It refuses
// the cluster CA: the DNS-facing keys sit on public listeners, and a
// certificate the cluster CA issued is one step from a cluster
// credential. It returns the CA and its certificate's path.
func bootstrapDNSCA(o *bootstrapDNSOptions, given *pki.CA, givenPath, out string, cluster *pki.CA) (*pki.CA, string, error) {
	if given != nil {
		if given.Cert.Equal(cluster.Cert) {
			return nil, "", usagef("--dns-ca %s is the cluster CA: give the DNS-facing certificates a CA of their own ('ddnrs ops ca init --dir dns-ca --name \"DNS clients\"')", o.CA)
		}
		return given, givenPath, nil
	}
	dir := filepath.Join(out, bootstrapDNSCADir)
	ca, err := pki.LoadCA(dir)
	if err == nil {
		// Another group bootstrapped into the same DIR made it.
		return ca, filepath.Join(dir, pki.CACertFile), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", withHint(fmt.Errorf("%s: %w", dir, err), "bootstrap never overwrites a CA: choose another --out, or give a CA with --dns-ca")
	}
	if ca, err = pki.NewCA("ddnrs DNS clients CA"); err != nil {
		return nil, "", err
	}
	if err := ca.Save(dir); err != nil {
		return nil, "", err
	}
	return ca, filepath.Join(dir, pki.CACertFile), nil
}

// bootstrapDNSMember issues member m's DNS-facing certificate into
// memberDir/dns and returns its [encrypted] section: DoT, DoH and DoQ on
// ip at the base ports + off, or on free ports when ip is loopback and no
// port was given (several members on one machine, a trial).
func bootstrapDNSMember(o *bootstrapDNSOptions, ca *pki.CA, id, memberDir string, ip net.IP, off int) (string, error) {
	dir := filepath.Join(memberDir, bootstrapDNSDir)
	p, err := pki.IssueServer(ca, id+" DNS", []net.IP{ip}, append([]string{"localhost"}, o.Names...))
	if err != nil {
		return "", err
	}
	if err := p.Save(dir); err != nil {
		return "", err
	}
	host := ip.String()
	port := func(base int) string {
		if a, ok := netip.AddrFromSlice(ip); ok && a.Unmap().IsLoopback() && !o.portsSet {
			return net.JoinHostPort(host, "0")
		}
		return net.JoinHostPort(host, strconv.Itoa(base+off))
	}
	var b strings.Builder
	b.WriteString("\n[encrypted]\n# DNS over TLS, HTTPS (/dns-query) and QUIC for clients, with a serving-only\n# certificate of the DNS-facing CA (never the cluster CA).\nenabled = true\n")
	fmt.Fprintf(&b, "dot = %s\ndoh = %s\ndoq = %s\n", strconv.Quote(port(o.DoTPort)), strconv.Quote(port(o.DoHPort)), strconv.Quote(port(o.DoQPort)))
	fmt.Fprintf(&b, "cert_file = %s\nkey_file = %s\n", strconv.Quote(filepath.Join(dir, pki.CertFile)), strconv.Quote(filepath.Join(dir, pki.KeyFile)))
	return b.String(), nil
}

// dnsHost is the host of a HOST:PORT address, as dig's @ takes it.
func dnsHost(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}
