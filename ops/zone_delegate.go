package ops

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"

	"github.com/ddnrs/ddnrs/raftfsm"
	"github.com/ddnrs/ddnrs/zone"
	"github.com/miekg/dns"
	"github.com/spf13/cobra"
)

// delegateOptions are the flags and arguments of `ddnrs zone delegate`.
type delegateOptions struct {
	Child     string // the zone to delegate
	ParentKey string // KEYFILE of the enclosing zone's owner key (private half needed)
	ChildKey  string // KEYFILE of the child's owner key (public half is enough)
}

func newZoneDelegateCmd(e *env) *cobra.Command {
	opts := &delegateOptions{}
	cmd := &cobra.Command{
		Use:   "delegate CHILD",
		Short: "Sign the delegation that lets another key register a zone inside yours",
		Long: `Sign, with the owner key of a registered zone, the statement that lets the
owner of CHILD's key register CHILD, a zone below yours, in the registry (a
zone inside a claimed zone needs the enclosing owner's consent when its key
differs). Prints the delegation in base64 on stdout; the child's owner passes
it when registering (the REST API's "delegation" field).

--key is your key (the .private, the .key or their common base); --child-key
is the child owner's public key file (K<child>+015+<tag>.key) they gave you.`,
		Example: `  ddnrs zone delegate --key Kexample.com.+015+12345 --child-key Kshop.example.com.+015+54321.key shop.example.com.`,
		Args:    exactArgs("CHILD"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Child = args[0]
			return runDelegate(cmd.Context(), e, opts)
		},
	}
	cmd.Flags().StringVar(&opts.ParentKey, "key", "", "owner key of the enclosing zone (KEYFILE with its .private beside it)")
	cmd.Flags().StringVar(&opts.ChildKey, "child-key", "", "owner key of CHILD (its .key file is enough)")
	return cmd
}

func runDelegate(_ context.Context, e *env, opts *delegateOptions) error {
	if _, ok := dns.IsDomainName(opts.Child); !ok || opts.Child == "" {
		return usagef("%q is not a domain name", opts.Child)
	}
	if opts.ParentKey == "" || opts.ChildKey == "" {
		return usagef("both --key (yours) and --child-key (the child owner's) are needed")
	}
	child := zone.CanonicalName(opts.Child)
	parent, ck, err := signerAndOther(opts.ParentKey, opts.ChildKey, "--child-key", child)
	if err != nil {
		return err
	}
	if parent.Zone == child || !dns.IsSubDomain(parent.Zone, child) {
		return withHint(fmt.Errorf("%s is not below %s, the zone of --key", child, parent.Zone), "a delegation is signed by the owner of an enclosing zone")
	}
	owner := ck.DNSKEY.String()
	if _, err := raftfsm.ParseOwnerKey(owner, child); err != nil {
		return err
	}
	sig := ed25519.Sign(parent.Private, raftfsm.DelegationStatement(child, owner))
	fmt.Fprintln(e.stdout, base64.StdEncoding.EncodeToString(sig))
	fmt.Fprintf(e.stderr, "Delegation of %s (key tag %d) by the owner of %s (key tag %d).\n", child, ck.Tag(), parent.Zone, parent.Tag())
	return nil
}

// signerAndOther loads the two keys of a statement between zone owners
// ('zone delegate', 'zone consent'): the signer's, with its private half,
// and the other owner's public key, which must be a key of otherZone
// (given with the flag otherFlag).
func signerAndOther(signerFile, otherFile, otherFlag, otherZone string) (signer, other *zone.Key, err error) {
	if signer, err = loadKey(signerFile, true); err != nil {
		return nil, nil, err
	}
	if other, err = loadKey(otherFile, false); err != nil {
		return nil, nil, err
	}
	if err := other.CheckZone(otherZone); err != nil {
		return nil, nil, withHint(fmt.Errorf("%s: %w", otherFile, err), "%s is the key the owner of %s made with 'ddnrs zone keygen %s'", otherFlag, otherZone, otherZone)
	}
	return signer, other, nil
}
