package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"syscall"
	"time"

	"github.com/ddnrs/ddnrs/dnsfront"
	"github.com/ddnrs/ddnrs/internal/hostport"
	"github.com/ddnrs/ddnrs/internal/pki"
)

// EncryptedConfig configures DNS over TLS, HTTPS and QUIC (the [encrypted]
// table of the config file). The listeners run only when Enabled; then
// every address set gets a listener, and an empty one is left out.
type EncryptedConfig struct {
	// Enabled starts the encrypted listeners. Default false: they need a
	// certificate.
	Enabled bool `toml:"enabled"`
	// DoT is the DNS-over-TLS address (RFC 7858). Default "0.0.0.0:853".
	DoT string `toml:"dot"`
	// DoH is the DNS-over-HTTPS address (RFC 8484), TCP for HTTP/2 and
	// UDP on the same port for HTTP/3. Default "0.0.0.0:443".
	DoH string `toml:"doh"`
	// DoQ is the DNS-over-QUIC address (RFC 9250). Default "0.0.0.0:853"
	// (UDP; it does not clash with DoT's TCP port).
	DoQ string `toml:"doq"`
	// DoHPath is the URL path of DoH. Default "/dns-query".
	DoHPath string `toml:"doh_path"`
	// CertFile and KeyFile are the PEM certificate chain and key served
	// to clients; both required when Enabled. They are reloaded when they
	// change, looked at most every CertCheck (default 1s).
	CertFile  string        `toml:"cert_file"`
	KeyFile   string        `toml:"key_file"`
	CertCheck time.Duration `toml:"cert_check"`
	// MaxConns caps the open connections of each listener. Default 1000.
	MaxConns int `toml:"max_conns"`
	// MaxStreams caps the concurrent queries of one DoH or DoQ connection.
	// Default 100. (DoT uses tcp_max_inflight.)
	MaxStreams int `toml:"max_streams"`
	// MaxQuerySize caps the length of a query. Default 4096.
	MaxQuerySize int `toml:"max_query_size"`
	// IdleTimeout closes an idle DoH or DoQ connection. Default 30s.
	// (DoT uses tcp_idle_timeout, which is also the keepalive timeout
	// announced per RFC 7828.)
	IdleTimeout time.Duration `toml:"idle_timeout"`
	// Allow0RTT accepts DoQ queries in 0-RTT data (replayable ones only).
	// Default false.
	Allow0RTT bool `toml:"allow_0rtt"`
	// MaxConnsPerClient caps the DoH (HTTP/2 and HTTP/3 apart) and DoQ
	// connections of one client (an IPv4 address, an IPv6 /64); at it,
	// or at max_conns, the longest-idle connection is closed for the
	// newcomer. Default 16. (DoT uses tcp_max_conns_per_client.)
	MaxConnsPerClient int `toml:"max_conns_per_client"`
	// MaxInflightPerClient caps the DoH requests and DoQ queries of one
	// client answered at once; more wait. Default 64.
	MaxInflightPerClient int `toml:"max_inflight_per_client"`
}

// DefaultEncrypted returns the production defaults: the standard ports
// on every address, off until a certificate is configured.
func DefaultEncrypted() EncryptedConfig {
	return EncryptedConfig{
		DoT:          "0.0.0.0:853",
		DoH:          "0.0.0.0:443",
		DoQ:          "0.0.0.0:853",
		DoHPath:      dnsfront.DefaultDoHPath,
		CertCheck:    dnsfront.DefaultCertCheck,
		MaxConns:     dnsfront.DefaultMaxConns,
		MaxStreams:   dnsfront.DefaultMaxStreams,
		MaxQuerySize: dnsfront.DefaultMaxQuerySize,
		IdleTimeout:  30 * time.Second,

		MaxConnsPerClient:    dnsfront.DefaultMaxConnsPerClient,
		MaxInflightPerClient: dnsfront.DefaultMaxInflightPerClient,
	}
}

