package ops

import (
	"context"
	"fmt"
	"os"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/ddnrs/ddnrs/zone"
)

// rollbackOptions are the flags of `ddnrs zone rollback-sign`.
type rollbackOptions struct {
	Key, Zone, Root, Out string
	From, To             uint32
}

func newZoneRollbackSignCmd(e *env) *cobra.Command {
	opts := &rollbackOptions{}
	cmd := &cobra.Command{
		Use:   "rollback-sign",
		Short: "Consent, as the owner, to your zone going back to an older version",
		Long: `Sign, with your zone's owner key, a rollback statement: your consent to the
zone going back from serial --from to the older version with serial --to and
Merkle root --root. It is written to --out (default stdout).

Why it is needed: every node of another group that has verified serial
--from refuses an older serial as a replay (SERVFAIL, EDE 6 "zone serial
older than one already seen"). An operator restoring a snapshot of the
group ('ddnrs ops snapshot restore') that would move your zone back is
refused, and told the exact command to ask of you; with your statement
(--rollback FILE) the restore goes through, the group keeps the statement
and hands it with its answers, and the other nodes accept exactly that
version. Your next publish must then take a serial above --from.

The statement names the version (its root) and the serial it goes back
from: it cannot be used to roll back anything else, nor after a newer
serial than --from was seen.`,
		Example: `  # What the refused restore printed for example.com.:
  ddnrs zone rollback-sign --key Kexample.com.+015+12345 --zone example.com. \
      --from 2026120705 --to 2026120701 --root 6Jv...= > example.com.rollback
  # The operator then restores with it:
  ddnrs ops snapshot restore --yes --rollback example.com.rollback backup.snap ...`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRollbackSign(cmd.Context(), e, cmd, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Key, "key", "", "owner key of the zone (KEYFILE with its .private beside it)")
	f.StringVar(&opts.Zone, "zone", "", "the zone (default: the key's)")
	f.Uint32Var(&opts.From, "from", 0, "the serial the group holds now")
	f.Uint32Var(&opts.To, "to", 0, "the older serial it goes back to")
	f.StringVar(&opts.Root, "root", "", "the Merkle root (base64) of the version it goes back to, as the refused restore printed it")
	f.StringVar(&opts.Out, "out", "", "write the statement to FILE instead of stdout")
	return cmd
}

func runRollbackSign(_ context.Context, e *env, cmd *cobra.Command, opts *rollbackOptions) error {
	for _, fl := range []string{"key", "from", "to", "root"} {
		if !cmd.Flags().Changed(fl) {
			return usagef("--%s is needed (the refused restore printed every value but --key)", fl)
		}
	}
	k, err := loadKey(opts.Key, true)
	if err != nil {
		return err
	}
	if opts.Zone != "" {
		if _, ok := dns.IsDomainName(opts.Zone); !ok {
			return usagef("--zone %q is not a domain name", opts.Zone)
		}
		if err := k.CheckZone(zone.CanonicalName(opts.Zone)); err != nil {
			return withHint(fmt.Errorf("--key %s: %w", opts.Key, err), "sign with the owner key of %s", opts.Zone)
		}
	}
	root, err := zone.ParseRootText(opts.Root)
	if err != nil {
		return usagef("--root: %v", err)
	}
	if !zone.SerialAbove(opts.From, opts.To) {
		return usagef("--to %d is not older than --from %d (serial arithmetic, RFC 1982)", opts.To, opts.From)
	}
	r, err := zone.NewRollback(k, opts.From, opts.To, root)
	if err != nil {
		return err
	}
	if opts.Out == "" {
		_, err = e.stdout.Write(r.Note)
	} else {
		err = os.WriteFile(opts.Out, r.Note, 0o644)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "Rollback of %s from serial %d to %d (root %s) signed by key tag %d.\n", r.Zone, r.From, r.To, opts.Root, k.Tag())
	return nil
}
