package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// Config is one node's configuration, decoded from TOML over Default().
// Only node and cmd read it.
type Config struct {
	// DataDir holds the zone store (zones.db) and, for ddnrs dev, the
	// demo zone's owner key. Required; Default leaves it empty.
	DataDir string `toml:"data_dir"`
	// DNS is the address the DNS servers listen on, TCP and UDP on the same
	// port. Port 0 picks a free port (Node.Addr reports it). Default
	// "127.0.0.1:5300".
	DNS string `toml:"dns"`
	// TCPIdleTimeout closes a DNS-over-TCP connection idle this long
	// (RFC 7766 §6.2.3). Default 10s.
	TCPIdleTimeout time.Duration `toml:"tcp_idle_timeout"`
	// TCPMaxConns caps open DNS-over-TCP connections. Default 1000.
	TCPMaxConns int `toml:"tcp_max_conns"`
	// TCPMaxInflight caps queries answered at once on one TCP connection.
	// Default 32.
	TCPMaxInflight int `toml:"tcp_max_inflight"`
	// UDPSockets is the number of SO_REUSEPORT sockets for DNS over UDP;
	// 0 means one per CPU. Default 0.
	UDPSockets int `toml:"udp_sockets"`
	// UDPWorkers is the number of goroutines reading each UDP socket.
	// Default 2.
	UDPWorkers int `toml:"udp_workers"`
	// MaxUDPSize is the largest UDP reply (EDNS0 buffer cap). Default 1232.
	MaxUDPSize int `toml:"max_udp_size"`
	// LogLevel is debug, info, warn or error. Default "info".
	LogLevel string `toml:"log_level"`
}

// Default returns the configuration that works on one machine, with
// DataDir left for the caller to set.
func Default() Config {
	return Config{
		DNS:            "127.0.0.1:5300",
		TCPIdleTimeout: 10 * time.Second,
		TCPMaxConns:    1000,
		TCPMaxInflight: 32,
		UDPSockets:     0,
		UDPWorkers:     2,
		MaxUDPSize:     1232,
		LogLevel:       "info",
	}
}

// Validate returns every problem of c at once, joined, or nil.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir: required"))
	}
	if _, _, err := SplitHostPort(c.DNS); err != nil {
		errs = append(errs, fmt.Errorf("dns: %w", err))
	}
	if c.TCPIdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("tcp_idle_timeout: %v, want > 0", c.TCPIdleTimeout))
	}
	if c.TCPMaxConns <= 0 {
		errs = append(errs, fmt.Errorf("tcp_max_conns: %d, want > 0", c.TCPMaxConns))
	}
	if c.TCPMaxInflight <= 0 {
		errs = append(errs, fmt.Errorf("tcp_max_inflight: %d, want > 0", c.TCPMaxInflight))
	}
	if c.UDPSockets < 0 || c.UDPSockets > 256 {
		errs = append(errs, fmt.Errorf("udp_sockets: %d, want 0 (one per CPU) to 256", c.UDPSockets))
	}
	if c.UDPWorkers <= 0 || c.UDPWorkers > 1024 {
		errs = append(errs, fmt.Errorf("udp_workers: %d, want 1 to 1024", c.UDPWorkers))
	}
	if c.MaxUDPSize < 512 || c.MaxUDPSize > 65535 {
		errs = append(errs, fmt.Errorf("max_udp_size: %d, want 512 to 65535", c.MaxUDPSize))
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("log_level: %w", err))
	}
	return errors.Join(errs...)
}

// SplitHostPort splits a listen address "HOST:PORT" and checks the port.
func SplitHostPort(addr string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("port %q in %q: want 0 to 65535", p, addr)
	}
	return h, n, nil
}

// ParseLevel maps a log level name to its slog.Level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%q: want debug, info, warn or error", s)
	}
	return l, nil
}
