package node

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/dnsfront/dnstest"
	"github.com/miekg/dns"
)

func TestEncryptedConfigValidate(t *testing.T) {
	on := DefaultEncrypted()
	on.Enabled, on.CertFile, on.KeyFile = true, "c.pem", "k.pem"
	cases := []struct {
		name string
		edit func(*EncryptedConfig)
		want string // substring of the error, "" = valid
	}{
		{"default is off and valid", func(c *EncryptedConfig) { *c = DefaultEncrypted() }, ""},
		{"enabled with files", func(*EncryptedConfig) {}, ""},
		{"only DoQ", func(c *EncryptedConfig) { c.DoT, c.DoH = "", "" }, ""},
		{"no listener", func(c *EncryptedConfig) { c.DoT, c.DoH, c.DoQ = "", "", "" }, "all empty"},
		{"no certificate", func(c *EncryptedConfig) { c.CertFile = "" }, "cert_file"},
		{"bad address", func(c *EncryptedConfig) { c.DoT = "853" }, "encrypted.dot"},
		{"bad path", func(c *EncryptedConfig) { c.DoHPath = "dns-query" }, "doh_path"},
		{"tiny query size", func(c *EncryptedConfig) { c.MaxQuerySize = 100 }, "max_query_size"},
		{"no idle timeout", func(c *EncryptedConfig) { c.IdleTimeout = 0 }, "idle_timeout"},
	}
	for _, c := range cases {
		cfg := on
		c.edit(&cfg)
		err := errors.Join(cfg.validate()...)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: validate() = %v, want nil", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: validate() = %v, want an error about %s", c.name, err, c.want)
		}
	}
}

// TestStartEncrypted starts the three listeners as a node does, on free
// ports, and queries each.
func TestStartEncrypted(t *testing.T) {
	cert := dnstest.NewTestCert(t, "node.test")
	cfg := DefaultEncrypted()
	cfg.Enabled = true
	cfg.DoT, cfg.DoH, cfg.DoQ = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.CertFile, cfg.KeyFile = cert.CertFile, cert.KeyFile
	z := dnstest.Example(t)
	h := dnsfront.NewHandler(dnstest.NewZones(z), dnsfront.Options{})
	e, err := startEncrypted(cfg, dnsfront.TCPOptions{}, h, dnsfront.AuditNode{ID: "n1"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	a := e.addrs()
	if !a.DoT.IsValid() || !a.DoH.IsValid() || !a.DoQ.IsValid() {
		t.Fatalf("addresses %+v, want all three bound", a)
	}
	c := &dns.Client{Net: "tcp-tls", TLSConfig: &tls.Config{RootCAs: cert.Roots, ServerName: "node.test"}, Timeout: 10 * time.Second}
	r, _, err := c.Exchange(dnstest.Query("www.example.", dns.TypeA, false), a.DoT.String())
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("DoT query: %v, %v", r, err)
	}
	// A second start on the same DoT port is refused with ErrPortInUse,
	// and releases what it bound.
	cfg.DoT = a.DoT.String()
	if _, err := startEncrypted(cfg, dnsfront.TCPOptions{}, h, dnsfront.AuditNode{}, slog.New(slog.DiscardHandler)); !errors.Is(err, ErrPortInUse) {
		t.Errorf("second start on %s: %v, want ErrPortInUse", cfg.DoT, err)
	}
	var nilEnc *encrypted
	if err := nilEnc.Close(context.Background()); err != nil || nilEnc.addrs().DoT.IsValid() {
		t.Error("a node without encrypted listeners must close and report nothing")
	}
}
