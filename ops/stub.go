package ops

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/client"
	"github.com/ddnrs/ddnrs/forward"
	"github.com/ddnrs/ddnrs/internal/atomicfile"
	"github.com/ddnrs/ddnrs/stub"
)

// stubOptions are the flags of ddnrs stub.
type stubOptions struct {
	Listen      string
	DoH         string
	DoHCert     string
	DoHKey      string
	Data        string
	Nodes       []string
	Region      string
	TrustAnchor string
	Log         string
	LogKey      string
	LogOrigin   string
	Upstreams   []string
	UpstreamCA  string
	Timeout     time.Duration
	Probe       time.Duration
	Follow      time.Duration
	Metrics     string
	LogQueries  bool
	ReadyFile   string
}

// stubReady is what --ready-file holds once the stub listens.
type stubReady struct {
	DNS     string `json:"dns"`
	DoH     string `json:"doh,omitempty"`
	Metrics string `json:"metrics,omitempty"`
}

func newStubCmd() *cobra.Command { return newStubCmdWith(&stubOptions{}) }

// newStubCmdWith is ddnrs stub with its flags parsed into opts.
func newStubCmdWith(opts *stubOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stub",
		Short: "Run the verifying stub resolver: DDNRS names verified, other names forwarded",
		Long: `Run a stub resolver for this machine (point /etc/resolv.conf at it).

Names under a DDNRS zone are asked of DDNRS entry nodes with the proofs
option, and an answer is served only once it verifies against the zone
owner's key here: the signed zone head, the Merkle proof, every RRSIG,
and a serial not below the highest seen (no rollback). Such answers carry
AD; nothing else does. A node that does not answer, stalls or lies is
passed over at once (hedged after at most 100 ms) and ranked last.

Owner keys come from --trust-anchor FILE (DNSKEY records, such as an
owner's .key file) and/or the registry's transparency log (--log URL of a
node's REST API, --log-key its verifier key), which also lists the entry
nodes with their regions (same --region first); --node adds entry nodes.

Names outside DDNRS go to the --upstream resolvers (plain DNS, tls:// DoT,
https:// DoH), cached, never marked AD; without upstreams they are REFUSED.

Kept in --data: verified answers (cache.db, verified again when loaded, so
an altered file is noticed), the serial floors (serials.json) and the log
state (state.json). Logs say which answers were verified
(--log-queries: one line per answer); metrics on --metrics ADDR
(ddnrs_stub_answers_total{path="verified|cached|forwarded|failed|refused"}).`,
		Example: `  # a laptop: keys and nodes from the registry's log, the rest of the DNS via DoT
  sudo ddnrs stub --data /var/lib/ddnrs-stub \
      --log https://registry.example:8053 --log-key ./log.pub --region eu \
      --upstream tls://9.9.9.9#dns.quad9.net

  # against ddnrs dev: its node, its demo zone's key, a local resolver for the rest
  ddnrs stub --listen 127.0.0.1:5353 --data ./stub-data \
      --node 127.0.0.1:5300 --trust-anchor ./ddnrs-dev/keys/Kdemo.ddnrs.+015+12345.key \
      --upstream 127.0.0.1:53
  dig @127.0.0.1 -p 5353 www.demo.ddnrs A +dnssec    # "ad" flag: verified here`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return runStub(ctx, cmd, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Listen, "listen", stub.DefaultListen, "UDP and TCP `ADDR` to answer on (port 0 picks one)")
	f.StringVar(&opts.DoH, "doh", "", "also serve DNS over HTTPS (RFC 8484, /dns-query) on `ADDR`; needs --doh-cert and --doh-key")
	f.StringVar(&opts.DoHCert, "doh-cert", "", "PEM certificate chain `FILE` for --doh")
	f.StringVar(&opts.DoHKey, "doh-key", "", "PEM private key `FILE` for --doh")
	f.StringVar(&opts.Data, "data", "", "data `DIR` for the verified-answer cache, serial floors and log state; required")
	f.StringArrayVar(&opts.Nodes, "node", nil, "an entry node's DNS `HOST:PORT` (repeatable)")
	f.StringVar(&opts.Region, "region", "", "this machine's `REGION`: entry nodes of the same region rank first")
	f.StringVar(&opts.TrustAnchor, "trust-anchor", "", "`FILE` of zone owner keys (DNSKEY records) to verify with")
	f.StringVar(&opts.Log, "log", "", "`URL` of a node's REST API serving the registry's log (owner keys and entry nodes)")
	f.StringVar(&opts.LogKey, "log-key", "", "the log's verifier `KEY`, or a file holding it (with --log)")
	f.StringVar(&opts.LogOrigin, "log-origin", "", "the log's checkpoint origin (default: the key's name)")
	f.StringArrayVar(&opts.Upstreams, "upstream", nil, "resolver for names outside DDNRS (repeatable): `IP[:PORT]`, tcp://ADDR, tls://ADDR#NAME, https://HOST/dns-query")
	f.StringVar(&opts.UpstreamCA, "upstream-ca", "", "PEM `FILE` of CAs for DoT/DoH upstreams (default the system's)")
	f.DurationVar(&opts.Timeout, "timeout", stub.DefaultTimeout, "deadline of a DDNRS query")
	f.DurationVar(&opts.Probe, "probe-interval", stub.DefaultProbeInterval, "how often every entry node is measured")
	f.DurationVar(&opts.Follow, "follow-interval", stub.DefaultFollowInterval, "how often the registry's log is read")
	f.StringVar(&opts.Metrics, "metrics", "", "serve Prometheus /metrics over plain HTTP on `ADDR` (default off)")
	f.BoolVar(&opts.LogQueries, "log-queries", false, "log one line per answer, saying whether it was DDNRS-verified")
	f.StringVar(&opts.ReadyFile, "ready-file", "", `write {"dns","doh","metrics"} as JSON to `+"`PATH`"+` once listening`)
	return cmd
}

