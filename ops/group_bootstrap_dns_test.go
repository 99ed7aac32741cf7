package ops

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/node"
)

// TestGroupBootstrapEncrypted checks what bootstrap writes for DoT, DoH
// and DoQ: on by default, a serving-only certificate per member from the
// DNS-facing CA (made, or given with --dns-ca), the base ports + N-1 off
// loopback and free ports on it, and none of it with --no-encrypted.
func TestGroupBootstrapEncrypted(t *testing.T) {
	dir := t.TempDir()
	dnsCA := filepath.Join(dir, "dns-ca-given")
	mustRun(t, "ops", "ca", "init", "--dir", dnsCA, "--name", "DNS clients")
	given, err := pki.LoadCA(dnsCA)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc     string
		args     []string
		ca       *pki.CA // nil: the one bootstrap made in OUT/dns-ca
		off      bool
		dot, doq []string // per member; "" checks nothing
		names    []string
	}{
		{"default on loopback", []string{"--members", "2"}, nil, false, []string{"127.0.0.1:0", "127.0.0.1:0"}, []string{"127.0.0.1:0", "127.0.0.1:0"}, []string{"localhost"}},
		{"given CA and ports, one IP per member", []string{"--members", "2", "--ip", "10.9.0.1,10.9.0.2", "--dns-ca", dnsCA, "--dot-port", "8853", "--dns-name", "dns.example.net"},
			given, false, []string{"10.9.0.1:8853", "10.9.0.2:8853"}, []string{"10.9.0.1:853", "10.9.0.2:853"}, []string{"localhost", "dns.example.net"}},
		{"given ports on loopback", []string{"--members", "2", "--dot-port", "9853", "--doq-port", "9953"}, nil, false, []string{"127.0.0.1:9853", "127.0.0.1:9854"}, []string{"127.0.0.1:9953", "127.0.0.1:9954"}, nil},
		{"off", []string{"--members", "1", "--no-encrypted"}, nil, true, nil, nil, nil},
	}
	for i, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			out := filepath.Join(dir, "t"+strconv.Itoa(i))
			res := bootstrapJSONRun(t, append([]string{"--out", out}, tt.args...)...)
			if tt.off {
				if res.DNSCA != "" {
					t.Errorf("--no-encrypted: dns_ca = %q, want none", res.DNSCA)
				}
				cfg, err := node.LoadConfig(res.Members[0].Config)
				if err != nil {
					t.Fatal(err)
				}
				if cfg.Encrypted.Enabled {
					t.Errorf("--no-encrypted: [encrypted] enabled in %s", res.Members[0].Config)
				}
				return
			}
			ca := tt.ca
			if ca == nil {
				if res.DNSCA != filepath.Join(out, bootstrapDNSCADir, pki.CACertFile) {
					t.Fatalf("dns_ca = %q, want OUT/dns-ca/ca.crt", res.DNSCA)
				}
				if ca, err = pki.LoadCA(filepath.Dir(res.DNSCA)); err != nil {
					t.Fatal(err)
				}
			} else if res.DNSCA != filepath.Join(dnsCA, pki.CACertFile) {
				t.Fatalf("dns_ca = %q, want the given %s", res.DNSCA, dnsCA)
			}
			cluster, err := pki.LoadCAPool(res.CA)
			if err != nil {
				t.Fatal(err)
			}
			for k, m := range res.Members {
				cfg, err := node.LoadConfig(m.Config)
				if err != nil {
					t.Fatalf("%s: %v", m.Config, err)
				}
				e := cfg.Encrypted
				if !e.Enabled || e.DoT != tt.dot[k] || e.DoQ != tt.doq[k] {
					t.Errorf("%s [encrypted] = enabled %v dot %q doq %q, want on, %q, %q", m.ID, e.Enabled, e.DoT, e.DoQ, tt.dot[k], tt.doq[k])
				}
				p, err := pki.LoadPair(e.CertFile, e.KeyFile)
				if err != nil {
					t.Fatalf("%s DNS certificate: %v", m.ID, err)
				}
				if err := pki.CheckClusterCert(p.Cert); err == nil {
					t.Errorf("%s DNS certificate is a cluster credential; want serving-only", m.ID)
				}
				if err := pki.CheckServingCert(p.Cert, cluster); err != nil {
					t.Errorf("%s DNS certificate: %v", m.ID, err)
				}
				ip := strings.Split(tt.dot[k], ":")[0]
				for _, name := range append([]string{ip}, tt.names...) {
					if _, err := p.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: name}); err != nil {
						t.Errorf("%s DNS certificate for %q against the DNS CA: %v", m.ID, name, err)
					}
				}
				if _, err := p.Cert.Verify(x509.VerifyOptions{Roots: cluster, DNSName: ip}); err == nil {
					t.Errorf("%s DNS certificate verifies against the cluster CA; want its own CA", m.ID)
				}
			}
		})
	}
}

// TestGroupBootstrapEncryptedFlags checks the refusals of the encrypted
// listeners' flags: nothing is written on a usage error.
func TestGroupBootstrapEncryptedFlags(t *testing.T) {
	dir := t.TempDir()
	clusterCA := filepath.Join(dir, "cluster-ca")
	mustRun(t, "ops", "ca", "init", "--dir", clusterCA)
	tests := []struct {
		desc string
		args []string
		code ExitCode
		want string
	}{
		{"--no-encrypted with --dns-ca", []string{"--no-encrypted", "--dns-ca", clusterCA}, ExitUsage, "--no-encrypted"},
		{"--no-encrypted with --dot-port", []string{"--no-encrypted", "--dot-port", "853"}, ExitUsage, "--no-encrypted"},
		{"--dns-ca is the cluster CA", []string{"--ca", clusterCA, "--dns-ca", clusterCA}, ExitUsage, "cluster CA"},
		{"--dns-ca missing", []string{"--dns-ca", filepath.Join(dir, "nowhere")}, ExitError, "--dns-ca"},
		{"--dns-ca not a CA dir", []string{"--dns-ca", dir}, ExitError, "--dns-ca"},
		{"--dns-name an IP", []string{"--dns-name", "10.0.0.1"}, ExitUsage, "--dns-name"},
		{"--dns-name with a port", []string{"--dns-name", "dns.example.net:853"}, ExitUsage, "--dns-name"},
		{"--doh-port 0", []string{"--doh-port", "0"}, ExitUsage, "--doh-port"},
		{"--doq-port too high", []string{"--members", "3", "--doq-port", "65534"}, ExitUsage, "--doq-port"},
	}
	for i, tt := range tests {
		out := filepath.Join(dir, "t"+strconv.Itoa(i))
		r := ddnrs(t, append([]string{"ops", "group", "bootstrap", "--out", out}, tt.args...)...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d mentioning %q", tt.desc, r.code, r.stderr, tt.code, tt.want)
		}
		if tt.code == ExitUsage || strings.HasPrefix(tt.desc, "--dns-ca") {
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s: %s was written (err %v); want nothing written on a usage error", tt.desc, out, err)
			}
		}
	}
}
