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

// importOptions are the flags and arguments of `ddnrs zone import`.
type importOptions struct {
	File string // the owner's zone file (signed or not; it is signed again)
	Data string // the node's data directory
	Key  string // KEYFILE: the owner key's .private
}

// exportOptions are the flags and arguments of `ddnrs zone export`.
type exportOptions struct {
	Zone     string
	Data     string
	Out      string // file to write; default stdout
	Unsigned bool   // leave out DNSKEY, RRSIG and NSEC
}

func newZoneImportCmd(e *env) *cobra.Command {
	opts := &importOptions{}
	cmd := &cobra.Command{
		Use:   "import --data DIR --key KEYFILE ZONEFILE",
		Short: "Sign a zone file and store it in a node's data directory",
		Long: `Sign ZONEFILE with the owner key and store it in the data directory of a
stopped node, which serves it when it starts. The node must not be running:
its store is locked while it runs.

A zone already stored is updated: only the changed RRsets are re-signed and
the serial goes above the stored one (the serial in ZONEFILE counts when it
is higher), the way 'ddnrs dev --zone' publishes.`,
		Example: `  ddnrs zone import --data ~/.local/state/ddnrs/dev --key Kexample.com.+015+12345.private example.com.zone
  ddnrs dev --data ~/.local/state/ddnrs/dev`,
		Args: exactArgs("ZONEFILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			return runImport(cmd.Context(), e, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Data, "data", "", "the node's data directory (required)")
	cmd.Flags().StringVar(&opts.Key, "key", "", "owner key: the .private file from 'ddnrs zone keygen' (required)")
	return cmd
}

func newZoneExportCmd(e *env) *cobra.Command {
	opts := &exportOptions{}
	cmd := &cobra.Command{
		Use:   "export --data DIR [--out FILE] [--unsigned] ZONE",
		Short: "Write a zone stored in a node's data directory as a zone file",
		Long: `Write ZONE from the data directory of a stopped node as a BIND master file,
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

// openStore opens the zone store in the data directory dir, creating the
// directory when create is set, and turns a lock conflict into advice.
func openStore(dir string, create bool) (*raftfsm.Store, error) {
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(dir); err != nil {
		return nil, withHint(err, "--data is the data directory of a node ('ddnrs dev --data DIR')")
	}
	path := raftfsm.StorePath(dir)
	if !create {
		if _, err := os.Stat(path); err != nil {
			return nil, withHint(fmt.Errorf("%s: no zone store: %w", dir, err), "--data is the data directory of a node ('ddnrs dev --data DIR')")
		}
	}
	s, err := raftfsm.OpenStore(path)
	switch {
	case errors.Is(err, raftfsm.ErrLocked):
		return nil, withHint(err, "a node is running on %s: stop it (Ctrl-C on 'ddnrs dev'), run this again, then start the node", dir)
	case errors.Is(err, raftfsm.ErrCorrupt):
		return nil, withHint(err, "the file is damaged or not a DDNRS store; move it away and import the zones again")
	}
	return s, err
}

func runImport(_ context.Context, e *env, opts *importOptions) error {
	if opts.Data == "" || opts.Key == "" {
		return usagef("--data DIR and --key KEYFILE are required")
	}
	k, err := loadKey(opts.Key, true)
	if err != nil {
		return err
	}
	u, err := readZone(opts.File, k.Zone, k)
	if err != nil {
		return err
	}
	s, err := openStore(opts.Data, true)
	if err != nil {
		return err
	}
	defer s.Close()
	stored, err := s.Get(k.Zone)
	if err != nil && !errors.Is(err, raftfsm.ErrNoZone) {
		return err
	}
	z, action, err := zone.Prepare(stored, u, k, e.now())
	if err != nil {
		return fmt.Errorf("sign %s: %w", opts.File, err)
	}
	if err := s.Put(z); err != nil {
		return withHint(err, "raise the SOA serial in %s above the stored one", opts.File)
	}
	fmt.Fprintf(e.stdout, "%s %s serial %d into %s (%d RRsets)\n", action, z.Origin, z.Serial(), s.Path(), len(z.RRsets()))
	return nil
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
		rrs = append(rrs, s.RRs...)
	}
	return zone.New(z.Origin, rrs)
}