// validate returns every problem of c.
func (c EncryptedConfig) validate() []error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	for _, a := range []struct{ key, addr string }{{"dot", c.DoT}, {"doh", c.DoH}, {"doq", c.DoQ}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := hostport.Split(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("encrypted.%s: %w", a.key, err))
		}
	}
	if c.DoT == "" && c.DoH == "" && c.DoQ == "" {
		errs = append(errs, errors.New("encrypted: enabled but dot, doh and doq are all empty"))
	}
	if c.CertFile == "" || c.KeyFile == "" {
		errs = append(errs, errors.New("encrypted.cert_file, encrypted.key_file: required when enabled"))
	}
	if c.DoHPath == "" || c.DoHPath[0] != '/' {
		errs = append(errs, fmt.Errorf("encrypted.doh_path: %q, want a path starting with /", c.DoHPath))
	}
	if c.MaxConns <= 0 {
		errs = append(errs, fmt.Errorf("encrypted.max_conns: %d, want > 0", c.MaxConns))
	}
	if c.MaxStreams <= 0 {
		errs = append(errs, fmt.Errorf("encrypted.max_streams: %d, want > 0", c.MaxStreams))
	}
	if c.MaxQuerySize < 512 || c.MaxQuerySize > 65535 {
		errs = append(errs, fmt.Errorf("encrypted.max_query_size: %d, want 512 to 65535", c.MaxQuerySize))
	}
	if c.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("encrypted.idle_timeout: %v, want > 0", c.IdleTimeout))
	}
	if c.MaxConnsPerClient <= 0 || c.MaxInflightPerClient <= 0 {
		errs = append(errs, fmt.Errorf("encrypted.max_conns_per_client, max_inflight_per_client: %d, %d, want > 0", c.MaxConnsPerClient, c.MaxInflightPerClient))
	}
	return errs
}

// EncryptedAddrs are the bound encrypted listeners; a zero AddrPort is a
// listener not running.
type EncryptedAddrs struct {
	DoT, DoH, DoQ netip.AddrPort
}

// encrypted is the running DoT, DoH and DoQ servers of a node. A nil
// *encrypted is a node without them; its methods do nothing.
type encrypted struct {
	dot   *dnsfront.TCPServer
	doh   *dnsfront.HTTPSServer
	doq   *dnsfront.QUICServer
	stops []func() error
	done  chan struct{} // closed when every Serve has returned
}

// startEncrypted binds the encrypted listeners of cfg (nothing when it is
// disabled), answering with h, and serves them until Close. tcp is the
// node's DNS-over-TCP tuning, which DoT shares; audit names the node in
// JSON answers.
func startEncrypted(cfg EncryptedConfig, tcp dnsfront.TCPOptions, h dnsfront.Responder, audit dnsfront.AuditNode, log *slog.Logger) (*encrypted, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	certs, err := dnsfront.LoadCertFile(cfg.CertFile, cfg.KeyFile, cfg.CertCheck)
	if err != nil {
		return nil, err
	}
	conf := certs.TLSConfig()
	e := &encrypted{}
	var serves []func(context.Context) error
	fail := func(err error) (*encrypted, error) {
		for _, stop := range e.stops {
			stop()
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			err = fmt.Errorf("%w: %w", ErrPortInUse, err)
		}
		return nil, err
	}
	if cfg.DoT != "" {
		tcp.MaxQuerySize = cfg.MaxQuerySize
		tcp.Logger = log.With("component", "dns-tls")
		if e.dot, err = dnsfront.ListenTLS(cfg.DoT, h, conf, tcp); err != nil {
			return fail(err)
		}
		e.stops = append(e.stops, e.dot.Close)
		serves = append(serves, e.dot.Serve)
	}
	if cfg.DoH != "" {
		e.doh, err = dnsfront.ListenHTTPS(cfg.DoH, h, conf, dnsfront.HTTPSOptions{
			Path: cfg.DoHPath, MaxConns: cfg.MaxConns, MaxStreams: cfg.MaxStreams,
			MaxQuerySize: cfg.MaxQuerySize, IdleTimeout: cfg.IdleTimeout,
			MaxConnsPerClient: cfg.MaxConnsPerClient, MaxInflightPerClient: cfg.MaxInflightPerClient,
			MaxPendingPerConn: tcp.MaxPendingPerConn, Budget: tcp.Budget,
			Audit: audit, Logger: log.With("component", "dns-https"),
		})
		if err != nil {
			return fail(err)
		}
		e.stops = append(e.stops, e.doh.Close)
		serves = append(serves, e.doh.Serve)
	}
	if cfg.DoQ != "" {
		e.doq, err = dnsfront.ListenQUIC(cfg.DoQ, h, conf, dnsfront.QUICOptions{
			MaxConns: cfg.MaxConns, MaxStreams: cfg.MaxStreams, MaxQuerySize: cfg.MaxQuerySize,
			IdleTimeout: cfg.IdleTimeout, Allow0RTT: cfg.Allow0RTT,
			MaxConnsPerClient: cfg.MaxConnsPerClient, MaxInflightPerClient: cfg.MaxInflightPerClient,
			MaxPendingPerConn: tcp.MaxPendingPerConn, Budget: tcp.Budget,
			Logger: log.With("component", "dns-quic"),
		})
		if err != nil {
			return fail(err)
		}
		e.stops = append(e.stops, e.doq.Close)
		serves = append(serves, e.doq.Serve)
	}
	e.done = make(chan struct{})
	left := make(chan struct{}, len(serves))
	for _, serve := range serves {
		go func() {
			defer func() { left <- struct{}{} }()
			serve(context.Background())
		}()
	}
	go func() {
		for range serves {
			<-left
		}
		close(e.done)
	}()
	a := e.addrs()
	log.Info("encrypted dns listening", "dot", addrString(a.DoT), "doh", addrString(a.DoH), "doq", addrString(a.DoQ))
	return e, nil
}

func addrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func (e *encrypted) addrs() EncryptedAddrs {
	var a EncryptedAddrs
	if e == nil {
		return a
	}
	if e.dot != nil {
		a.DoT = e.dot.Addr()
	}
	if e.doh != nil {
		a.DoH = e.doh.Addr()
	}
	if e.doq != nil {
		a.DoQ = e.doq.Addr()
	}
	return a
}

// Close stops DoQ, DoH and DoT (DoT answers the queries in flight unless
// ctx ends first) and waits for their Serve goroutines.
func (e *encrypted) Close(ctx context.Context) error {
	if e == nil {
		return nil
	}
	var errs []error
	if e.doq != nil {
		errs = append(errs, e.doq.Close())
	}
	if e.doh != nil {
		errs = append(errs, e.doh.Close())
	}
	if e.dot != nil {
		errs = append(errs, e.dot.Shutdown(ctx))
	}
	<-e.done
	return errors.Join(errs...)
}

// EncryptedAddrs returns the bound DoT, DoH and DoQ addresses; zero
// values before Start, after Close and for listeners not configured.
func (n *Node) EncryptedAddrs() EncryptedAddrs {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.enc.addrs()
}

// startEncrypted starts the node's encrypted listeners with its DNS-over-
// TCP tuning; dnsAddr is the node's bound DNS address, named in audits.
// It refuses a certificate that is a cluster credential (issued by the
// cluster CA with client usage, pki.CheckServingCert): its key sits on
// every public listener and must not open the admin endpoint or Raft.
// (A certificate reloaded later is not checked again.)
func (n *Node) startEncrypted(h dnsfront.Responder, dnsAddr string) (*encrypted, error) {
	if n.cfg.Encrypted.Enabled {
		if pool, err := n.clusterCAs(); err == nil {
			leaf, err := pki.LoadCert(n.cfg.Encrypted.CertFile)
			if err != nil {
				return nil, fmt.Errorf("encrypted DNS certificate: %w", err)
			}
			if err := pki.CheckServingCert(leaf, pool); err != nil {
				return nil, fmt.Errorf("encrypted DNS certificate %s: %w", n.cfg.Encrypted.CertFile, err)
			}
		}
	}
	tcp := n.cfg.tcpOptions(n.budget)
	tcp.MaxConns = n.cfg.Encrypted.MaxConns
	audit := dnsfront.AuditNode{ID: n.cfg.Group.ID, Addr: dnsAddr}
	return startEncrypted(n.cfg.Encrypted, tcp, h, audit, n.log)
}
