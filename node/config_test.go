package node

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/ddnrs/ddnrs/raftfsm"
)

func TestDefaultValidates(t *testing.T) {
	c := Default()
	c.DataDir = t.TempDir()
	if err := c.Validate(); err != nil {
		t.Errorf("Default() with DataDir: Validate() = %v, want nil", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Config{DNS: "127.0.0.1", UDPWorkers: -1, MaxUDPSize: 100, LogLevel: "loud", UDPSockets: -2}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() of a bad config = nil, want errors")
	}
	for _, want := range []string{"data_dir", "dns:", "tcp_idle_timeout", "tcp_max_conns", "tcp_max_inflight", "udp_sockets", "udp_workers", "max_udp_size", "log_level"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, want it to mention %q", err, want)
		}
	}
}

func TestConfigTOML(t *testing.T) {
	c := Default()
	_, err := toml.Decode(`
data_dir = "/var/lib/ddnrs"
dns = "[::1]:53"
tcp_idle_timeout = "3s"
udp_workers = 8
log_level = "debug"
`, &c)
	if err != nil {
		t.Fatalf("toml.Decode: %v", err)
	}
	if c.DataDir != "/var/lib/ddnrs" || c.DNS != "[::1]:53" || c.TCPIdleTimeout != 3*time.Second || c.UDPWorkers != 8 || c.LogLevel != "debug" {
		t.Errorf("decoded config = %+v, want the TOML values", c)
	}
	if c.TCPMaxConns != 1000 {
		t.Errorf("TCPMaxConns = %d, want the default 1000 kept", c.TCPMaxConns)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
}

func TestSampleConfig(t *testing.T) {
	c, err := LoadConfig(filepath.Join("testdata", "node.sample.toml"))
	if err != nil {
		t.Fatalf("LoadConfig(sample) = %v, want nil", err)
	}
	want := Default()
	want.DataDir = "/var/lib/ddnrs"
	// The Raft timeouts the sample documents are raftfsm's defaults.
	for _, tt := range []struct {
		key       string
		got, want time.Duration
	}{
		{"heartbeat_timeout", c.Group.HeartbeatTimeout, raftfsm.DefaultHeartbeatTimeout},
		{"election_timeout", c.Group.ElectionTimeout, raftfsm.DefaultElectionTimeout},
		{"leader_lease_timeout", c.Group.LeaderLeaseTimeout, raftfsm.DefaultLeaderLeaseTimeout},
		{"commit_timeout", c.Group.CommitTimeout, raftfsm.DefaultCommitTimeout},
		{"apply_timeout", c.Group.ApplyTimeout, raftfsm.DefaultApplyTimeout},
	} {
		if tt.got != tt.want {
			t.Errorf("sample %s = %v, want raftfsm's default %v", tt.key, tt.got, tt.want)
		}
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("LoadConfig(sample) = %+v, want the defaults with data_dir set %+v", c, want)
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want []string // substrings of the error; none means success
		unk  bool     // the error wraps ErrUnknownKey
	}{
		{name: "minimal", toml: `data_dir = "/d"`},
		{name: "joiner", toml: `data_dir = "/d"
[group]
id = "n2"
bootstrap = false
join = ["127.0.0.1:7400"]
non_voter = true
[tls]
ca = "ca.pem"
cert = "n2.pem"
key = "n2.key"`},
		{name: "unknown keys named", toml: `data_dir = "/d"
dnss = "x"
[group]
ids = "n1"
[metrics]
on = true`, want: []string{"dnss", "group.ids", "metrics.on"}, unk: true},
		{name: "unknown key and invalid value together", toml: `colour = "red"
[group]
election_timeout = "1ms"`, want: []string{"colour", "data_dir", "group.election_timeout"}, unk: true},
		{name: "syntax", toml: `data_dir = `, want: []string{"config"}},
		{name: "dnstap to a socket", toml: `data_dir = "/d"
dnstap = "unix:/run/dnstap.sock"
query_metrics = false
query_trace = false`},
		{name: "dnstap to a file", toml: `data_dir = "/d"
dnstap = "file:/var/log/q.dnstap"`},
		{name: "dnstap without a scheme", toml: `data_dir = "/d"
dnstap = "/run/dnstap.sock"`, want: []string{"dnstap", "unix:PATH"}},
		{name: "dnstap over tcp", toml: `data_dir = "/d"
dnstap = "tcp:127.0.0.1:6000"`, want: []string{"dnstap"}},
		{name: "dnstap without a path", toml: `data_dir = "/d"
dnstap = "file:"`, want: []string{"dnstap"}},
		{name: "registry member", toml: `data_dir = "/d"
[group]
name = "registry"
[api]
listen = "127.0.0.1:0"
[registry]
member = true
log_key_file = "log.key"
log_verifier = "ddnrs.registry/log+eab43351+ARMcw1KBShqdJ99w0RvM22NgAwwBf50gXkXz9J+hlEWP"
heartbeat_interval = "1s"`},
		{name: "registry follower", toml: `data_dir = "/d"
[group]
name = "east"
[registry]
log_verifier = "ddnrs.registry/log+eab43351+ARMcw1KBShqdJ99w0RvM22NgAwwBf50gXkXz9J+hlEWP"
urls = ["http://127.0.0.1:8053"]
admin = ["127.0.0.1:7400"]
region = "eu"`},
		{name: "registry and api errors", toml: `data_dir = "/d"
[group]
name = "bad name"
[api]
listen = "nope"
tls_cert = "c.pem"
[registry]
member = true
log_verifier = "garbage"
log_origin = ""
urls = ["ftp://x", "http://"]
admin = ["x"]
follow_interval = "0s"
heartbeat_interval = "-1s"`, want: []string{"group.name", "api.listen", "api.tls_cert and api.tls_key", "registry.log_key_file",
			"registry.log_verifier", "registry.log_origin", "registry.urls[0]", "registry.urls[1]", "registry.admin[0]",
			"registry.follow_interval", "registry.heartbeat_interval"}},
		{name: "follower without urls", toml: `data_dir = "/d"
[registry]
log_verifier = "ddnrs.registry/log+eab43351+ARMcw1KBShqdJ99w0RvM22NgAwwBf50gXkXz9J+hlEWP"`, want: []string{"registry.urls: required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "node.toml")
			if err := os.WriteFile(path, []byte(tt.toml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(path)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("LoadConfig = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadConfig = nil, want an error mentioning %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("LoadConfig = %q, want it to mention %q", err, w)
				}
			}
			if got := errors.Is(err, ErrUnknownKey); got != tt.unk {
				t.Errorf("errors.Is(LoadConfig, ErrUnknownKey) = %v, want %v", got, tt.unk)
			}
		})
	}
}

func TestValidateGroupAdminTLS(t *testing.T) {
	c := Default()
	c.DataDir = "/d"
	c.Group.ID = "bad id!"
	c.Group.RaftBind = "0.0.0.0:7300"
	c.Group.Join = []string{"nohost"}
	c.Group.LeaderLeaseTimeout = time.Second
	c.Group.ElectionTimeout = 100 * time.Millisecond
	c.Group.CommitTimeout = 0
	c.Admin.Listen = "[::]:7400"
	c.Admin.Advertise = "[::]:7400"
	c.Admin.ForwardTimeout = time.Hour
	c.TLS.Cert = "n.pem"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want errors")
	}
	for _, want := range []string{
		"group.id", "group.raft_bind", "group.bootstrap and group.join", "group.join[0]",
		"group.leader_lease_timeout", "group.election_timeout", "group.commit_timeout",
		"admin.advertise", "admin.forward_timeout", "tls.ca", "tls.key",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, want it to mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "tls.cert:") {
		t.Errorf("Validate() = %q, complains about tls.cert, which is set", err)
	}
}

// TestValidateRegistryURLsTLS: an https registry URL needs [tls] files
// (the node's certificate is what it presents to the registry); http
// needs nothing.
func TestValidateRegistryURLsTLS(t *testing.T) {
	files := TLSConfig{CA: "ca.crt", Cert: "node.crt", Key: "node.key"}
	for _, tc := range []struct {
		name    string
		urls    []string
		tls     TLSConfig
		wantErr bool
	}{
		{"http without tls", []string{"http://10.0.0.1:8053"}, TLSConfig{}, false},
		{"https with tls", []string{"https://10.0.0.1:8053"}, files, false},
		{"https without tls", []string{"http://10.0.0.1:8053", "https://10.0.0.2:8053"}, TLSConfig{}, true},
		{"HTTPS upper case without tls", []string{"HTTPS://reg.example:443"}, TLSConfig{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.DataDir = "/d"
			c.TLS = tc.tls
			c.Registry.URLs = tc.urls
			err := c.Validate()
			if gotErr := err != nil && strings.Contains(err.Error(), "registry.urls[") && strings.Contains(err.Error(), "needs [tls]"); gotErr != tc.wantErr {
				t.Errorf("Validate() = %v, want a registry.urls [tls] error: %v", err, tc.wantErr)
			}
			if !tc.wantErr && err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

// TestOverlayAdmit: [overlay] admit defaults to "directory" with a log to
// follow and to "any" without; "directory" without a log, and any other
// word, are refused with the fix in the message.
func TestOverlayAdmit(t *testing.T) {
	for _, tc := range []struct {
		name, admit, verifier string
		want, wantErr         string
	}{
		{"default with a log", "", "ddnrs.registry/log+1234+AAAA", AdmitDirectory, ""},
		{"default without a log", "", "", AdmitAny, ""},
		{"any with a log", "any", "ddnrs.registry/log+1234+AAAA", AdmitAny, ""},
		{"directory with a log", "directory", "ddnrs.registry/log+1234+AAAA", AdmitDirectory, ""},
		{"directory without a log", "directory", "", "", "set [registry] log_verifier"},
		{"unknown word", "Directory", "", "", `overlay.admit: "Directory", want "directory"`},
		{"empty-ish", " ", "", "", `overlay.admit: " "`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.DataDir = "/d"
			c.Overlay.Admit = tc.admit
			c.Registry.LogVerifier = tc.verifier
			errs := c.validateAdmit()
			if tc.wantErr != "" {
				if len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.wantErr) {
					t.Errorf("validateAdmit() = %v, want one error containing %q", errs, tc.wantErr)
				}
				return
			}
			if len(errs) != 0 {
				t.Errorf("validateAdmit() = %v, want none", errs)
			}
			if got := c.overlayAdmit(); got != tc.want {
				t.Errorf("overlayAdmit() = %q, want %q", got, tc.want)
			}
		})
	}
}
