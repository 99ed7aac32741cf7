package ops

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/node"
)

// --from reads earlier bootstraps' records, so a region's group needs no
// value copied by hand from the registry's output; --install-dir makes
// each member's directory self-contained for its machine.
func TestGroupBootstrapFrom(t *testing.T) {
	dir := t.TempDir()
	reg := bootstrapJSONRun(t, "--out", filepath.Join(dir, "reg"), "--name", "reg", "--registry", "--api-tls", "--overlay",
		"--ip", "10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4")
	if len(reg.Members) != 4 {
		t.Fatalf("four --ip made %d members, want one per address", len(reg.Members))
	}
	eu := bootstrapJSONRun(t, "--out", filepath.Join(dir, "eu"), "--name", "eu", "--region", "eu", "--from", filepath.Join(dir, "reg"),
		"--overlay", "--ip", "10.1.0.1,10.1.0.2")
	us := bootstrapJSONRun(t, "--out", filepath.Join(dir, "us"), "--name", "us", "--region", "us",
		"--from", filepath.Join(dir, "reg"), "--from", filepath.Join(dir, "eu", "bootstrap-eu.json"),
		"--overlay", "--ip", "10.2.0.1,10.2.0.2", "--install-dir", "/var/lib/ddnrs")
	if eu.CA != reg.CA || us.CA != reg.CA || eu.LogVerifier != reg.LogVerifier {
		t.Errorf("--from: CA %s/%s and verifier %q; want the registry's %s and %q", eu.CA, us.CA, eu.LogVerifier, reg.CA, reg.LogVerifier)
	}
	var urls, admins, regPeers, euPeers []string
	for i, m := range reg.Members {
		urls, admins = append(urls, m.API), append(admins, m.Admin)
		if i < maxPeersFrom {
			regPeers = append(regPeers, m.Overlay)
		}
	}
	for _, m := range eu.Members {
		euPeers = append(euPeers, m.Overlay)
	}
	for _, tc := range []struct {
		m       bootstrapMember
		peers   []string // from other groups, in this order
		install string
	}{
		{eu.Members[0], regPeers, ""},
		{us.Members[1], append(slices.Clone(regPeers), euPeers...), "/var/lib/ddnrs"},
	} {
		cfg, err := node.LoadConfig(tc.m.Config)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cfg.Registry.URLs, urls) || !slices.Equal(cfg.Registry.Admin, admins) || cfg.Registry.LogVerifier != reg.LogVerifier {
			t.Errorf("%s: registry urls %q admin %q verifier %q; want the registry's %q %q %q", tc.m.ID,
				cfg.Registry.URLs, cfg.Registry.Admin, cfg.Registry.LogVerifier, urls, admins, reg.LogVerifier)
		}
		boot := cfg.Overlay.Bootstrap
		if len(boot) < len(tc.peers) || !slices.Equal(boot[len(boot)-len(tc.peers):], tc.peers) {
			t.Errorf("%s: overlay.bootstrap %q; want its group's members then %q", tc.m.ID, boot, tc.peers)
		}
		if tc.install == "" {
			if cfg.TLS.CA != reg.CA {
				t.Errorf("%s: tls.ca %s, want the shared CA %s", tc.m.ID, cfg.TLS.CA, reg.CA)
			}
			continue
		}
		own := filepath.Join(tc.install, tc.m.ID)
		for what, got := range map[string]string{"data_dir": cfg.DataDir, "tls.ca": cfg.TLS.CA, "tls.cert": cfg.TLS.Cert, "tls.key": cfg.TLS.Key,
			"encrypted.cert_file": cfg.Encrypted.CertFile, "encrypted.key_file": cfg.Encrypted.KeyFile} {
			if !strings.HasPrefix(got, own+"/") {
				t.Errorf("%s: %s = %s; want it under the install directory %s", tc.m.ID, what, got, own)
			}
		}
		// What the configuration names under the install directory is
		// in the member's directory, to be copied there.
		for _, f := range []string{pki.CACertFile, pki.CertFile, pki.KeyFile, filepath.Join("data", bootstrapOverlayKey)} {
			if _, err := os.Stat(filepath.Join(filepath.Dir(tc.m.Config), f)); err != nil {
				t.Errorf("%s: %v; the member's directory must hold every file its configuration names", tc.m.ID, err)
			}
		}
	}

	tests := []struct {
		desc string
		args []string
		want string
	}{
		{"a path that is not there", []string{"--from", filepath.Join(dir, "nowhere")}, "--from"},
		{"a directory without a record", []string{"--from", t.TempDir()}, "no bootstrap-GROUP.json"},
		{"not a record", []string{"--from", reg.Members[0].Config}, "not a bootstrap record"},
		{"the registry from the registry", []string{"--registry", "--from", filepath.Join(dir, "reg")}, "--registry"},
		{"an overlay cluster without --overlay", []string{"--from", filepath.Join(dir, "reg")}, "--overlay"},
		{"its own group's record", []string{"--name", "eu", "--overlay", "--from", filepath.Join(dir, "eu")}, "the group being bootstrapped"},
		{"a relative --install-dir", []string{"--install-dir", "var/lib/ddnrs"}, "absolute"},
	}
	for i, tt := range tests {
		out := filepath.Join(dir, "bad", string(rune('a'+i)))
		r := ddnrs(t, append([]string{"ops", "group", "bootstrap", "--out", out, "--members", "1"}, tt.args...)...)
		if r.code == ExitOK || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want a refusal mentioning %q", tt.desc, r.code, r.stderr, tt.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: %s was written; want nothing written on a refusal", tt.desc, out)
		}
	}
}
