package ops

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/node"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
)

// devDefaultDNS is where `ddnrs dev` listens unless told otherwise.
const devDefaultDNS = "127.0.0.1:5300"

// bigZone is the name count from which dev prints a line before signing.
const bigZone = 1000

// devOptions are the flags of `ddnrs dev`.
type devOptions struct {
	DNS       string   // --dns; "" means devDefaultDNS with fallback
	Data      string   // --data; "" means the state dir default
	Zones     []string // --zone, paired in order with Keys
	Keys      []string // --key
	ReadyFile string   // --ready-file

	defaultDNS string        // devDefaultDNS; tests hold their own port
	out        io.Writer     // human text; default os.Stdout
	log        *slog.Logger  // node logs; default discard
	ready      chan<- string // tests: receives the DNS address once served
}

func newDevCmd() *cobra.Command {
	opts := &devOptions{}
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a single-machine DDNRS node serving signed zones over DNS",
		Long: `Run a DDNRS node on this machine that answers DNS queries authoritatively
over UDP and TCP, with DNSSEC signatures made by the zone owner's Ed25519 key.

Without --zone it serves the demo zone demo.ddnrs., signed with an owner key
made on first run and kept in DIR/keys (reused afterwards). With --zone FILE
--key KEYFILE (repeatable, in pairs) it serves your own zones: the zone's
origin is the key's zone; dev signs the zone with the key, or re-signs only
what changed since the copy stored in the data directory.

It prints the dig commands to try, the trust-anchor line for a validating
resolver (Unbound) and the DS record for the parent. Ctrl-C stops it.`,
		Example: `  # the demo zone on 127.0.0.1:5300 (or a free port if that is taken)
  ddnrs dev
  dig @127.0.0.1 -p 5300 www.demo.ddnrs. A +dnssec

  # your own zone, signed with your key
  ddnrs zone keygen example. --dir keys
  ddnrs dev --zone example.zone --key keys/Kexample.+015+12345.private

  # a free port, a scratch data dir, and a machine-readable ready file
  ddnrs dev --dns 127.0.0.1:0 --data /tmp/ddnrs --ready-file /tmp/ddnrs/ready.json`,
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
	return cmd
}

// devZone is one zone dev serves: the owner's unsigned zone, its key, and
// what Prepare made of it.
type devZone struct {
	source string // file name, or "built-in" for the demo
	key    *zone.Key
	zone   *zone.Zone // unsigned, then signed
	action node.Action
}

// runDev runs `ddnrs dev` until ctx is done or SIGINT/SIGTERM arrives.
// Every input is read and checked before the store is written.
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
	data, err := devDataDir(opts.Data)
	if err != nil {
		return err
	}
	zones, err := readDevZones(opts)
	if err != nil {
		return err
	}

	n, err := startDevNode(ctx, opts, data, opts.log)
	if err != nil {
		return err
	}
	closeNode := func() error {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return n.Close(cctx)
	}

	if zones == nil {
		k, created, err := node.DemoKey(data, rand.Reader)
		if err != nil {
			return errors.Join(fmt.Errorf("demo zone key in %s: %w", node.KeysDir(data), err), closeNode())
		}
		if created {
			fmt.Fprintf(opts.out, "made a new owner key for %s in %s\n", node.DemoOrigin, node.KeysDir(data))
		}
		u, err := node.DemoZone()
		if err != nil {
			return errors.Join(err, closeNode())
		}
		zones = []*devZone{{source: "built-in demo", key: k, zone: u}}
	}
	if err := prepareDevZones(ctx, opts, n, zones); err != nil {
		return errors.Join(err, closeNode())
	}
	for _, dz := range zones {
		if dz.action == node.Unchanged {
			continue
		}
		if err := n.Publish(dz.zone); err != nil {
			return errors.Join(err, closeNode())
		}
	}

	printDev(opts.out, n, zones)
	if opts.ReadyFile != "" {
		if err := writeReady(opts.ReadyFile, n, zones); err != nil {
			return errors.Join(err, closeNode())
		}
	}
	if opts.ready != nil {
		opts.ready <- n.Addr().String()
	}
	<-ctx.Done()
	fmt.Fprintln(opts.out, "stopping")
	return closeNode()
}

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

