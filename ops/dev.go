package ops

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/internal/atomicfile"
	"github.com/ddnrs/ddnrs/internal/hostport"
	"github.com/ddnrs/ddnrs/internal/keyfile"
	"github.com/ddnrs/ddnrs/internal/pki"
	"github.com/ddnrs/ddnrs/internal/ports"
	"github.com/ddnrs/ddnrs/node"
	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/translog"
	"github.com/ddnrs/ddnrs/zone"
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

// bigZone is the name count from which dev prints a line before signing.
const bigZone = 1000

// devOptions are the flags of `ddnrs dev`.
type devOptions struct {
	DNS       string   // --dns; "" means devDefaultDNS with fallback
	Data      string   // --data; "" means the state dir default
	Zones     []string // --zone, paired in order with Keys
	Keys      []string // --key
	ReadyFile string   // --ready-file
	API       string   // --api; "" means devDefaultAPI with fallback

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
	return cmd
}

// devZone is one zone dev serves: the owner's unsigned zone, its key, and
// what Prepare made of it.
type devZone struct {
	source string // file name, or "built-in" for the demo
	key    *zone.Key
	zone   *zone.Zone // unsigned, then signed
	action zone.Action
	index  uint64 // Raft index the change was committed at; 0 if unchanged
}

// devMembers is the size of the group `ddnrs dev` runs.
const devMembers = 3

// devWait bounds how long dev waits for the group to elect a leader,
// take in its members and replicate the zones.
const devWait = 60 * time.Second

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
		k, created, err := node.DemoKey(data, rand.Reader)
		if err != nil {
			return fmt.Errorf("demo zone key in %s: %w", node.KeysDir(data), err)
		}
		if created {
			fmt.Fprintf(opts.out, "made a new owner key for %s in %s\n", node.DemoOrigin, node.KeysDir(data))
		}
		u, err := node.DemoZone()
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
	wctx, cancel := context.WithTimeout(ctx, devWait)
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

// openOwnerCopy opens DATA/zones.db, the owner's copy: what dev last
// published as the zones' owner, or what 'ddnrs zone import' put there.
// dev holds it (and its lock) while it runs.
func openOwnerCopy(data string) (*raftfsm.Store, error) {
	s, err := raftfsm.OpenStore(raftfsm.StorePath(data))
	switch {
	case errors.Is(err, raftfsm.ErrLocked):
		return nil, withHint(err, "another ddnrs is using the data directory %s; stop it or pass another --data", data)
	case errors.Is(err, raftfsm.ErrCorrupt):
		return nil, withHint(err, "the data directory %s holds a damaged store; move it aside or pass another --data", data)
	}
	return s, err
}

// publishDevZones is the owner's side: each zone is read from the group,
// signed here (whole, or what changed since the group's copy, or since
// the owner's copy when the group has none) and sent to the leader,
// which commits it; the owner's copy is then updated. A change refused
// as stale (the member asked had not yet applied the latest entry) is
// planned again.
func publishDevZones(ctx context.Context, opts *devOptions, c *node.AdminClient, g *devGroup, owner *raftfsm.Store, zones []*devZone) error {
	for _, dz := range zones {
		u := dz.zone
		origin := u.Origin
		big := u.Len() >= bigZone
		for try := 1; ; try++ {
			server, err := g.leaderAdmin(ctx, c)
			if err != nil {
				return err
			}
			old, err := fetchZone(ctx, c, server, origin, dz.key)
			if err != nil {
				return err
			}
			base := old
			if old == nil {
				oc, err := owner.Get(origin)
				if err != nil && !errors.Is(err, raftfsm.ErrNoZone) {
					return fmt.Errorf("read the owner's copy of %s: %w", origin, err)
				}
				base = oc
			}
			start := time.Now()
			if big {
				fmt.Fprintf(opts.out, "preparing %s (%d names: sign, or re-sign what changed)...\n", origin, u.Len())
			}
			plan, err := planFrom(old, base, u, dz.key, nil, time.Now())
			if err != nil {
				return fmt.Errorf("sign %s from %s: %w", origin, dz.source, err)
			}
			if big {
				fmt.Fprintf(opts.out, "%s %s in %v\n", origin, plan.Action, time.Since(start).Round(time.Millisecond))
			}
			dz.action = plan.Action
			dz.zone = plan.New
			if plan.Cmd != nil {
				res, err := submitPublish(ctx, c, server, plan)
				var ae *node.APIError
				if err != nil && try < 3 && errors.As(err, &ae) && (ae.Code == node.CodeRejected && ae.Reason == "stale-serial" || ae.Code == node.CodeNoLeader || ae.Code == node.CodeNotLeader) {
					continue
				}
				if err != nil {
					return err
				}
				dz.index = res.Index
			}
			if err := keepOwnerCopy(owner, plan.New); err != nil {
				return err
			}
			break
		}
	}
	return nil
}

