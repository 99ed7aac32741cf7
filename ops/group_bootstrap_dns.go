package ops

// group_bootstrap_dns.go: the encrypted DNS listeners `ddnrs ops group
// bootstrap` configures on every member (issue 14 item 5): DoT, DoH and
// DoQ, on by default, each member serving a DNS-facing certificate of
// its own (serving-only, pki.IssueServer) issued by a CA that is not the
// cluster CA: one the operator gives (--dns-ca), or one bootstrap makes
// in DIR/dns-ca. docs/operator-guide.md, "TLS and ACME for clients".

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/internal/acmecert"
	"github.com/ddnrs/ddnrs/internal/hostport"
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

	ACME       string // --acme-directory URL: certificates from ACME instead of a CA
	ACMERoots  string // --acme-roots FILE: the ACME server's HTTPS roots
	ACMEEmail  string // --acme-email
	ACMEHTTP01 string // --acme-http01 HOST:PORT: where HTTP-01 challenges are answered
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
	f.StringVar(&o.ACME, "acme-directory", "", "get each member's DNS-facing certificate from this ACME directory `URL` (HTTP-01; names: its IP and --dns-name) instead of a CA, e.g. https://acme-v02.api.letsencrypt.org/directory")
	f.StringVar(&o.ACMERoots, "acme-roots", "", "PEM `FILE` of the roots the ACME server's HTTPS is verified with (a private ACME server; default: the system's)")
	f.StringVar(&o.ACMEEmail, "acme-email", "", "contact `EMAIL` of the ACME account")
	f.StringVar(&o.ACMEHTTP01, "acme-http01", ":80", "`HOST:PORT` this command answers HTTP-01 challenges on while it orders (the ACME server validates at port 80 of each name)")
	f.IntVar(&o.DoTPort, "dot-port", 853, "base DNS-over-TLS port (TCP); members on loopback take a free one unless given")
	f.IntVar(&o.DoHPort, "doh-port", 443, "base DNS-over-HTTPS port (TCP, and UDP for HTTP/3); members on loopback take a free one unless given")
	f.IntVar(&o.DoQPort, "doq-port", 853, "base DNS-over-QUIC port (UDP); members on loopback take a free one unless given")
}

// checkBootstrapDNS validates the encrypted listeners' flags.
func checkBootstrapDNS(o *bootstrapDNSOptions, span int) error {
	if o.Off {
		if o.CA != "" || len(o.Names) > 0 || o.portsSet || o.ACME != "" {
			return usagef("--no-encrypted turns DoT, DoH and DoQ off: drop --dns-ca, --acme-directory, --dns-name and the --dot/--doh/--doq ports")
		}
		return nil
	}
	if o.ACME != "" {
		if o.CA != "" {
			return usagef("--acme-directory and --dns-ca: choose where the DNS-facing certificates come from")
		}
		if u, err := url.Parse(o.ACME); err != nil || u.Scheme != "https" || u.Host == "" {
			return usagef("--acme-directory %q: want the https:// URL of an ACME directory", o.ACME)
		}
		if _, _, err := hostport.Split(o.ACMEHTTP01); err != nil && !strings.HasPrefix(o.ACMEHTTP01, ":") {
			return usagef("--acme-http01 %q: want HOST:PORT or :PORT", o.ACMEHTTP01)
		}
	} else if o.ACMERoots != "" || o.ACMEEmail != "" {
		return usagef("--acme-roots and --acme-email go with --acme-directory")
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
func bootstrapDNSMember(ctx context.Context, o *bootstrapDNSOptions, ca *pki.CA, id, memberDir string, ip net.IP, off int) (string, error) {
	dir := filepath.Join(memberDir, bootstrapDNSDir)
	if ca == nil {
		if err := acmeMember(ctx, o, dir, ip); err != nil {
			return "", err
		}
	} else if p, err := pki.IssueServer(ca, id+" DNS", []net.IP{ip}, append([]string{"localhost"}, o.Names...)); err != nil {
		return "", err
	} else if err := p.Save(dir); err != nil {
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
	b.WriteString("\n[encrypted]\n# DNS over TLS, HTTPS (/dns-query) and QUIC for clients, with a serving-only\n# certificate of the DNS-facing CA or from ACME (never the cluster CA).\nenabled = true\n")
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

// acmeMember gets a member's DNS-facing certificate from the ACME
// directory, for its IP and the --dns-name names, into dir.
func acmeMember(ctx context.Context, o *bootstrapDNSOptions, dir string, ip net.IP) error {
	var roots *x509.CertPool
	if o.ACMERoots != "" {
		b, err := os.ReadFile(o.ACMERoots)
		if err != nil {
			return fmt.Errorf("--acme-roots: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(b) {
			return usagef("--acme-roots %s holds no PEM certificate", o.ACMERoots)
		}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	chain, key, err := acmecert.Obtain(ctx, acmecert.Options{Directory: o.ACME, Roots: roots, Email: o.ACMEEmail,
		DNSNames: o.Names, IPs: []net.IP{ip}, HTTP01Listen: o.ACMEHTTP01})
	if err != nil {
		return withHint(err, "the ACME server must reach --acme-http01 (%s) at each name's port 80; or give --dns-ca", o.ACMEHTTP01)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := writeNewMode(filepath.Join(dir, pki.KeyFile), key, 0o600); err != nil {
		return err
	}
	return writeNewMode(filepath.Join(dir, pki.CertFile), chain, 0o644)
}
