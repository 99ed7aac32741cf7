package metrics

// listen.go: the plain-HTTP listener for Prometheus ([metrics]
// listen): GET /metrics, /healthz and /readyz without a client
// certificate. The admin endpoint serves the same three under mutual TLS.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ddnrs/ddnrs/internal/hostport"
)

// ErrPortInUse is returned by Listen (and node.Start) when [metrics] listen is taken
// by another socket (often a second node on the same machine with the
// default address). The error names the address.
var ErrPortInUse = errors.New("metrics address already in use")

// The metrics listener's bounds. A scrape of a busy node is tens of
// kilobytes; Prometheus's default scrape timeout is 10s.
const (
	metricsReadHeaderTimeout = 5 * time.Second
	metricsReadTimeout       = 10 * time.Second
	metricsWriteTimeout      = 30 * time.Second
	metricsIdleTimeout       = 2 * time.Minute
	metricsMaxHeaderBytes    = 16 << 10
	metricsMaxConns          = 64 // Prometheus keeps one connection per target
)

// Server is the running metrics listener of a node.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{} // closed when Serve returns
}

// Listen binds addr ([metrics] listen). node.Start calls it before the
// store is opened, so a taken port fails the start before Raft state
// exists. A non-loopback address is logged to log as a warning.
func Listen(addr string, log *slog.Logger) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("metrics %s: %w (set [metrics] listen to another address, or \"off\")", addr, ErrPortInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("metrics listen %s: %w", addr, err)
	}
	if !loopbackListen(addr) {
		log.Warn("metrics listener is reachable from the network, without authentication: restrict it with a firewall or set [metrics] listen to a loopback address",
			"component", "metrics", "listen", addr)
	}
	return ln, nil
}

// loopbackListen reports whether addr listens on loopback only.
func loopbackListen(addr string) bool {
	host, _, err := hostport.Split(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// Serve serves reg's /metrics, /healthz and /readyz (ready's error, or
// nil when ready) on ln (nil: off, returns nil) until Shutdown; with
// profiling, Go's runtime profiles under /debug/pprof/ too ([metrics]
// pprof, which the configuration allows on a loopback listener only).
func Serve(ln net.Listener, reg *prometheus.Registry, ready func() error, profiling bool, log *slog.Logger) *Server {
	if ln == nil {
		return nil
	}
	mux := http.NewServeMux()
	if profiling {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		Registry:            reg,
		Timeout:             metricsReadTimeout,
		MaxRequestsInFlight: 4,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		metricsJSON(w, http.StatusOK, map[string]string{"status": "alive"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := ready(); err != nil {
			metricsJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
			return
		}
		metricsJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	log = log.With("component", "metrics")
	m := &Server{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: metricsReadHeaderTimeout,
			ReadTimeout:       metricsReadTimeout,
			WriteTimeout:      metricsWriteTimeout,
			IdleTimeout:       metricsIdleTimeout,
			MaxHeaderBytes:    metricsMaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
		ln:   limitConns(ln, metricsMaxConns),
		done: make(chan struct{}),
	}
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(m.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	return m
}

// Addr is the bound address ("" when off: m nil).
func (m *Server) Addr() string {
	if m == nil {
		return ""
	}
	return m.ln.Addr().String()
}

// Shutdown stops the listener, waiting for scrapes in flight until ctx
// ends; nil-safe.
func (m *Server) Shutdown(ctx context.Context) error {
	if m == nil {
		return nil
	}
	err := m.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, m.srv.Close())
	}
	<-m.done
	return err
}

func metricsJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away; nothing to do
}

// limitConns caps ln's open connections at max: past it, Accept waits
// for one to close (the kernel's backlog holds the rest).
func limitConns(ln net.Listener, max int) net.Listener {
	return &connCap{Listener: ln, sem: make(chan struct{}, max)}
}

type connCap struct {
	net.Listener
	sem chan struct{}
}

func (l *connCap) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &cappedConn{Conn: c, release: func() { <-l.sem }}, nil
}

type cappedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
