package ops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
	"github.com/spf13/cobra"
)

// exportOptions are the flags and arguments of `ddnrs zone export`.
type exportOptions struct {
	Zone     string
	Data     string
	Out      string // file to write; default stdout
	Unsigned bool   // leave out DNSKEY, RRSIG and NSEC
}

// newZoneImportCmd is the old name of 'ddnrs ops store restore-zone',
// kept hidden so that a script using it fails with directions instead of
// "unknown command": it wrote into a stopped node's store bypassing Raft
// under a name that did not say so.
func newZoneImportCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "import",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(*cobra.Command, []string) error {
			return usagef("'ddnrs zone import' is gone: it wrote into a stopped node's store, bypassing Raft.\n" +
				"  To publish to a running group:        ddnrs zone publish --key KEYFILE ZONEFILE\n" +
				"  To seed or restore a stopped node:    ddnrs ops store restore-zone --data DIR --key KEYFILE ZONEFILE")
		},
	}
}

func newZoneExportCmd(e *env) *cobra.Command {
	opts := &exportOptions{}
	cmd := &cobra.Command{
		Use:   "export --data DIR [--out FILE] [--unsigned] ZONE",
		Short: "Write a zone stored in a node's data directory as a zone file",
		Long: `Write ZONE from the zone store in the data directory of a stopped node (or
the owner's copy of 'ddnrs dev --data DIR') as a BIND master file,
signed as stored (with its signed head beside --out as FILE.head), or with
--unsigned as the owner edits it: without the DNSKEY, RRSIG and NSEC records
the signer adds.`,
		Example: `  ddnrs zone export --data ./node1 --out example.com.zone.signed example.com.
  ddnrs zone export --data ./node1 --unsigned example.com. > example.com.zone`,
		Args: exactArgs("ZONE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Zone = args[0]
			return runExport(cmd.Context(), e, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Data, "data", "", "the node's data directory (required)")
	cmd.Flags().StringVarP(&opts.Out, "out", "o", "", "file to write (default stdout)")
	cmd.Flags().BoolVar(&opts.Unsigned, "unsigned", false, "leave out DNSKEY, RRSIG and NSEC records")
	return cmd
}

// openStore opens the zone store in the data directory dir (the bbolt
// file, or the pebble directory when the node made one), creating the
// directory when create is set, and turns a lock conflict into advice.
func openStore(dir string, create bool) (*raftfsm.Store, error) {
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(dir); err != nil {
		return nil, withHint(err, "--data is the data directory of a node ('ddnrs dev --data DIR')")
	}
	// A node with [group] store = "pebble" keeps its zones in a
	// directory instead of the bbolt file: use whichever the node made,
	// never create a second store beside it.
	backend := raftfsm.BackendBolt
	if fi, err := os.Stat(raftfsm.BackendStorePath(dir, raftfsm.BackendPebble)); err == nil && fi.IsDir() {
		backend = raftfsm.BackendPebble
	}
	path := raftfsm.BackendStorePath(dir, backend)
	if !create {
		if _, err := os.Stat(path); err != nil {
			return nil, withHint(fmt.Errorf("%s: no zone store: %w", dir, err), "--data is the data directory of a node ('ddnrs dev --data DIR')")
		}
	}
	s, err := raftfsm.OpenStoreBackend(path, backend)
	switch {
	case errors.Is(err, raftfsm.ErrLocked):
		return nil, withHint(err, "a node is running on %s: stop it (Ctrl-C on 'ddnrs dev'), run this again, then start the node; to change a running group use 'ddnrs zone publish'", dir)
	case errors.Is(err, raftfsm.ErrCorrupt):
		return nil, withHint(err, "the file is damaged or not a DDNRS store; move it away and import the zones again")
	}
	return s, err
}

func runExport(_ context.Context, e *env, opts *exportOptions) error {
	if opts.Data == "" {
		return usagef("--data DIR is required")
	}
	if _, ok := dns.IsDomainName(opts.Zone); !ok {
		return usagef("%q is not a zone name", opts.Zone)
	}
	s, err := openStore(opts.Data, false)
	if err != nil {
		return err
	}
	defer s.Close()
	z, err := s.Get(opts.Zone)
	if errors.Is(err, raftfsm.ErrNoZone) {
		names, _ := s.List()
		return withHint(err, "zones in %s: %s", opts.Data, strings.Join(names, " "))
	}
	if err != nil {
		return err
	}
	if opts.Unsigned {
		if z, err = unsigned(z); err != nil {
			return err
		}
	}
	if opts.Out != "" {
		return writeSigned(opts.Out, z)
	}
	var buf bytes.Buffer
	if err := zone.Write(&buf, z); err != nil {
		return err
	}
	_, err = e.stdout.Write(buf.Bytes())
	return err
}

// unsigned returns z without the records a signer adds: DNSKEY, RRSIG,
// NSEC (and NSEC3, NSEC3PARAM), and without a head.
func unsigned(z *zone.Zone) (*zone.Zone, error) {
	var rrs []dns.RR
	for _, s := range z.RRsets() {
		switch s.Type {
		case dns.TypeDNSKEY, dns.TypeNSEC, dns.TypeNSEC3, dns.TypeNSEC3PARAM, dns.TypeRRSIG:
			continue
		}
		rrs = append(rrs, s.Records()...)
	}
	return zone.New(z.Origin, rrs)
}