// stubOptionsOf checks the flags and builds the stub's options; every
// problem is reported at once.
func stubOptionsOf(opts *stubOptions) (stub.Options, error) {
	o := stub.Options{Listen: opts.Listen, DoH: opts.DoH, DoHCert: opts.DoHCert, DoHKey: opts.DoHKey, DataDir: opts.Data,
		Nodes: opts.Nodes, Region: opts.Region, LogURL: opts.Log, LogOrigin: opts.LogOrigin, Timeout: opts.Timeout,
		ProbeInterval: opts.Probe, FollowInterval: opts.Follow, LogQueries: opts.LogQueries}
	var errs []error
	if opts.Data == "" {
		errs = append(errs, errors.New("--data DIR is required (the verified-answer cache and serial floors live there)"))
	}
	if _, _, err := net.SplitHostPort(opts.Listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: want HOST:PORT", opts.Listen))
	}
	for _, n := range opts.Nodes {
		if _, p, err := net.SplitHostPort(n); err != nil || p == "0" {
			errs = append(errs, fmt.Errorf("--node %q: want a node's DNS HOST:PORT, such as 127.0.0.1:5300", n))
		}
	}
	if (opts.Log == "") != (opts.LogKey == "") {
		errs = append(errs, errors.New("--log URL and --log-key KEY go together"))
	}
	if opts.Log != "" && !strings.HasPrefix(opts.Log, "http://") && !strings.HasPrefix(opts.Log, "https://") {
		errs = append(errs, fmt.Errorf("--log %q: want an http:// or https:// URL (a node's REST API)", opts.Log))
	}
	if len(opts.Nodes) == 0 && opts.Log == "" {
		errs = append(errs, errors.New("no entry nodes: pass --node HOST:PORT, or --log URL --log-key KEY (the log lists them)"))
	}
	if opts.TrustAnchor == "" && opts.Log == "" {
		errs = append(errs, errors.New("no owner keys to verify with: pass --trust-anchor FILE, or --log URL --log-key KEY"))
	}
	if (opts.DoH != "") != (opts.DoHCert != "" && opts.DoHKey != "") || (opts.DoH == "" && (opts.DoHCert != "" || opts.DoHKey != "")) {
		errs = append(errs, errors.New("--doh ADDR, --doh-cert FILE and --doh-key FILE go together"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--timeout", opts.Timeout}, {"--probe-interval", opts.Probe}, {"--follow-interval", opts.Follow}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: want a positive duration, such as 2s", d.name, d.v))
		}
	}
	for _, s := range opts.Upstreams {
		u, err := forward.ParseUpstream(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("--upstream: %w", err))
			continue
		}
		o.Upstreams = append(o.Upstreams, u)
	}
	if opts.UpstreamCA != "" {
		pem, err := os.ReadFile(opts.UpstreamCA)
		pool := x509.NewCertPool()
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			errs = append(errs, fmt.Errorf("--upstream-ca %q: not a readable PEM file of certificates (%v)", opts.UpstreamCA, err))
		}
		o.UpstreamTLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if opts.TrustAnchor != "" {
		a, err := client.LoadAnchors(opts.TrustAnchor)
		if err != nil {
			errs = append(errs, withHint(fmt.Errorf("--trust-anchor: %w", err), "the file must hold DNSKEY records in zone-file form, such as the owner's .key file"))
		}
		o.Anchors = a
	}
	if opts.LogKey != "" {
		v, err := logVerifier(opts.LogKey)
		if err != nil {
			errs = append(errs, err)
		}
		o.LogKey = v
		if o.LogOrigin == "" && v != nil {
			o.LogOrigin = v.Name()
		}
	}
	if err := errors.Join(errs...); err != nil {
		return o, &usageError{err: err}
	}
	return o, nil
}