// readDevZones reads every --zone/--key pair; nil means serve the demo.
func readDevZones(opts *devOptions) ([]*devZone, error) {
	if len(opts.Zones) != len(opts.Keys) {
		return nil, usagef("each --zone needs a --key: got %d --zone and %d --key", len(opts.Zones), len(opts.Keys))
	}
	if len(opts.Zones) == 0 {
		return nil, nil
	}
	var out []*devZone
	seen := make(map[string]string)
	var errs []error
	for i, path := range opts.Zones {
		dz, err := readDevZone(path, opts.Keys[i])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, ok := seen[dz.zone.Origin]; ok {
			errs = append(errs, fmt.Errorf("%s: zone %s is already given by %s", path, dz.zone.Origin, prev))
			continue
		}
		seen[dz.zone.Origin] = path
		out = append(out, dz)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func readDevZone(path, keyPath string) (*devZone, error) {
	k, err := node.ReadKeyFile(keyPath)
	if err != nil {
		return nil, err
	}
	if k.Private == nil {
		return nil, withHint(fmt.Errorf("key %s: no private key beside it", keyPath), "dev signs the zone itself: give the .private file, or keep it beside the .key")
	}
	if err := k.CheckZone(k.Zone); err != nil {
		return nil, fmt.Errorf("key %s: %w", keyPath, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("zone file: %w", err)
	}
	defer f.Close()
	u, err := zone.ParseFile(f, k.Zone, path)
	if err != nil {
		// zone's errors name the file and line; add where the origin came from.
		return nil, fmt.Errorf("%w\n(origin %s, the zone of key %s)", err, k.Zone, filepath.Base(keyPath))
	}
	return &devZone{source: path, key: k, zone: u}, nil
}

// startDevNode starts the node, falling back to a free port when the
// default port is taken and --dns was not given.
func startDevNode(ctx context.Context, opts *devOptions, data string, log *slog.Logger) (*node.Node, error) {
	cfg := node.Default()
	cfg.DataDir = data
	enc, err := devEncrypted(data) // DoT, DoH, DoQ: dev_tls.go
	if err != nil {
		return nil, err
	}
	cfg.Encrypted = enc
	cfg.DNS = opts.DNS
	if cfg.DNS == "" {
		cfg.DNS = opts.defaultDNS
	}
	if _, _, err := node.SplitHostPort(cfg.DNS); err != nil {
		return nil, usagef("--dns %q: %v", cfg.DNS, err)
	}
	n, err := startNode(ctx, cfg, log)
	if errors.Is(err, node.ErrPortInUse) && opts.DNS == "" {
		host, port, _ := node.SplitHostPort(cfg.DNS)
		cfg.DNS = net.JoinHostPort(host, "0")
		n, err = startNode(ctx, cfg, log)
		if err == nil {
			fmt.Fprintf(opts.out, "port %d is in use; using free port %d instead\n", port, n.Addr().Port())
		}
	}
	return n, err
}

func startNode(ctx context.Context, cfg node.Config, log *slog.Logger) (*node.Node, error) {
	n, err := node.New(cfg, log)
	if err != nil {
		return nil, err
	}
	if err := n.Start(ctx); err != nil {
		switch {
		case errors.Is(err, raftfsm.ErrLocked):
			return nil, withHint(err, "another ddnrs is using the data directory %s; stop it or pass another --data", cfg.DataDir)
		case errors.Is(err, raftfsm.ErrCorrupt):
			return nil, withHint(err, "the data directory %s holds a damaged store; move it aside or pass another --data", cfg.DataDir)
		case errors.Is(err, node.ErrPortInUse):
			return nil, withHint(err, "another server listens on %s; pass another --dns, or port 0 for a free one", cfg.DNS)
		}
		return nil, err
	}
	return n, nil
}

// prepareDevZones signs each zone, or updates or keeps the stored one. It
// writes nothing; on error nothing is published.
func prepareDevZones(ctx context.Context, opts *devOptions, n *node.Node, zones []*devZone) error {
	for _, dz := range zones {
		if err := ctx.Err(); err != nil {
			return err
		}
		origin := dz.zone.Origin
		stored, err := n.Stored(origin)
		if errors.Is(err, raftfsm.ErrNoZone) {
			stored, err = nil, nil
		}
		if err != nil {
			return fmt.Errorf("read stored zone %s: %w", origin, err)
		}
		start := time.Now()
		big := dz.zone.Len() >= bigZone
		if big {
			fmt.Fprintf(opts.out, "preparing %s (%d names: sign, or re-sign what changed)...\n", origin, dz.zone.Len())
		}
		z, act, err := node.Prepare(stored, dz.zone, dz.key, time.Now())
		if err != nil {
			return fmt.Errorf("sign %s from %s: %w", origin, dz.source, err)
		}
		if big {
			fmt.Fprintf(opts.out, "%s %s in %v\n", origin, act, time.Since(start).Round(time.Millisecond))
		}
		dz.zone, dz.action = z, act
	}
	return nil
}

// anchor returns the apex DNSKEY of z that is k's, in one-line text, and
// its DS (SHA-256).
func anchor(z *zone.Zone, k *zone.Key) (dnskey, ds string) {
	key := k.DNSKEY
	if s := z.Apex().RRset(dns.TypeDNSKEY); s != nil {
		for _, rr := range s.RRs {
			if dk, ok := rr.(*dns.DNSKEY); ok && dk.PublicKey == k.DNSKEY.PublicKey {
				key = dk
			}
		}
	}
	oneLine := func(rr dns.RR) string { return strings.Join(strings.Fields(rr.String()), " ") }
	dnskey = oneLine(key)
	if d := key.ToDS(dns.SHA256); d != nil {
		ds = oneLine(d)
	}
	return dnskey, ds
}

func printDev(w io.Writer, n *node.Node, zones []*devZone) {
	addr := n.Addr()
	host, port := addr.Addr().String(), strconv.Itoa(int(addr.Port()))
	at := "@" + host + " -p " + port
	fmt.Fprintf(w, "ddnrs dev: DNS on %s (UDP and TCP), data in %s\n", addr, n.DataDir())
	printEncrypted(w, n.DataDir(), n)
	fmt.Fprintf(w, "zones served:\n")
	for _, dz := range zones {
		fmt.Fprintf(w, "  %-24s serial %-10d key tag %-5d %s (%s)\n", dz.zone.Origin, dz.zone.Serial(), dz.key.Tag(), dz.action, dz.source)
	}
	fmt.Fprintf(w, "\ntry:\n")
	for _, dz := range zones {
		o := dz.zone.Origin
		if o == node.DemoOrigin {
			fmt.Fprintf(w, "  dig %s www.%s A +dnssec\n", at, o)
			fmt.Fprintf(w, "  dig %s chain.%s A            # CNAME chain\n", at, o)
			fmt.Fprintf(w, "  dig %s anything.wild.%s TXT  # wildcard\n", at, o)
			fmt.Fprintf(w, "  dig %s nope.%s A +dnssec     # NXDOMAIN with NSEC proof\n", at, o)
			fmt.Fprintf(w, "  dig %s +tcp %s TXT\n", at, o)
			continue
		}
		fmt.Fprintf(w, "  dig %s %s SOA +dnssec\n", at, o)
		fmt.Fprintf(w, "  dig %s +tcp %s DNSKEY\n", at, o)
	}
	fmt.Fprintf(w, "\nvalidating resolver (unbound.conf, server: section; forward the zone to %s):\n", addr)
	for _, dz := range zones {
		dnskey, _ := anchor(dz.zone, dz.key)
		fmt.Fprintf(w, "  trust-anchor: %q\n", dnskey)
	}
	fmt.Fprintf(w, "\nDS for the parent zone:\n")
	for _, dz := range zones {
		_, ds := anchor(dz.zone, dz.key)
		fmt.Fprintf(w, "  %s\n", ds)
	}
	fmt.Fprintf(w, "\nPress Ctrl-C to stop.\n")
}

// readyZone and readyInfo are the --ready-file JSON.
type readyZone struct {
	Zone   string `json:"zone"`
	Serial uint32 `json:"serial"`
	DNSKEY string `json:"dnskey"`
	DS     string `json:"ds"`
}

type readyInfo struct {
	DNS   string      `json:"dns"`
	Data  string      `json:"data"`
	Zones []readyZone `json:"zones"`
	// DoT, DoH, DoQ, the CA and the SPKI pin (dev_tls.go).
	readyEncrypted
}

// writeReady writes the ready file atomically (temporary file + rename).
func writeReady(path string, n *node.Node, zones []*devZone) error {
	info := readyInfo{DNS: n.Addr().String(), Data: n.DataDir(), Zones: []readyZone{}}
	info.readyEncrypted = encryptedReady(n.DataDir(), n)
	for _, dz := range zones {
		dnskey, ds := anchor(dz.zone, dz.key)
		info.Zones = append(info.Zones, readyZone{Zone: dz.zone.Origin, Serial: dz.zone.Serial(), DNSKEY: dnskey, DS: ds})
	}
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	if err := node.WriteFileAtomic(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("--ready-file: %w", err)
	}
	return nil
}
