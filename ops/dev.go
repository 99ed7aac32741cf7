package ops

// dev.go: `ddnrs dev`, its flags, and the run from start to Ctrl-C. Its
// parts sit beside it by concern: dev_cluster.go (the members),
// dev_tls.go (certificates), dev_zones.go (what it serves),
// dev_owner.go (the owner's copy and publishing), dev_claims.go (the
// registry side) and dev_print.go (what it tells the user).

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/internal/demo"
	"github.com/ddnrs/ddnrs/node"
	"github.com/ddnrs/ddnrs/raftfsm"
)

// devDefaultDNS is where `ddnrs dev` listens unless told otherwise.
const devDefaultDNS = "127.0.0.1:5300"

// devDefaultAPI is where dev's REST API and web pages listen unless told
// otherwise.
const devDefaultAPI = "127.0.0.1:8053"

// devGroupName is the dev group's name: it is the registry group.
const devGroupName = "dev"

// devLogKey and devLogPub are the transparency log's signer and verifier
// keys in the data directory, made on first start.
const (
	devLogKey = "log.key"
	devLogPub = "log.pub"
)

// devOptions are the flags of `ddnrs dev`.
type devOptions struct {
	DNS       string   // --dns; "" means devDefaultDNS with fallback
	Data      string   // --data; "" means the state dir default
	Zones     []string // --zone, paired in order with Keys
	Keys      []string // --key
	ReadyFile string   // --ready-file
	API       string   // --api; "" means devDefaultAPI with fallback
	RRLRate   int      // --rrl-rate; UDP response rate limit, 0 off (tests' zero value)

	defaultDNS string        // devDefaultDNS; tests hold their own port
	defaultAPI string        // devDefaultAPI; tests hold their own port
	out        io.Writer     // human text; default os.Stdout
	log        *slog.Logger  // node logs; default discard
	ready      chan<- string // tests: receives the DNS address once served
}

func newDevCmd() *cobra.Command {
	opts := &devOptions{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a three-member DDNRS replica group on this machine, serving signed zones over DNS",
		Long: `Run a DDNRS replica group of three members in this process, on 127.0.0.1,
that answers DNS queries authoritatively over UDP and TCP, with DNSSEC
signatures made by the zone owner's Ed25519 key. Member 1 answers on --dns;
members 2 and 3, and every member's Raft and admin listeners, use free
ports. Each member keeps its replica in DIR/node1..node3; on first run dev
makes a cluster CA and certificates in DIR/tls and bootstraps the group.
dev signs the zones as their owner (the owner's copy is DIR/zones.db) and
publishes them through the group, which commits them with Raft.

Without --zone it serves the demo zone demo.ddnrs., signed with an owner key
made on first run and kept in DIR/keys (reused afterwards). With --zone FILE
--key KEYFILE (repeatable, in pairs) it serves your own zones: the zone's
origin is the key's zone; dev signs the zone with the key, or re-signs only
what changed since the copy stored in the data directory.

The dev group is also the registry: it keeps applications, API keys, zone
claims, the node directory and the transparency log (its signer key made on
first run in DIR/log.key, the verifier key in DIR/log.pub). Member 1 serves
the REST API and web pages on --api. On first run dev issues a reviewer key
(admin) and prints it once: the registry keeps only its hash.

It prints the members, the dig and 'ddnrs ops' commands to try (--dev
finds this group), the trust-anchor line for a validating resolver
(Unbound), the DS record for the parent and the API's URL. Ctrl-C stops
all three.`,
		Example: `  # the demo zone on 127.0.0.1:5300 (or a free port if that is taken)
  ddnrs dev
  dig @127.0.0.1 -p 5300 www.demo.ddnrs. A +dnssec

  # your own zone, signed with your key
  ddnrs zone keygen example. --dir keys
  ddnrs dev --zone example.zone --key keys/Kexample.+015+12345.private

  # the REST API and web pages elsewhere; another reviewer key
  ddnrs dev --api 127.0.0.1:9053
  ddnrs ops registry key issue --dev --name reviewer2

  # a free port, a scratch data dir, and a machine-readable ready file
  ddnrs dev --dns 127.0.0.1:0 --data /tmp/ddnrs --ready-file /tmp/ddnrs/ready.json

  # in another terminal: the group's members, and a change to your zone
  ddnrs ops group members --dev
  ddnrs zone publish --dev --key keys/Kexample.+015+12345.private example.zone`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.out = cmd.OutOrStdout()
			opts.log = commandLogger(cmd).With("component", "dev")
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return runDev(ctx, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.DNS, "dns", "", "DNS listen `ADDR:PORT` for UDP and TCP (default "+devDefaultDNS+", or a free port when that is taken; port 0 picks one)")
	f.StringVar(&opts.Data, "data", "", "data `DIR` (default $XDG_STATE_HOME/ddnrs/dev, or ~/.local/state/ddnrs/dev)")
	f.StringArrayVar(&opts.Zones, "zone", nil, "zone `FILE` to serve (BIND format; repeatable, each with a --key)")
	f.StringArrayVar(&opts.Keys, "key", nil, "owner key `KEYFILE` (.private or .key, the other half beside it) for the --zone at the same position")
	f.StringVar(&opts.ReadyFile, "ready-file", "", "write JSON with the DNS address, data dir and zones to `PATH` once serving")
	f.StringVar(&opts.API, "api", "", "REST API and web pages on `ADDR:PORT` (default "+devDefaultAPI+", or a free port when that is taken; port 0 picks one)")
	f.IntVar(&opts.RRLRate, "rrl-rate", node.Default().RRLRate, "UDP responses per `N` per second to one source prefix and answer class (rate limiting; 0 turns it off, as benchmarks with dnsperf need)")
	return cmd
}

// devMembers is the size of the group `ddnrs dev` runs.
const devMembers = 3

// devWait bounds how long dev waits for the group to elect a leader,
// take in its members and replicate the zones.
const devWait = 60 * time.Second

// devWaitPerName is added to devWait for every name of the zones dev
// publishes.
const devWaitPerName = 20 * time.Millisecond

// runDev runs `ddnrs dev` until ctx is done or SIGINT/SIGTERM arrives:
// a group of three members in this process, each with its own data dir
// under DIR, the zones published through it. Every input is read and
// checked before anything is written.
func runDev(ctx context.Context, opts *devOptions) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if opts.out == nil {
		opts.out = os.Stdout
	}
	if opts.log == nil {
		opts.log = slog.New(slog.DiscardHandler)
	}
	if opts.defaultDNS == "" {
		opts.defaultDNS = devDefaultDNS
	}
	if opts.defaultAPI == "" {
		opts.defaultAPI = devDefaultAPI
	}
	data, err := devDataDir(opts.Data)
	if err != nil {
		return err
	}
	zones, err := readDevZones(opts)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	owner, err := openOwnerCopy(data)
	if err != nil {
		return err
	}
	tf, err := devTLS(data)
	if err != nil {
		return errors.Join(err, owner.Close())
	}
	g, err := startDevGroup(ctx, opts, data, tf)
	if err != nil {
		return errors.Join(err, owner.Close())
	}
	closeGroup := func() error {
		os.Remove(infoPath(data))
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return errors.Join(g.close(cctx), owner.Close())
	}
	if err := serveDev(ctx, opts, data, tf, g, owner, zones); err != nil {
		return errors.Join(err, closeGroup())
	}
	<-ctx.Done()
	fmt.Fprintln(opts.out, "stopping")
	return closeGroup()
}