// keepOwnerCopy stores z as the owner's copy of its zone.
func keepOwnerCopy(owner *raftfsm.Store, z *zone.Zone) error {
	err := owner.Put(z)
	if errors.Is(err, raftfsm.ErrStaleSerial) {
		// The group's copy went back (a snapshot restore): follow it.
		if err = owner.Delete(z.Origin); err == nil {
			err = owner.Put(z)
		}
	}
	if err != nil {
		return fmt.Errorf("keep the owner's copy of %s: %w", z.Origin, err)
	}
	return nil
}

// adoptOwnerZones publishes, as they are, the zones of the owner's copy
// that dev was not given and the group does not have (a zone 'ddnrs
// zone import' put in the data directory), bound to the key that signed
// their heads. It returns every zone of the owner's copy not given.
func adoptOwnerZones(ctx context.Context, c *node.AdminClient, g *devGroup, owner *raftfsm.Store, given []*devZone) ([]*devZone, error) {
	origins, err := owner.List()
	if err != nil {
		return nil, err
	}
	skip := make(map[string]bool)
	for _, dz := range given {
		skip[dz.zone.Origin] = true
	}
	var out []*devZone
	for _, origin := range origins {
		if skip[origin] {
			continue
		}
		z, err := owner.Get(origin)
		if err != nil {
			return nil, fmt.Errorf("read the owner's copy of %s: %w", origin, err)
		}
		k := headKey(z)
		if k == nil {
			continue // no signed head: nothing the group would accept
		}
		server, err := g.leaderAdmin(ctx, c)
		if err != nil {
			return nil, err
		}
		_, err = c.Zone(ctx, server, origin)
		if isNotFound(err) {
			cmd, cerr := raftfsm.ChangeCommand(nil, z, k)
			if cerr != nil {
				return nil, fmt.Errorf("encode %s: %w", origin, cerr)
			}
			_, err = submitPublish(ctx, c, server, &publishPlan{Origin: origin, New: z, Create: true, Cmd: cmd})
		}
		if err != nil {
			return nil, adminErr(err, server)
		}
		out = append(out, &devZone{source: "kept in " + owner.Path(), key: k, zone: z, action: zone.Unchanged})
	}
	return out, nil
}

