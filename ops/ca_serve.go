package ops

// ca_serve.go: `ddnrs ops ca serve`, the issuing service that renews
// short-lived cluster certificates (issue 14 item 1), and `ddnrs ops
// cert renew`, renewing one by hand. The logic is clustertls.Issuer and
// clustertls.Renew.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/clustertls"
	"github.com/ddnrs/ddnrs/internal/atomicfile"
	"github.com/ddnrs/ddnrs/internal/hostport"
	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/translog"
)

// caServeOptions are the flags of `ddnrs ops ca serve`.
type caServeOptions struct {
	CADir        string        // --ca-dir
	Listen       string        // --listen
	Validity     time.Duration // --validity
	RegistryURLs []string      // --registry-urls: the log, for revocations
	LogVerifier  string        // --log-verifier
	NoLog        bool          // --no-log
	ReadyFile    string        // --ready-file
}

func newCAServeCmd() *cobra.Command {
	opts := &caServeOptions{}
	cmd := &cobra.Command{
		Use:   "serve --ca-dir DIR --listen HOST:PORT --validity D --registry-urls URL --log-verifier KEY",
		Short: "Run the issuing service that renews short-lived cluster certificates",
		Long: `Serve certificate renewals over HTTPS (TLS 1.3, mutual) where the CA key is:
a node (or 'ddnrs ops cert renew') presents the cluster certificate it wants
renewed and gets the same name, addresses and scope for the same key, valid
for --validity from now. Nodes with [tls] renew_url set to this service's
URL renew by themselves once a third of their certificate's lifetime is left
([tls] renew_before), and pick the new one up without a restart.

Refused: a certificate the registry's transparency log revoked (the log is
read at every request, from --registry-urls, checked with --log-verifier), an
expired one, one the cluster CA did not issue, a serving-only one, and an
operator's (issue those by hand). If the log cannot be read, renewals are
refused until it can: a revocation is never missed. --no-log serves a cluster
without a registry (no revocation check).

The service's own certificate is issued at start by the CA, for the
--listen address and localhost, serving only. Run it on the CA's machine;
stop it with SIGINT or SIGTERM.`,
		Example: `  ddnrs ops ca serve --ca-dir ca --listen 10.0.0.9:7500 --validity 24h \
      --registry-urls https://10.0.0.1:8053 --log-verifier reg/registry/log.pub
  # in each node's configuration:
  #   [tls]
  #   renew_url = "https://10.0.0.9:7500"`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCAServe(cmd, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.CADir, "ca-dir", "", "the cluster CA `DIR` (ca.crt and ca.key; required)")
	f.StringVar(&opts.Listen, "listen", "", "address to serve on, `HOST:PORT` (port 0: a free one, printed; required)")
	f.DurationVar(&opts.Validity, "validity", 24*time.Hour, "how long a renewed certificate is valid (at least 1m)")
	f.StringSliceVar(&opts.RegistryURLs, "registry-urls", nil, "a registry member's REST API `URL` serving the log, to refuse revoked certificates (the first is used)")
	f.StringVar(&opts.LogVerifier, "log-verifier", "", "the registry log's verifier key, or a `FILE` holding it")
	f.BoolVar(&opts.NoLog, "no-log", false, "a cluster without a registry: renew without a revocation check")
	f.StringVar(&opts.ReadyFile, "ready-file", "", `write {"url"} as JSON to `+"`PATH`"+` once listening`)
	return cmd
}

func runCAServe(cmd *cobra.Command, opts *caServeOptions) error {
	if opts.CADir == "" || opts.Listen == "" {
		return usagef("--ca-dir and --listen are required")
	}
	host, _, err := hostport.Split(opts.Listen)
	if err != nil {
		return usagef("--listen %q: %v", opts.Listen, err)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return usagef("--listen %q: want an IP address and port, e.g. 10.0.0.9:7500", opts.Listen)
	}
	if opts.Validity < time.Minute {
		return usagef("--validity %v: want at least 1m", opts.Validity)
	}
	var src clustertls.RevocationSource
	switch {
	case opts.NoLog && (len(opts.RegistryURLs) > 0 || opts.LogVerifier != ""):
		return usagef("--no-log with --registry-urls or --log-verifier: choose one")
	case !opts.NoLog && (len(opts.RegistryURLs) == 0 || opts.LogVerifier == ""):
		return usagef("--registry-urls and --log-verifier are needed to refuse revoked certificates (--no-log for a cluster without a registry)")
	case !opts.NoLog:
		v, err := logVerifier(opts.LogVerifier)
		if err != nil {
			return err
		}
		u := strings.TrimRight(opts.RegistryURLs[0], "/")
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return usagef("--registry-urls %q: want the http:// or https:// base URL of a registry member's API", u)
		}
		src = &clustertls.LogRevocations{Source: &translog.HTTPSource{BaseURL: u, Client: &http.Client{Timeout: 10 * time.Second}, Retries: logRetries}, Verifier: v}
	}
	ca, err := pki.LoadCA(opts.CADir)
	if err != nil {
		return withHint(fmt.Errorf("--ca-dir: %w", err), "--ca-dir must name a directory made by 'ddnrs ops ca init' (or a bootstrap's DIR/ca)")
	}
	serving, err := pki.IssueServer(ca, "ddnrs issuing service", []net.IP{ip, net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)).With("component", "ca-serve")
	srv := &http.Server{
		Handler:           &clustertls.Issuer{CA: ca, Validity: opts.Validity, Revocations: src, Log: log},
		TLSConfig:         clustertls.IssuerTLS(serving.TLS(), ca.Pool()),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
	}
	url := "https://" + ln.Addr().String()
	fmt.Fprintf(cmd.OutOrStdout(), "issuing service on %s: renewals valid %s, CA %s\n", url, opts.Validity, ca.Cert.Subject.CommonName)
	if opts.ReadyFile != "" {
		if err := atomicfile.Write(opts.ReadyFile, []byte(fmt.Sprintf("{\"url\": %q}\n", url)), 0o644); err != nil {
			ln.Close()
			return fmt.Errorf("--ready-file: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// certRenewOptions are the flags of `ddnrs ops cert renew`.
type certRenewOptions struct {
	Server string // --server URL
	CA     string // --ca FILE
	Cert   string // --cert FILE (rewritten)
	Key    string // --key FILE
	NewKey bool   // --new-key: rewrite --key too
}

func newCertRenewCmd() *cobra.Command {
	opts := &certRenewOptions{}
	cmd := &cobra.Command{
		Use:   "renew --server URL --ca FILE --cert FILE --key FILE",
		Short: "Renew a cluster certificate at the issuing service ('ddnrs ops ca serve')",
		Long: `Present the certificate --cert (with its key --key) to the issuing service at
--server, and write the renewed certificate over --cert (atomically): the
same name, addresses, scope and key, valid for the service's validity from
now. A node with [tls] renew_url does this by itself; this command is for a
timer or a check by hand. Refused for a revoked or expired certificate.

With --new-key the certificate is issued for a new key made here: the
request is signed by the new key and by the current one (the service
refuses it otherwise). The new key is written to KEY.next, the certificate
over --cert, then KEY.next renamed over --key. The old certificate is not
revoked: it stays valid until it ends (revoke it if the old key leaked).`,
		Example: `  ddnrs ops cert renew --server https://10.0.0.9:7500 --ca ca.crt --cert /etc/ddnrs/node.crt --key /etc/ddnrs/node.key
  # a new key too
  ddnrs ops cert renew --new-key --server https://10.0.0.9:7500 --ca ca.crt --cert /etc/ddnrs/node.crt --key /etc/ddnrs/node.key`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCertRenew(cmd, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Server, "server", "", "the issuing service's `URL` (https://HOST:PORT; required)")
	f.StringVar(&opts.CA, "ca", "", "cluster CA certificate `FILE` (required)")
	f.StringVar(&opts.Cert, "cert", "", "the certificate `FILE` to renew, rewritten in place (required)")
	f.StringVar(&opts.Key, "key", "", "its private key `FILE` (required; rewritten with --new-key)")
	f.BoolVar(&opts.NewKey, "new-key", false, "make a new key and renew for it (signed by the current key and the new one)")
	return cmd
}

func runCertRenew(cmd *cobra.Command, opts *certRenewOptions) error {
	var missing []string
	for _, f := range []struct{ name, v string }{{"--server", opts.Server}, {"--ca", opts.CA}, {"--cert", opts.Cert}, {"--key", opts.Key}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return usagef("%s required", strings.Join(missing, ", "))
	}
	if !strings.HasPrefix(opts.Server, "https://") {
		return usagef("--server %q: want the issuing service's https:// URL", opts.Server)
	}
	pool, err := pki.LoadCAPool(opts.CA)
	if err != nil {
		return withHint(fmt.Errorf("--ca: %w", err), "give the cluster CA's certificate (ca.crt)")
	}
	p, err := pki.LoadPair(opts.Cert, opts.Key)
	if err != nil {
		return err
	}
	c := pki.ClientTLS(p, pool)
	c.VerifyConnection = nil // the service is not a node
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	if !opts.NewKey {
		nc, err := clustertls.Renew(ctx, opts.Server, c, p.Cert)
		if err != nil {
			return withHint(err, "a revoked certificate is never renewed; an expired one cannot be: issue a new one")
		}
		if err := atomicfile.Write(opts.Cert, pki.CertPEM(nc), 0o644); err != nil {
			return err
		}
		_, err = fmt.Fprintf(cmd.OutOrStdout(), "renewed %s: serial %x, valid until %s, written to %s\n", nc.Subject.CommonName, nc.SerialNumber, nc.NotAfter.UTC().Format(time.RFC3339), opts.Cert)
		return err
	}
	nc, key, err := clustertls.RenewKey(ctx, opts.Server, c, p.Cert, p.Key)
	if err != nil {
		return withHint(err, "a revoked certificate is never renewed; an expired one cannot be: issue a new one")
	}
	if err := clustertls.WriteRekeyed(opts.Cert, opts.Key, nc, key); err != nil {
		return err
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "renewed %s with a new key: serial %x, valid until %s, written to %s and %s; the old certificate (serial %x) stays valid until %s unless revoked\n",
		nc.Subject.CommonName, nc.SerialNumber, nc.NotAfter.UTC().Format(time.RFC3339), opts.Cert, opts.Key, p.Cert.SerialNumber, p.Cert.NotAfter.UTC().Format(time.RFC3339))
	return err
}