// serveDev publishes the zones through the group, waits until every
// member serves them, and prints and writes where everything is.
func serveDev(ctx context.Context, opts *devOptions, data string, tf devTLSFiles, g *devGroup, owner *raftfsm.Store, zones []*devZone) error {
	if zones == nil {
		k, created, err := demo.Key(data, rand.Reader)
		if err != nil {
			return fmt.Errorf("demo zone key in %s: %w", demo.KeysDir(data), err)
		}
		if created {
			fmt.Fprintf(opts.out, "made a new owner key for %s in %s\n", demo.Origin, demo.KeysDir(data))
		}
		u, err := demo.Zone()
		if err != nil {
			return err
		}
		zones = []*devZone{{source: "built-in demo", key: k, zone: u}}
	}
	c, err := tf.client()
	if err != nil {
		return err
	}
	defer c.CloseIdle()
	wait := devWait
	for _, dz := range zones {
		// Signing and uploading a large zone takes a while on a busy
		// machine: allow for it, so only a hang times out.
		wait += time.Duration(dz.zone.Len()) * devWaitPerName
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := publishDevZones(wctx, opts, c, g, owner, zones); err != nil {
		return err
	}
	adopted, err := adoptOwnerZones(wctx, c, g, owner, zones)
	if err != nil {
		return err
	}
	zones = append(zones, adopted...)
	if err := claimDevZones(wctx, opts.out, g, zones); err != nil {
		return err
	}
	if err := g.waitServed(wctx, c, zones); err != nil {
		return err
	}
	reviewer, err := firstReviewerKey(wctx, c, g)
	if err != nil {
		return err
	}
	info := readyFor(data, tf, g, zones)
	printDev(opts.out, data, opts.Data != "", g, zones)
	printRegistry(opts.out, g, reviewer)
	if err := writeReady(infoPath(data), info); err != nil {
		return err
	}
	if opts.ReadyFile != "" {
		if err := writeReady(opts.ReadyFile, info); err != nil {
			return fmt.Errorf("--ready-file: %w", err)
		}
	}
	if opts.ready != nil {
		opts.ready <- g.members[0].n.Addr().String()
	}
	return nil
}

func infoPath(data string) string { return filepath.Join(data, devInfoFile) }

// devDataDir returns dir, or the default state directory, made absolute.
func devDataDir(dir string) (string, error) {
	if dir == "" {
		base := os.Getenv("XDG_STATE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("no --data given and no home directory: %w", err)
			}
			base = filepath.Join(home, ".local", "state")
		}
		dir = filepath.Join(base, "ddnrs", "dev")
	}
	return filepath.Abs(dir)
}