// headKey returns the apex DNSKEY of z that signed its head, as a public
// key, or nil.
func headKey(z *zone.Zone) *zone.Key {
	s := z.Apex().RRset(dns.TypeDNSKEY)
	if z.Head == nil || s == nil {
		return nil
	}
	for _, rr := range s.RRs {
		k, err := zone.ParseKey([]byte(rr.String()+"\n"), nil)
		if err != nil {
			continue
		}
		if _, err := zone.ParseHead(z.Head.Note, k); err == nil {
			return k
		}
	}
	return nil
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
	k, err := keyfile.Read(keyPath)
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

// anchor returns the apex DNSKEY of z that is k's, in one-line text, and
// its DS (SHA-256).
func anchor(z *zone.Zone, k *zone.Key) (dnskey, ds string) {
	key := k.DNSKEY
	if s := z.Apex().RRset(dns.TypeDNSKEY); s != nil {
		for _, rr := range s.RRs {
			if dk, ok := rr.(*dns.DNSKEY); ok && zone.SameKey(dk, k.DNSKEY) {
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

// devTLSFiles are the PEM files of the dev group's cluster CA, of each
// member and of the operator (the ops CLI and dev's own owner side).
type devTLSFiles struct {
	CA      string
	Members [devMembers]certFiles
	Ops     certFiles
}

type certFiles struct{ Cert, Key string }

// devTLS loads, or on first run makes, a cluster CA in DATA/tls/ca and a
// certificate for each member and for the operator in DATA/tls/ID.
func devTLS(data string) (devTLSFiles, error) {
	dir := filepath.Join(data, "tls")
	caDir := filepath.Join(dir, "ca")
	var tf devTLSFiles
	tf.CA = filepath.Join(caDir, pki.CACertFile)
	var ca *pki.CA
	if _, err := os.Stat(tf.CA); errors.Is(err, fs.ErrNotExist) {
		if ca, err = pki.NewCA("ddnrs dev cluster CA"); err != nil {
			return tf, err
		}
		if err := ca.Save(caDir); err != nil {
			return tf, fmt.Errorf("dev cluster CA: %w", err)
		}
	} else if err != nil {
		return tf, err
	}
	issue := func(id string) (certFiles, error) {
		d := filepath.Join(dir, id)
		cf := certFiles{Cert: filepath.Join(d, pki.CertFile), Key: filepath.Join(d, pki.KeyFile)}
		if _, err := os.Stat(cf.Cert); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return cf, err
		}
		if ca == nil {
			var err error
			if ca, err = pki.LoadCA(caDir); err != nil {
				return cf, fmt.Errorf("dev cluster CA: %w", err)
			}
		}
		p, err := pki.IssueNode(ca, id, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, []string{"localhost"})
		if err != nil {
			return cf, err
		}
		if err := p.Save(d); err != nil {
			return cf, fmt.Errorf("certificate for %s: %w", id, err)
		}
		return cf, nil
	}
	var err error
	for i := range tf.Members {
		if tf.Members[i], err = issue(devMemberID(i)); err != nil {
			return tf, err
		}
	}
	tf.Ops, err = issue("ops")
	return tf, err
}

// client returns an admin client with the operator's certificate.
func (tf devTLSFiles) client() (*node.AdminClient, error) {
	o := adminOptions{CA: tf.CA, Cert: tf.Ops.Cert, Key: tf.Ops.Key}
	return o.client()
}

func devMemberID(i int) string { return "node" + strconv.Itoa(i+1) }

// devNode is one member of the dev group.
type devNode struct {
	id string
	n  *node.Node
}

// devGroup is the group dev runs: its members, all in this process.
type devGroup struct {
	members []*devNode
}

// devGroupState is DATA/group.json: the members' Raft addresses, which
// the Raft configuration holds and which must not change across runs.
type devGroupState struct {
	Members []devMember `json:"members"`
}

const devGroupFile = "group.json"

func readGroupState(data string) (*devGroupState, error) {
	b, err := os.ReadFile(filepath.Join(data, devGroupFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st devGroupState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(data, devGroupFile), err)
	}
	return &st, nil
}

func (g *devGroup) saveState(data string) error {
	var st devGroupState
	for _, m := range g.members {
		st.Members = append(st.Members, devMember{ID: m.id, Raft: m.n.RaftAddr()})
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(data, devGroupFile), append(b, '\n'), 0o644)
}

// startDevGroup starts the three members. On first run member 1
// bootstraps a group and dev adds the other two as voters; later runs
// restart the group from its state on disk. Member 1's DNS address is
// --dns (or the default, falling back to a free port); everything else
// listens on free ports of 127.0.0.1.
func startDevGroup(ctx context.Context, opts *devOptions, data string, tf devTLSFiles) (_ *devGroup, err error) {
	st, err := readGroupState(data)
	if err != nil {
		return nil, err
	}
	vkey, err := devLogKeys(opts.out, data)
	if err != nil {
		return nil, err
	}
	first := st == nil
	g := &devGroup{}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			g.close(cctx)
		}
	}()
	for i := 0; i < devMembers; i++ {
		id := devMemberID(i)
		cfg := node.Default()
		cfg.DataDir = filepath.Join(data, id)
		cfg.Group.ID = id
		if !first && i < len(st.Members) && st.Members[i].ID == id {
			cfg.Group.RaftBind = st.Members[i].Raft
		} else {
			// The Raft configuration keeps this address across runs: a
			// port outside the ephemeral range is not taken by some
			// program's outgoing connection while dev is not running.
			p, perr := ports.Free("127.0.0.1", false)
			if perr != nil {
				return nil, fmt.Errorf("pick a Raft port for %s: %w", id, perr)
			}
			cfg.Group.RaftBind = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		}
		cfg.Group.Bootstrap = first && i == 0
		cfg.Admin.Listen = "127.0.0.1:0"
		cfg.DNS = "127.0.0.1:0"
		cfg.TLS = node.TLSConfig{CA: tf.CA, Cert: tf.Members[i].Cert, Key: tf.Members[i].Key}
		if cfg.Encrypted, err = devEncrypted(data); err != nil { // DoT, DoH, DoQ: dev_tls.go
			return nil, err
		}
		// The dev group is the registry: every member holds the registry
		// and follows its log; member 1 serves the REST API.
		cfg.Group.Name = devGroupName
		cfg.Registry.Member = true
		cfg.Registry.LogKeyFile = filepath.Join(data, devLogKey)
		cfg.Registry.LogVerifier = vkey
		log := opts.log.With("member", id)
		var n *node.Node
		if i == 0 {
			n, err = startDevNode(ctx, opts, cfg, log)
		} else {
			n, err = startNode(ctx, cfg, log)
		}
		if errors.Is(err, syscall.EADDRINUSE) && !first {
			return nil, withHint(err, "another program holds %s, the Raft address of %s that the group's configuration (and %s) keeps; stop that program, or start a new group with another --data directory",
				cfg.Group.RaftBind, id, filepath.Join(data, devGroupFile))
		}
		if err != nil {
			return nil, err
		}
		g.members = append(g.members, &devNode{id: id, n: n})
		if first && i == 0 {
			// Written at once, so a run stopped half-way restarts member
			// 1 at the Raft address its configuration holds.
			if err := g.saveState(data); err != nil {
				return nil, err
			}
		}
	}
	if !first {
		return g, nil
	}
	c, err := tf.client()
	if err != nil {
		return nil, err
	}
	defer c.CloseIdle()
	wctx, cancel := context.WithTimeout(ctx, devWait)
	defer cancel()
	for _, m := range g.members[1:] {
		if err := g.join(wctx, c, m, opts.log); err != nil {
			return nil, fmt.Errorf("add %s to the dev group: %w", m.id, err)
		}
	}
	return g, g.saveState(data)
}

// Bounds of the backoff between attempts to add a member.
const (
	joinBackoffMin = 50 * time.Millisecond
	joinBackoffMax = time.Second
)

// join adds m to the group as a voter through the current leader. A
// slow machine can make the leader miss heartbeats while the change
// commits, so the change may fail with the leadership lost (no_quorum),
// the node no longer leader (not_leader, no_leader) or the leader's
// request timing out: join then finds the leader again and retries, with
// a doubling backoff, until ctx ends. Adding a voter that is already one
// is harmless, so an attempt that did commit before failing is safe to
// repeat. Any other error is returned at once.
func (g *devGroup) join(ctx context.Context, c *node.AdminClient, m *devNode, log *slog.Logger) error {
	backoff := joinBackoffMin
	for {
		leader, err := g.leaderAdmin(ctx, c)
		if err != nil {
			return err
		}
		err = c.Join(ctx, leader, node.JoinRequest{ID: m.id, RaftAddr: m.n.RaftAddr()})
		if err == nil || !retryableJoin(err) {
			return err
		}
		log.Debug("adding a member failed; retrying", "member", m.id, "err", err, "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last attempt: %w)", ctx.Err(), err)
		case <-t.C:
		}
		backoff = min(2*backoff, joinBackoffMax)
	}
}

// retryableJoin reports whether a failed join may succeed when tried
// again: the group was between leaders or could not commit in time.
func retryableJoin(err error) bool {
	if errors.Is(err, raftfsm.ErrNoQuorum) || errors.Is(err, raftfsm.ErrNoLeader) {
		return true
	}
	var ae *node.APIError
	return errors.As(err, &ae) && (ae.Code == node.CodeNotLeader || ae.Code == node.CodeUnavailable)
}

// startDevNode starts member 1, falling back to a free DNS port when the
// default port is taken and --dns was not given.
func startDevNode(ctx context.Context, opts *devOptions, cfg node.Config, log *slog.Logger) (*node.Node, error) {
	cfg.DNS = opts.DNS
	if cfg.DNS == "" {
		cfg.DNS = opts.defaultDNS
	}
	if _, _, err := hostport.Split(cfg.DNS); err != nil {
		return nil, usagef("--dns %q: %v", cfg.DNS, err)
	}
	cfg.API.Listen = opts.API
	if cfg.API.Listen == "" {
		cfg.API.Listen = opts.defaultAPI
	}
	if _, _, err := hostport.Split(cfg.API.Listen); cfg.API.Listen != "" && err != nil {
		return nil, usagef("--api %q: %v", cfg.API.Listen, err)
	}
	n, err := startNode(ctx, cfg, log)
	// Each failed start names one taken port; when both defaults are
	// taken, the second start names the other, so fall back for each
	// once, in whichever order they come.
	apiTaken, dnsTaken := 0, 0 // the taken default ports
	apiMoved, dnsMoved := false, false
	for err != nil {
		switch {
		case errors.Is(err, node.ErrAPIPortInUse) && opts.API == "" && !apiMoved:
			host, port, _ := hostport.Split(cfg.API.Listen)
			apiMoved, apiTaken, cfg.API.Listen = true, port, net.JoinHostPort(host, "0")
		case errors.Is(err, node.ErrPortInUse) && opts.DNS == "" && !dnsMoved:
			host, port, _ := hostport.Split(cfg.DNS)
			dnsMoved, dnsTaken, cfg.DNS = true, port, net.JoinHostPort(host, "0")
		default:
			return nil, err
		}
		n, err = startNode(ctx, cfg, log)
	}
	if apiMoved {
		fmt.Fprintf(opts.out, "API port %d is in use; using free port %s instead\n", apiTaken, n.APIAddr())
	}
	if dnsMoved {
		fmt.Fprintf(opts.out, "port %d is in use; using free port %d instead\n", dnsTaken, n.Addr().Port())
	}
	return n, nil
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

// pollEvery is how often dev looks again while it waits for the group.
const pollEvery = 20 * time.Millisecond

// leaderAdmin waits until member 1 knows a leader and returns the
// leader's admin address.
func (g *devGroup) leaderAdmin(ctx context.Context, c *node.AdminClient) (string, error) {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		s, err := c.Status(ctx, g.members[0].n.AdminAddr())
		if err == nil && s.LeaderID != "" {
			for _, m := range g.members {
				if m.id == s.LeaderID {
					return m.n.AdminAddr(), nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", withHint(fmt.Errorf("the dev group elected no leader: %w", ctx.Err()), "run with --log-level debug to see what Raft does")
		case <-t.C:
		}
	}
}

// waitServed waits until every member serves every zone at its
// published serial and the leader knows every member's addresses and
// indexes, so that what dev prints works at once.
func (g *devGroup) waitServed(ctx context.Context, c *node.AdminClient, zones []*devZone) error {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		done := true
		for _, m := range g.members {
			for _, dz := range zones {
				if z := m.n.Served().Get(dz.zone.Origin); z == nil || z.Serial() != dz.zone.Serial() {
					done = false
				}
			}
		}
		if done {
			server, err := g.leaderAdmin(ctx, c)
			if err != nil {
				return err
			}
			ms, err := c.Members(ctx, server)
			done = err == nil && len(ms) == len(g.members)
			for _, m := range ms {
				if m.Error != "" || m.Admin == "" || m.Trails != 0 {
					done = false
				}
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return withHint(fmt.Errorf("the dev group did not replicate the zones to every member: %w", ctx.Err()), "run with --log-level debug to see what Raft does")
		case <-t.C:
		}
	}
}

// close stops the group under ctx: the leader first, without a
// leadership transfer, then the others at once (node.CloseGroup), so
// the stop takes milliseconds and no member starts an election or logs
// an error; it returns every error, joined.
func (g *devGroup) close(ctx context.Context) error {
	nodes := make([]*node.Node, len(g.members))
	for i, m := range g.members {
		nodes[i] = m.n
	}
	return node.CloseGroup(ctx, nodes)
}

// printDev prints where the group is, the zones, and what to try.
// explicitData says whether --data was given (the ops commands then need
// it too).
func printDev(w io.Writer, data string, explicitData bool, g *devGroup, zones []*devZone) {
	m1 := g.members[0].n.Addr()
	at := func(a netip.AddrPort) string { return "@" + a.Addr().String() + " -p " + strconv.Itoa(int(a.Port())) }
	fmt.Fprintf(w, "ddnrs dev: DNS on %s (UDP and TCP), data in %s\n", m1, data)
	fmt.Fprintf(w, "a replica group of %d members in this process (Raft over mutual TLS, CA in %s):\n", len(g.members), filepath.Join(data, "tls", "ca"))
	for _, m := range g.members {
		fmt.Fprintf(w, "  %-6s DNS %-21s admin %-21s raft %s\n", m.id, m.n.Addr(), m.n.AdminAddr(), m.n.RaftAddr())
	}
	printEncrypted(w, data, g.members[0].n)
	fmt.Fprintf(w, "zones served (signed here by the owner key, committed by the group):\n")
	for _, dz := range zones {
		fmt.Fprintf(w, "  %-24s serial %-10d key tag %-5d %s (%s)\n", dz.zone.Origin, dz.zone.Serial(), dz.key.Tag(), dz.action, dz.source)
	}
	fmt.Fprintf(w, "\ntry:\n")
	for _, dz := range zones {
		o := dz.zone.Origin
		if o == node.DemoOrigin {
			fmt.Fprintf(w, "  dig %s www.%s A +dnssec\n", at(m1), o)
			fmt.Fprintf(w, "  dig %s chain.%s A            # CNAME chain\n", at(m1), o)
			fmt.Fprintf(w, "  dig %s anything.wild.%s TXT  # wildcard\n", at(m1), o)
			fmt.Fprintf(w, "  dig %s nope.%s A +dnssec     # NXDOMAIN with NSEC proof\n", at(m1), o)
			fmt.Fprintf(w, "  dig %s +tcp %s TXT\n", at(m1), o)
		} else {
			fmt.Fprintf(w, "  dig %s %s SOA +dnssec\n", at(m1), o)
			fmt.Fprintf(w, "  dig %s +tcp %s DNSKEY\n", at(m1), o)
		}
		for _, m := range g.members[1:] {
			fmt.Fprintf(w, "  dig %s %s SOA +short   # the same zone from %s\n", at(m.n.Addr()), o, m.id)
		}
	}
	dev := "--dev"
	if explicitData {
		dev += " --data " + data
	}
	fmt.Fprintf(w, "\noperate the group (in another terminal):\n")
	fmt.Fprintf(w, "  ddnrs ops group members %s\n", dev)
	fmt.Fprintf(w, "  ddnrs ops group status %s\n", dev)
	fmt.Fprintf(w, "  ddnrs ops group transfer-leader %s\n", dev)
	fmt.Fprintf(w, "  ddnrs ops snapshot save %s backup.snap\n", dev)
	if len(zones) > 0 {
		dz := zones[0]
		key := filepath.Join(node.KeysDir(data), dz.key.FileBase()+".private")
		file := "ZONEFILE"
		if dz.source != "built-in demo" {
			file = dz.source
		}
		fmt.Fprintf(w, "  ddnrs zone publish %s --key %s %s\n", dev, key, file)
	}
	fmt.Fprintf(w, "\nvalidating resolver (unbound.conf, server: section; forward the zone to %s):\n", m1)
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

// readyZone and readyInfo are the --ready-file JSON, also written to
// DATA/dev.json for the ops commands' --dev.
type readyZone struct {
	Zone   string `json:"zone"`
	Serial uint32 `json:"serial"`
	DNSKEY string `json:"dnskey"`
	DS     string `json:"ds"`
}

type readyInfo struct {
	// DNS is member 1's DNS address.
	DNS string `json:"dns"`
	// API is member 1's REST API base URL.
	API   string      `json:"api"`
	Data  string      `json:"data"`
	Zones []readyZone `json:"zones"`
	// Members are the group's members, member 1 first.
	Members []devMember `json:"members"`
	// CA, Cert and Key are the operator's TLS files for the admin
	// endpoints (the ops CLI's --ca, --cert, --key).
	CA   string `json:"ca"`
	Cert string `json:"cert"`
	Key  string `json:"key"`
	// Member 1's DoT, DoH and DoQ, verified against CA (dev_tls.go).
	readyEncrypted
}

func readyFor(data string, tf devTLSFiles, g *devGroup, zones []*devZone) readyInfo {
	info := readyInfo{DNS: g.members[0].n.Addr().String(), API: "http://" + g.members[0].n.APIAddr(), Data: data, Zones: []readyZone{}, CA: tf.CA, Cert: tf.Ops.Cert, Key: tf.Ops.Key}
	for _, dz := range zones {
		dnskey, ds := anchor(dz.zone, dz.key)
		info.Zones = append(info.Zones, readyZone{Zone: dz.zone.Origin, Serial: dz.zone.Serial(), DNSKEY: dnskey, DS: ds})
	}
	info.readyEncrypted = encryptedReady(data, g.members[0].n)
	for _, m := range g.members {
		info.Members = append(info.Members, devMember{ID: m.id, DNS: m.n.Addr().String(), Admin: m.n.AdminAddr(), Raft: m.n.RaftAddr()})
	}
	return info
}

// writeReady writes the ready file atomically (temporary file + rename).
func writeReady(path string, info readyInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o644)
}

// devLogKeys returns the transparency log's verifier key, making the key
// pair in the data directory on first start (the signer key mode 0600).
func devLogKeys(out io.Writer, data string) (vkey string, err error) {
	if out == nil {
		out = io.Discard
	}
	pub := filepath.Join(data, devLogPub)
	if b, err := os.ReadFile(pub); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	skey, vkey, err := translog.GenerateKey(translog.DefaultOrigin)
	if err != nil {
		return "", err
	}
	if err := atomicfile.Write(filepath.Join(data, devLogKey), []byte(skey+"\n"), 0o600); err != nil {
		return "", err
	}
	if err := atomicfile.Write(pub, []byte(vkey+"\n"), 0o644); err != nil {
		return "", err
	}
	fmt.Fprintf(out, "made the transparency log's key in %s (verifier key in %s)\n", filepath.Join(data, devLogKey), pub)
	return vkey, nil
}

// claimDevZones claims in the registry (dev's own group) every zone dev
// serves that has no claim yet, for its owner key on the dev group: a
// zone dev creates is claimed by the admin endpoint already, but a data
// directory made by a build before claims holds zones the registry does
// not know. A name claimed by another key is reported, not fatal: dev
// keeps serving what the operator gave it.
func claimDevZones(ctx context.Context, out io.Writer, g *devGroup, zones []*devZone) error {
	m1 := g.members[0].n
	reg, err := m1.Registry()
	if err != nil {
		return err
	}
	listed := false
	for _, dz := range zones {
		origin := dz.zone.Origin
		if _, ok := reg.Claim(origin); ok || dz.key == nil {
			continue
		}
		if !listed {
			// A claim names the group, which must be in the node
			// directory: wait for the members' first heartbeat.
			if err := waitDirectory(ctx, g); err != nil {
				return err
			}
			listed = true
		}
		cmd, err := raftfsm.EncodeCommand(&raftfsm.ClaimZone{Zone: origin, Owner: dz.key.DNSKEY.String(), Group: devGroupName,
			Actor: raftfsm.NodeOperatorActor(m1.ID()), Time: m1.Now()})
		if err != nil {
			return err
		}
		err = m1.ProposeRegistry(ctx, cmd)
		var rej *raftfsm.RejectedError
		switch {
		case errors.As(err, &rej):
			fmt.Fprintf(out, "warning: %s is served but not registered: %v\n", origin, err)
		case err != nil:
			return fmt.Errorf("claim %s in the registry: %w", origin, err)
		default:
			fmt.Fprintf(out, "registered %s (it had no claim) in the transparency log\n", origin)
		}
	}
	return nil
}

// waitDirectory returns once the registry's node directory lists the dev
// group, polling every pollEvery until ctx ends.
func waitDirectory(ctx context.Context, g *devGroup) error {
	m1 := g.members[0].n
	for {
		reg, err := m1.Registry()
		if err != nil {
			return err
		}
		if slices.ContainsFunc(reg.Nodes(), func(r raftfsm.NodeRecord) bool { return r.Group == devGroupName }) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the dev group in the node directory: %w", ctx.Err())
		case <-time.After(pollEvery):
		}
	}
}

// firstReviewerKey issues an admin ("reviewer") API key when the registry
// holds no key yet (first start) and returns it; "" on later starts.
func firstReviewerKey(ctx context.Context, c *node.AdminClient, g *devGroup) (string, error) {
	m1 := g.members[0].n
	reg, err := m1.Registry()
	if err != nil {
		return "", err
	}
	if len(reg.Keys()) > 0 {
		return "", nil
	}
	res, err := c.IssueKey(ctx, m1.AdminAddr(), node.IssueKeyRequest{Name: "dev reviewer", Actions: []string{"admin"}, Suffixes: []string{"."}})
	if err != nil {
		return "", adminErr(err, m1.AdminAddr())
	}
	return res.Key, nil
}

// printRegistry prints the REST API and web pages, and the reviewer key
// when one was just issued (shown this once).
func printRegistry(w io.Writer, g *devGroup, reviewer string) {
	base := "http://" + g.members[0].n.APIAddr()
	fmt.Fprintf(w, "\nregistry (this group) and REST API: %s\n", base)
	fmt.Fprintf(w, "  web pages:   %s/  (apply: %s/apply, review: %s/review/login)\n", base, base, base)
	fmt.Fprintf(w, "  API:         %s/v1/openapi.json   health: %s/v1/health   log: %s/v1/log/checkpoint\n", base, base, base)
	if reviewer != "" {
		fmt.Fprintf(w, "  reviewer key (admin; shown once, only its hash is kept):\n    %s\n", reviewer)
		fmt.Fprintf(w, "  sign in at %s/review/login, or: curl -H 'Authorization: Bearer %s' %s/v1/applications\n", base, reviewer, base)
	} else {
		fmt.Fprintf(w, "  a reviewer key was issued at first start (shown then); issue another with:\n    ddnrs ops registry key issue --dev --name reviewer\n")
	}
}
