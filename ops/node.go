package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/internal/atomicfile"
	"github.com/ddnrs/ddnrs/internal/loglevel"
	"github.com/ddnrs/ddnrs/internal/wallclock"
	"github.com/ddnrs/ddnrs/node"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// nodeStopTimeout bounds a node's graceful stop after SIGINT/SIGTERM.
const nodeStopTimeout = 10 * time.Second

// nodeOptions are the flags of `ddnrs node`.
type nodeOptions struct {
	Config    string // --config
	ReadyFile string // --ready-file

	out io.Writer
	err io.Writer
}

// nodeReady is the --ready-file JSON: the addresses the node bound.
type nodeReady struct {
	ID    string `json:"id"`
	DNS   string `json:"dns"`
	Admin string `json:"admin"`
	Raft  string `json:"raft"`
	// Overlay lists the node's overlay multiaddrs (with /p2p/ID) when
	// [overlay] is enabled.
	Overlay []string `json:"overlay,omitempty"`
	// API is the REST API's address when [api] listen is set.
	API string `json:"api,omitempty"`
	// Metrics is the plain-HTTP metrics listener's address unless
	// [metrics] listen is "off".
	Metrics string `json:"metrics,omitempty"`
	// DoT, DoH and DoQ are the encrypted listeners' addresses when
	// [encrypted] is enabled (DoH: TCP and UDP on one port).
	DoT string `json:"dot,omitempty"`
	DoH string `json:"doh,omitempty"`
	DoQ string `json:"doq,omitempty"`
}

func newNodeCmd() *cobra.Command {
	opts := &nodeOptions{}
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a DDNRS node: a member of a Raft replica group serving DNS",
		Long: `Run one DDNRS node with the configuration in the TOML file given by
--config (see node/testdata/node.sample.toml for every key, commented).

The node opens its zone store and Raft log in data_dir, joins or bootstraps
its replica group, serves DNS over UDP and TCP from its local replica, and
serves the admin endpoint (mutual TLS) for writes, membership, snapshots,
/healthz, /readyz and /metrics, and the same /metrics, /healthz and /readyz
over plain HTTP for Prometheus on [metrics] listen (127.0.0.1:9153 unless
set; "off" turns it off). It prints the addresses it bound, and with
--ready-file writes them as JSON once every listener is bound (ports 0 in
the configuration become the ports picked). SIGINT or SIGTERM stops it
gracefully: readiness off, listeners drained, leadership handed over.`,
		Example: `  ddnrs node --config /etc/ddnrs/node.toml
  ddnrs node --config node.toml --ready-file /run/ddnrs/ready.json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.out = cmd.OutOrStdout()
			opts.err = cmd.ErrOrStderr()
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return runNode(ctx, opts)
		},
	}
	cmd.AddCommand(newNodeRequestCmd(), newNodeCollectCmd())
	f := cmd.Flags()
	f.StringVar(&opts.Config, "config", "", "node configuration `FILE` (TOML); required")
	f.StringVar(&opts.ReadyFile, "ready-file", "", `write {"id","dns","admin","raft"} as JSON to `+"`PATH`"+` once bound`)
	return cmd
}

// runNode runs a node until ctx ends or SIGINT/SIGTERM arrives.
func runNode(ctx context.Context, opts *nodeOptions) error {
	if err := wallclock.Err(); err != nil {
		return usagef("%v", err)
	}
	if opts.Config == "" {
		return usagef("--config FILE is required")
	}
	cfg, err := node.LoadConfig(opts.Config)
	if err != nil {
		return withHint(err, "fix the keys named above; node/testdata/node.sample.toml documents them all")
	}
	level, _ := loglevel.Parse(cfg.LogLevel) // Validate checked it
	log := slog.New(slog.NewTextHandler(opts.err, &slog.HandlerOptions{Level: level, ReplaceAttr: wallclock.LogTime}))
	if d := wallclock.Offset(); d != 0 {
		log.Warn("TEST-ONLY: this node's wall clock is moved by "+wallclock.EnvOffset+"; never set it outside the fault suite", "offset", d)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := node.New(cfg, log)
	if err != nil {
		return err
	}
	if err := n.Start(ctx); err != nil {
		switch {
		case errors.Is(err, raftfsm.ErrLocked):
			return withHint(err, "another ddnrs is using the data directory %s", cfg.DataDir)
		case errors.Is(err, node.ErrPortInUse), errors.Is(err, node.ErrAPIPortInUse), errors.Is(err, node.ErrMetricsPortInUse):
			return withHint(err, "another server listens there; change the address in %s, or use port 0", opts.Config)
		}
		return err
	}
	ready := nodeReady{ID: n.ID(), DNS: n.Addr().String(), Admin: n.AdminAddr(), Raft: n.RaftAddr()}
	fmt.Fprintf(opts.out, "node %s\n  dns   %s (udp, tcp)\n  admin https://%s\n  raft  %s\n", ready.ID, ready.DNS, ready.Admin, ready.Raft)
	if a := n.APIAddr(); a != "" {
		ready.API = a
		fmt.Fprintf(opts.out, "  api   http://%s\n", a)
	}
	if a := n.MetricsAddr(); a != "" {
		ready.Metrics = a
		fmt.Fprintf(opts.out, "  metrics http://%s/metrics\n", a)
	}
	if e := n.EncryptedAddrs(); e.DoT.IsValid() || e.DoH.IsValid() || e.DoQ.IsValid() {
		for _, a := range []struct {
			name string
			ap   netip.AddrPort
			to   *string
		}{{"dot", e.DoT, &ready.DoT}, {"doh", e.DoH, &ready.DoH}, {"doq", e.DoQ, &ready.DoQ}} {
			if a.ap.IsValid() {
				*a.to = a.ap.String()
				fmt.Fprintf(opts.out, "  %s   %s\n", a.name, a.ap)
			}
		}
	}
	if _, addrs := n.OverlayID(); len(addrs) > 0 {
		ready.Overlay = addrs
		fmt.Fprintf(opts.out, "  overlay %s\n", strings.Join(addrs, " "))
	}
	var errs []error
	if opts.ReadyFile != "" {
		if err := writeNodeReady(opts.ReadyFile, ready); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		<-ctx.Done()
		fmt.Fprintln(opts.out, "stopping")
	}
	cctx, cancel := context.WithTimeout(context.Background(), nodeStopTimeout)
	defer cancel()
	if err := n.Close(cctx); err != nil {
		errs = append(errs, fmt.Errorf("stop: %w", err))
	}
	return errors.Join(errs...)
}

// writeNodeReady writes the ready file atomically.
func writeNodeReady(path string, r nodeReady) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("--ready-file: %w", err)
	}
	return nil
}