// runStub runs the stub until ctx ends or SIGINT/SIGTERM arrives.
func runStub(ctx context.Context, cmd *cobra.Command, opts *stubOptions) error {
	o, err := stubOptionsOf(opts)
	if err != nil {
		return err
	}
	log := commandLogger(cmd)
	o.Logger = log.With("component", "stub")
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: "ddnrs"}))
	o.Registerer = reg
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := stub.New(o)
	if err != nil {
		return &usageError{err: err}
	}
	if err := s.Start(ctx); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return withHint(err, "another server listens on %s (systemd-resolved on 127.0.0.53? another resolver?); pick another --listen", opts.Listen)
		}
		if errors.Is(err, syscall.EACCES) {
			return withHint(err, "port 53 needs root or CAP_NET_BIND_SERVICE (the systemd unit grants it); or use --listen 127.0.0.1:5353")
		}
		return err
	}
	out := cmd.OutOrStdout()
	ready := stubReady{DNS: s.Addr().String(), DoH: opts.DoH}
	fmt.Fprintf(out, "stub resolver\n  dns   %s (udp, tcp)\n", ready.DNS)
	var msrv *http.Server
	if opts.Metrics != "" {
		ln, err := net.Listen("tcp", opts.Metrics)
		if err != nil {
			s.Close(context.Background())
			return withHint(fmt.Errorf("--metrics: %w", err), "pick another address, or leave --metrics out")
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		msrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go msrv.Serve(ln)
		ready.Metrics = ln.Addr().String()
		fmt.Fprintf(out, "  metrics http://%s/metrics\n", ready.Metrics)
	}
	var errs []error
	if opts.ReadyFile != "" {
		b, _ := json.MarshalIndent(ready, "", "  ")
		if err := atomicfile.Write(opts.ReadyFile, append(b, '\n'), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("--ready-file: %w", err))
		}
	}
	if len(errs) == 0 {
		<-ctx.Done()
		fmt.Fprintln(out, "stopping")
	}
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if msrv != nil {
		msrv.Shutdown(cctx)
	}
	errs = append(errs, s.Close(cctx))
	return errors.Join(errs...)
}
