package node

import (
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
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
